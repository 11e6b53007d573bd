"""Goldens for the DINOv2 encoders, written by the reference implementations' own code.

The network is Meta's hub model built from the dinov2 checkout (``torch.hub.load(<checkout>,
'dinov2_vit?14', source='local', pretrained=False)``) with the seeded weights of
`common.seeded_state_dict` on its own state dict (Meta's checkpoint layout). Each reference
then runs unchanged on `common.fixed_images`, with ``torch.hub.load`` (and EDM2's
``torch.hub.set_dir``) patched to hand it that model instead of downloading one:

- dgm-eval: the images as PNG files through ``dgm_eval.dataloaders.get_dataloader`` (PIL
  ``.convert('RGB')``, ``DINOv2Encoder.transform``) and ``get_representations``, one batch.
- EDM2: ``calculate_metrics.DINOv2Detector()`` (its default ``resize_mode='torch'``) per image.
- torch-fidelity: ``FeatureExtractorDinoV2('dinov2-vit-b-14', ['dinov2'])`` per image.

Stubs, so that only the code on these paths is imported:

- ``dgm_eval``, ``dgm_eval.models`` and ``dgm_eval.metrics`` are registered as bare packages
  (the real ``models``/``metrics`` ``__init__`` import every other encoder and metric:
  open_clip, sklearn, ...; ``dgm_eval/__init__`` only sets ``__version__``), and their
  submodules ``models.encoder``, ``models.dinov2`` and ``metrics.fd`` are imported from the
  checkout as they are.
- ``sklearn.linear_model.LinearRegression``, imported at the top of ``metrics/fd.py`` for FD∞
  only, is a placeholder while that file is imported, unless scikit-learn is installed.

The FD golden is dgm-eval's ``compute_FD_with_reps`` (``np.cov`` and ``scipy.linalg.sqrtm``) on
seeded Gaussian features. Run it as ``cd tests/reference && python -m encoder_goldens.dinov2
--sources DIR`` where DIR holds dinov2/, dgm-eval/, edm2/ and torch-fidelity/ checkouts at
`COMMITS`.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import importlib
import importlib.util
import json
import sys
import tempfile
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .common import GOLDENS, Init, fixed_images, normal_init, seeded_state_dict

REPOS = {
    "dinov2": "facebookresearch/dinov2",
    "dgm-eval": "layer6ai-labs/dgm-eval",
    "edm2": "NVlabs/edm2",
    "torch-fidelity": "toshas/torch-fidelity",
}
COMMITS = {
    "dinov2": "b8931f7bf91576930313be2c6d6af376033b35f0",
    "dgm-eval": "74c79f7527fbf38fdccfbac51f25d759bc02ab07",
    "edm2": "32ecad3f756d4ed51c80ea2c3597adb1c90e486b",
    "torch-fidelity": "2e5d88dcd8f374602fc68be872e3d0aee11913e3",  # v0.4.0
}
SEED = 14
INIT_STD = 0.05  # features O(1) (|f| ≈ 0.8 mean, 4 max); modes differ by a few percent
ARCHS = ("vitb14", "vitl14")
CASES = (  # (arch, mode): the array "<arch>/<mode>" of the npz
    ("vitb14", "dgm-eval"),
    ("vitb14", "edm2"),
    ("vitb14", "torch-fidelity"),
    ("vitl14", "dgm-eval"),
)
FD_SEED, FD_N, FD_DIM = 20261201, 300, 64
NPZ, JSON = "dinov2.npz", "dinov2.json"


def init() -> Init:
    """The seeded weights' initialiser (`common.normal_init` at `INIT_STD`)."""
    return normal_init(INIT_STD)


def fd_features() -> tuple[np.ndarray, np.ndarray]:
    """Seeded 300×64 'real' and 'fake' Gaussian features of different means and covariances."""
    rng = np.random.default_rng(FD_SEED)
    real = rng.normal(size=(FD_N, FD_DIM))
    mix = np.eye(FD_DIM) + 0.3 * rng.normal(size=(FD_DIM, FD_DIM)) / np.sqrt(FD_DIM)
    fake = rng.normal(size=(FD_N, FD_DIM)) @ mix + 0.2
    return real, fake


@contextlib.contextmanager
def _on_path(path: Path) -> Iterator[None]:
    sys.path.insert(0, str(path))
    try:
        yield
    finally:
        sys.path.remove(str(path))


@contextlib.contextmanager
def _hub_returns(model: torch.nn.Module) -> Iterator[None]:
    """``torch.hub.load`` hands out `model`; ``torch.hub.set_dir`` does nothing."""
    load, set_dir = torch.hub.load, torch.hub.set_dir
    torch.hub.load = lambda *args, **kwargs: model
    torch.hub.set_dir = lambda *args, **kwargs: None
    try:
        yield
    finally:
        torch.hub.load, torch.hub.set_dir = load, set_dir


