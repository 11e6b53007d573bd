"""Goldens for the vgg16-fc2 encoder and for precision/recall/density/coverage, from the
reference implementations themselves:

- torch-fidelity 0.4.0's ``FeatureExtractorVGG16`` (its preprocessing and network code), layer
  ``fc2_relu``, with the seeded weights of `vgg16_state_dict` given through its
  ``feature_extractor_weights_path`` option, on `common.fixed_images`, one image per call;
- torch-fidelity's ``prc_features_to_metric`` (its defaults: ``prc_neighborhood`` 3, the full
  distance matrix) with ``features_1`` = generated, ``features_2`` = real;
- the ``prdc`` package's ``compute_prdc(real_features=, fake_features=, nearest_k=5)``;

on seeded synthetic features (120 real × 100 generated, 16-d, float32, partly overlapping) and
on two lattices whose ball boundaries hold exact ties (inclusive ≠ strict).

The references run in a subprocess, with ``sources/torch-fidelity`` and ``sources/prdc``
(checkouts at `COMMITS`) first on ``sys.path``, under the interpreter of
``$P2PBENCH_REFERENCE_PYTHON`` (default: this one). The ``prdc`` package needs scikit-learn,
which p2pbench's environment lacks; the goldens were made with a separate venv sharing that
environment's packages::

    python -m venv /tmp/refenv
    echo $PWD/.venv/lib/python3.11/site-packages > /tmp/refenv/lib/python3.11/site-packages/x.pth
    /tmp/refenv/bin/pip install --no-deps scikit-learn==1.7.2 joblib threadpoolctl
    cd tests/reference
    P2PBENCH_REFERENCE_PYTHON=/tmp/refenv/bin/python python -m encoder_goldens.prdc /tmp/src

Writes ``prdc.npz`` (arrays) and ``prdc.json`` (values and provenance) into ``out``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .common import GOLDENS, fixed_images, seeded_state_dict

COMMITS = {
    "torch-fidelity": "2e5d88dcd8f374602fc68be872e3d0aee11913e3",  # v0.4.0
    "prdc": "e320c1d2811d33081361a08f595b43830b78641c",
}
REPOS = {
    "torch-fidelity": "https://github.com/toshas/torch-fidelity",
    "prdc": "https://github.com/clovaai/generative-evaluation-prdc",
}
WEIGHTS_SEED = 14
BIAS_STD = 0.05
FEATURES_SEED = 20261201
N_REAL, N_FAKE, DIM = 120, 100, 16
LATTICE = 12  # points per lattice set (≤ 25: torch.cdist then computes exact distances)
TIE_SHIFTS = {3: 14.0, 5: 16.0}  # k → shift putting a generated point on a real ball's edge


def he_init(key: str, t: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Weights N(0, 2/fan_in) (He et al., so activations keep their scale through 13 convs and
    3 linear layers with ReLU); biases N(0, BIAS_STD²)."""
    noise = torch.randn(t.shape, generator=g, dtype=torch.float32)
    if key.endswith(".bias"):
        return noise * BIAS_STD
    fan_in = math.prod(t.shape[1:])
    return noise * math.sqrt(2.0 / fan_in)


def vgg16_state_dict() -> dict[str, torch.Tensor]:
    """The seeded weights in torchvision's VGG16 layout (the template built on the meta device)."""
    import torchvision

    with torch.device("meta"):
        template = torchvision.models.vgg16(weights=None).state_dict()
    return seeded_state_dict(template, WEIGHTS_SEED, he_init)


def synthetic_features() -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) float32: real ~ N(0, I); fake 70 % N(0.4, I) and 30 % N(2.5, 0.5²·I)."""
    rng = np.random.default_rng(FEATURES_SEED)
    real = rng.normal(size=(N_REAL, DIM))
    near = rng.normal(0.4, 1.0, size=(N_FAKE * 7 // 10, DIM))
    far = rng.normal(2.5, 0.5, size=(N_FAKE - len(near), DIM))
    return real.astype(np.float32), np.concatenate([near, far]).astype(np.float32)


def lattice(shift: float) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) float32 points 0…11 on a line in 2-d, fake shifted by `shift`."""
    line = np.stack([np.arange(LATTICE, dtype=np.float32), np.zeros(LATTICE, np.float32)], 1)
    return line, line + np.array([shift, 0], dtype=np.float32)


# --- the reference side (runs in the subprocess) ----------------------------------------------


def reference_features(weights: Path) -> np.ndarray:
    """torch-fidelity's fc2_relu features of the fixed images (one image per call): 3×4096."""
    from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

    fe = FeatureExtractorVGG16(
        "vgg16", ["fc2_relu"], feature_extractor_weights_path=str(weights), verbose=False
    )
    out = []
    with torch.no_grad():
        for image in fixed_images():
            x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
            out.append(fe(x)[0][0].numpy())
    return np.stack(out)


