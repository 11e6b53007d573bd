"""A full-size caffemodel (537,896,724 bytes, like the official one) converts and loads.

The file is streamed by the test writer with seeded values and padded to the official byte
size with a NetParameter `input` string, so the official size check runs too. Peak memory
stays near one copy of the weights: the reader maps the file and copies one blob at a time.
"""

from __future__ import annotations

import resource
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from fcn import weights as W
from fcn.fcn8s import OFFICIAL_PARAMETERS, FCN8s, predict

SEED = 2017


@pytest.mark.slow
def test_full_size_caffemodel(
    writer: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    path = tmp_path / W.OFFICIAL_FILE_NAME
    layers = writer.fcn8s_layers()
    values = writer.hashed_values(SEED)
    with open(path, "wb") as f:
        writer.write_caffemodel(f, layers, values, writer.Encoding())
        missing = W.OFFICIAL_BYTES - f.tell()
        length = next(n for n in range(missing, 0, -1) if 1 + len(writer.varint(n)) + n == missing)
        f.write(writer.delimited(3, b"p" * length))  # NetParameter.input, skipped by the reader
    assert path.stat().st_size == W.OFFICIAL_BYTES

    converted = W.convert_caffemodel(path)
    source = W.read_converted(converted, mmap=True).source
    assert source["official"] and source["bytes"] == W.OFFICIAL_BYTES
    path.unlink()  # the converted file stands alone

    model = W.load_fcn8s(converted)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS
    rng = np.random.default_rng(SEED)
    for spec in layers:
        for i, (key, shape) in enumerate(zip(("weight", "bias"), spec.blob_shapes, strict=False)):
            flat = model.get_parameter(f"{spec.name}.{key}").detach().reshape(-1).numpy()
            assert flat.size == int(np.prod(shape))
            for j in {0, flat.size - 1, *rng.integers(0, flat.size, 5).tolist()}:
                assert flat[j] == values(spec.name, i, j, j + 1)[0], (spec.name, key, j)
    np.testing.assert_array_equal(
        model.upscore8.weight.detach().numpy().ravel(), values("upscore8", 0, 0, 20 * 20 * 16 * 16)
    )

    labels = predict(model, torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    assert labels.shape == (1, 8, 8)
    assert isinstance(model, FCN8s)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    assert peak_gib < 4, f"peak RSS {peak_gib:.2f} GiB"