def hub_model(sources: Path, arch: str) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """Meta's hub model from the dinov2 checkout, loaded with the seeded weights."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="xFormers")
        model = torch.hub.load(
            str(sources / "dinov2"), f"dinov2_{arch}", source="local", pretrained=False
        )
    weights = seeded_state_dict(model.state_dict(), SEED, init())
    model.load_state_dict(weights, strict=True)
    return model.eval(), weights


def _bare_package(name: str, path: Path) -> None:
    """Register package `name` at `path` without running its ``__init__``."""
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module


def _dgm_eval(sources: Path, submodule: str) -> types.ModuleType:
    """A dgm-eval submodule from the checkout (see the module docstring for the stubs)."""
    root = sources / "dgm-eval"
    _bare_package("dgm_eval", root / "dgm_eval")
    for package in ("models", "metrics"):
        _bare_package(f"dgm_eval.{package}", root / "dgm_eval" / package)
    if submodule != "metrics.fd" or importlib.util.find_spec("sklearn") is not None:
        return importlib.import_module(f"dgm_eval.{submodule}")
    with _sklearn_stub():
        return importlib.import_module(f"dgm_eval.{submodule}")


@contextlib.contextmanager
def _sklearn_stub() -> Iterator[None]:
    """A placeholder ``sklearn.linear_model.LinearRegression`` while dgm-eval's fd.py is
    imported (it serves FD∞ only, never called here), removed again afterwards."""
    linear_model = types.ModuleType("sklearn.linear_model")
    linear_model.LinearRegression = None
    sys.modules["sklearn"] = types.ModuleType("sklearn")
    sys.modules["sklearn.linear_model"] = linear_model
    try:
        yield
    finally:
        del sys.modules["sklearn"], sys.modules["sklearn.linear_model"]


def run_dgm_eval(sources: Path, model: torch.nn.Module, arch: str) -> np.ndarray:
    """dgm-eval's DINOv2 features of the fixed images (its dataloader, transform, forward)."""
    dinov2 = _dgm_eval(sources, "models.dinov2")
    dataloaders = _dgm_eval(sources, "dataloaders")
    representations = _dgm_eval(sources, "representations")
    with _hub_returns(model):
        encoder = dinov2.DINOv2Encoder(arch=arch)
    with tempfile.TemporaryDirectory() as tmp:
        for i, image in enumerate(fixed_images()):
            Image.fromarray(image).save(Path(tmp) / f"{i}.png")
        loader = dataloaders.get_dataloader(
            tmp, batch_size=len(fixed_images()), num_workers=0, transform=encoder.transform
        )
        return representations.get_representations(encoder, loader, "cpu")


def run_edm2(sources: Path, model: torch.nn.Module) -> np.ndarray:
    """EDM2's DINOv2Detector (default torch resize) on each fixed image."""
    with _on_path(sources / "edm2"):
        calculate_metrics = importlib.import_module("calculate_metrics")
        with _hub_returns(model):
            detector = calculate_metrics.DINOv2Detector()
        with torch.no_grad():
            return np.concatenate([detector(_tensor(im)).numpy() for im in fixed_images()])


def _torch_fidelity(sources: Path) -> types.ModuleType:
    """torch-fidelity's DINOv2 extractor; the installed package must equal the checkout."""
    with _on_path(sources / "torch-fidelity"):
        module = importlib.import_module("torch_fidelity.feature_extractor_dinov2")
    installed = Path(module.__file__).parent
    for file in ("feature_extractor_dinov2.py", "interpolate_compat_tensorflow.py"):
        checkout = sources / "torch-fidelity" / "torch_fidelity" / file
        if not filecmp.cmp(installed / file, checkout, shallow=False):
            raise RuntimeError(f"{installed / file} differs from {checkout}")
    return module


def run_torch_fidelity(sources: Path, model: torch.nn.Module, arch: str) -> np.ndarray:
    """torch-fidelity 0.4's FeatureExtractorDinoV2 on each fixed image."""
    module = _torch_fidelity(sources)
    name = {"vitb14": "dinov2-vit-b-14", "vitl14": "dinov2-vit-l-14"}[arch]
    with _hub_returns(model):
        extractor = module.FeatureExtractorDinoV2(name, ["dinov2"])
    with torch.no_grad():
        return np.concatenate([extractor(_tensor(im))[0].numpy() for im in fixed_images()])


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()


def fd_golden(sources: Path) -> float:
    """dgm-eval's Fréchet distance between the seeded `fd_features`."""
    fd = _dgm_eval(sources, "metrics.fd")
    return float(fd.compute_FD_with_reps(*fd_features()))


def make(sources: Path, out: Path = GOLDENS) -> None:
    """Run the references and write ``out/dinov2.npz`` and ``out/dinov2.json``."""
    arrays: dict[str, np.ndarray] = {}
    shapes: dict[str, list[list[Any]]] = {}
    for arch in ARCHS:
        model, weights = hub_model(sources, arch)
        shapes[arch] = [[k, list(v.shape)] for k, v in weights.items()]
        for case_arch, mode in CASES:
            if case_arch != arch:
                continue
            if mode == "dgm-eval":
                features = run_dgm_eval(sources, model, arch)
            elif mode == "edm2":
                features = run_edm2(sources, model)
            else:
                features = run_torch_fidelity(sources, model, arch)
            arrays[f"{arch}/{mode}"] = np.asarray(features, dtype=np.float32)
        del model, weights
    arrays["fd/dgm-eval"] = np.asarray(fd_golden(sources), dtype=np.float64)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / NPZ, **arrays)
    (out / JSON).write_text(json.dumps(_record(shapes), indent=1) + "\n")


def _record(shapes: dict[str, list[list[Any]]]) -> dict[str, Any]:
    import timm

    return {
        "repos": REPOS,
        "commits": COMMITS,
        "seed": SEED,
        "init": f"common.normal_init({INIT_STD})",
        "cases": [f"{arch}/{mode}" for arch, mode in CASES],
        "fd": {"seed": FD_SEED, "n": FD_N, "dim": FD_DIM, "function": "compute_FD_with_reps"},
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "numpy": np.__version__},
        "hub_state_dict": shapes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=GOLDENS)
    args = parser.parse_args()
    make(args.sources, args.out)


if __name__ == "__main__":
    main()