def reference_prc(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """torch-fidelity's precision/recall: features_1 = generated, features_2 = real."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    out = prc_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), verbose=False)
    return {"precision": float(out["precision"]), "recall": float(out["recall"])}


def reference_prdc(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """The prdc package's four metrics with nearest_k = 5 (its README's value)."""
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        out = compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    return {k: float(v) for k, v in out.items()}


def run_references(work: Path) -> None:
    """Compute every reference output; write work/ref.npz and work/ref.json."""
    import prdc
    import sklearn
    import torch_fidelity
    import torchvision

    torch.set_num_threads(1)
    weights = work / "vgg16_seeded.pth"
    torch.save(vgg16_state_dict(), weights)
    arrays = {"vgg16_fc2_relu": reference_features(weights)}
    values: dict[str, Any] = {"torch_fidelity_prc": {}, "prdc": {}}
    cases = {
        "synthetic": synthetic_features(),
        **{f"ties_k{k}": lattice(s) for k, s in TIE_SHIFTS.items()},
    }
    for case, (real, fake) in cases.items():
        arrays[f"{case}_real"], arrays[f"{case}_fake"] = real, fake
        values["torch_fidelity_prc"][case] = reference_prc(real, fake)
        values["prdc"][case] = reference_prdc(real, fake)
    values["modules"] = {
        "torch_fidelity": torch_fidelity.__file__,
        "prdc": prdc.__file__,
    }
    values["versions"] = {
        "torch-fidelity": torch_fidelity.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": sys.version.split()[0],
    }
    np.savez(work / "ref.npz", **arrays)
    (work / "ref.json").write_text(json.dumps(values))


# --- the driver -------------------------------------------------------------------------------


def _subprocess(sources: Path, work: Path) -> None:
    python = os.environ.get("P2PBENCH_REFERENCE_PYTHON", sys.executable)
    path = [str(sources / "torch-fidelity"), str(sources / "prdc")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1"}
    here = Path(__file__).resolve().parent  # run as encoder_goldens.prdc from its parent
    module = f"{here.name}.{Path(__file__).stem}"
    cmd = [python, "-m", module, "--child", str(work)]
    subprocess.run(cmd, env=env, cwd=here.parent, check=True)


def _check_sources(sources: Path, values: dict[str, Any]) -> None:
    for name, module in (("torch-fidelity", "torch_fidelity"), ("prdc", "prdc")):
        root = (sources / name).resolve()
        if not Path(values["modules"][module]).resolve().is_relative_to(root):
            raise RuntimeError(f"the reference imported {module} from outside {root}")


def provenance(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "commits": COMMITS,
        "repos": REPOS,
        "versions": values["versions"],
        "weights": {
            "seed": WEIGHTS_SEED,
            "init": f"he_init: weights N(0, 2/fan_in), biases N(0, {BIAS_STD}^2)",
            "layout": "torchvision vgg16 state dict, given to FeatureExtractorVGG16 through "
            "feature_extractor_weights_path",
        },
        "images": "common.fixed_images(), one image per extractor call (uint8 1x3xHxW)",
        "features": {
            "seed": FEATURES_SEED,
            "synthetic": f"{N_REAL} real N(0,I), {N_FAKE} fake (70% N(0.4,I), 30% "
            f"N(2.5,0.25I)), {DIM}-d float32",
            "ties_kK": f"{LATTICE} real points 0..{LATTICE - 1} on a line, fake shifted by "
            f"{TIE_SHIFTS} (k -> shift)",
        },
        "calls": {
            "torch_fidelity_prc": "prc_features_to_metric(features_1=fake (generated), "
            "features_2=real, defaults: prc_neighborhood=3, save_cpu_ram=False)",
            "prdc": "compute_prdc(real_features=real, fake_features=fake, nearest_k=5)",
        },
    }


def make(sources: Path, out: Path) -> None:
    """Run the references on the checkouts under `sources`; write prdc.npz/.json into `out`."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _subprocess(sources, work)
        values = json.loads((work / "ref.json").read_text())
        _check_sources(sources, values)
        with np.load(work / "ref.npz") as ref:
            arrays = dict(ref)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "prdc.npz", **arrays)
    golden = {
        "torch_fidelity_prc": values["torch_fidelity_prc"],
        "prdc": values["prdc"],
        **provenance(values),
    }
    (out / "prdc.json").write_text(json.dumps(golden, indent=2) + "\n")


def main(argv: list[str]) -> None:
    """``--child WORK`` (the reference side) or ``SOURCES [OUT]`` (OUT: the goldens dir)."""
    if argv[:1] == ["--child"]:
        run_references(Path(argv[1]))
    else:
        make(Path(argv[0]), Path(argv[1]) if len(argv) > 1 else GOLDENS)


if __name__ == "__main__":
    main(sys.argv[1:])
