"""The Sample interface, batching and the single uint8 rounding rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from p2pbench.data import (
    Sample,
    collate_samples,
    quantize_uint8,
    save_png,
    to_tensor_image,
    to_uint8,
)


def _sample(sid: str, h: int = 4, w: int = 4, label: bool = True) -> Sample:
    x = torch.zeros(3, h, w)
    return Sample(x, x.clone(), torch.zeros(h, w, dtype=torch.int64) if label else None, sid)


def test_uint8_round_trip_is_exact_for_every_level() -> None:
    levels = np.arange(256, dtype=np.uint8)
    image = np.stack([levels.reshape(16, 16)] * 3, axis=-1)
    x = to_tensor_image(image)
    assert x.dtype == torch.float32 and x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(to_uint8(x), image)


def test_rounding_rule_clamps_and_rounds_half_to_even() -> None:
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 7.0]).reshape(1, 5)
    # (0 + 1) / 2 * 255 = 127.5 exactly → 128 (even); out-of-range values are clamped
    assert quantize_uint8(x).tolist() == [[0, 0, 128, 255, 255]]
    # rounding, not truncation (the port's saved PNGs truncate): compare with a float64 reference
    y = torch.rand(10_000, generator=torch.Generator().manual_seed(1)) * 2 - 1
    ref = np.floor((y.double().numpy() + 1) / 2 * 255 + 0.5)
    assert np.abs(quantize_uint8(y).numpy().astype(float) - ref).max() == 0
    assert (quantize_uint8(y).numpy() != np.floor((y.numpy() + 1) / 2 * 255)).any()


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        quantize_uint8(torch.tensor([float("nan")]))


def test_png_matches_memory(tmp_path) -> None:
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1
    save_png(x, str(tmp_path / "x.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "x.png")), to_uint8(x))


def test_collate_stacks_in_order() -> None:
    batch = collate_samples([_sample("a"), _sample("b")])
    assert batch.input.shape == (2, 3, 4, 4) and batch.label.shape == (2, 4, 4)
    assert batch.sample_ids == ("a", "b") and len(batch) == 2
    assert collate_samples([_sample("a", label=False)]).label is None


def test_collate_errors_are_explicit() -> None:
    with pytest.raises(ValueError, match="have labels and some do not"):
        collate_samples([_sample("a"), _sample("b", label=False)])
    with pytest.raises(ValueError, match="different shapes"):
        collate_samples([_sample("a"), _sample("b", h=5)])


def test_sample_validates_types() -> None:
    with pytest.raises(ValueError, match="float32 3×H×W"):
        Sample(torch.zeros(1, 4, 4), torch.zeros(3, 4, 4), None, "x")
    with pytest.raises(ValueError, match="int64 H×W"):
        Sample(torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), torch.zeros(4, 4), "x")
