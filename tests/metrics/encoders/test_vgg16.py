"""The vgg16-fc2 encoder and precision/recall/density/coverage against the goldens of
tests/reference/encoder_goldens/prdc.py: torch-fidelity 0.4.0's VGG16 fc2_relu features (on
seeded weights) and precision/recall, and the prdc package's four metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from reference.encoder_goldens import prdc as golden
from reference.encoder_goldens.common import GOLDENS, fixed_images

from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.encoders import EncoderWeightsError, build_encoder, try_build_encoder
from p2pbench.metrics.prdc import prdc

FEATURES_TOL = 1e-5  # max|ours - reference| / max|reference|
METRIC_TOL = 1e-6  # relative
CASES = ("synthetic", "ties_k3", "ties_k5")


@pytest.fixture(scope="module")
def goldens() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with np.load(GOLDENS / "prdc.npz") as z:
        arrays = dict(z)
    return arrays, json.loads((GOLDENS / "prdc.json").read_text())


@pytest.fixture(scope="module")
def seeded_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The goldens' seeded VGG16 weights, saved as a torchvision-layout .pth file."""
    path = tmp_path_factory.mktemp("vgg16") / "vgg16_seeded.pth"
    torch.save(golden.vgg16_state_dict(), path)
    return path


def _error(ours: torch.Tensor, ref: np.ndarray) -> float:
    """max|ours - ref| / max|ref|, in float64."""
    ref64 = ref.astype(np.float64)
    return float(np.abs(ours.numpy() - ref64).max() / np.abs(ref64).max())


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)


def test_features_match_torch_fidelity(seeded_weights: Path, goldens: tuple) -> None:
    arrays, meta = goldens
    assert meta["commits"] == golden.COMMITS
    encoder = build_encoder("vgg16-fc2", weights=seeded_weights)
    ours = torch.cat([encoder(_chw(im)[None]) for im in fixed_images()])
    assert ours.dtype == torch.float64 and ours.shape == (3, 4096)
    assert _error(ours, arrays["vgg16_fc2_relu"]) <= FEATURES_TOL
    described = encoder.describe()
    assert described["encoder"] == "vgg16-fc2" and described["mode"] == "torch-fidelity"
    assert described["weights"]["found_by"] == "argument"


def test_channels_last_and_a_batch_give_the_same_features(
    seeded_weights: Path, goldens: tuple
) -> None:
    arrays, _ = goldens
    encoder = build_encoder("vgg16-fc2", weights=seeded_weights, channels_last=True)
    square = _chw(fixed_images()[1])
    ours = encoder(torch.stack([square, square.clone()]))  # one forward per image
    ref = arrays["vgg16_fc2_relu"][1]
    assert max(_error(ours[0], ref), _error(ours[1], ref)) <= FEATURES_TOL


def _close(ours: float, ref: float) -> bool:
    return abs(ours - ref) <= METRIC_TOL * max(abs(ref), 1e-12)


@pytest.mark.filterwarnings("ignore:precision/recall/density/coverage")
@pytest.mark.parametrize("case", CASES)
def test_precision_recall_match_torch_fidelity(case: str, goldens: tuple) -> None:
    arrays, meta = goldens
    ref = meta["torch_fidelity_prc"][case]
    ours = prdc(real=arrays[f"{case}_real"], fake=arrays[f"{case}_fake"], k=3, ties="inclusive")
    assert _close(ours.precision, ref["precision"]) and _close(ours.recall, ref["recall"])


@pytest.mark.filterwarnings("ignore:precision/recall/density/coverage")
@pytest.mark.parametrize("case", CASES)
def test_prdc_matches_the_prdc_package(case: str, goldens: tuple) -> None:
    arrays, meta = goldens
    ref = meta["prdc"][case]
    ours = prdc(real=arrays[f"{case}_real"], fake=arrays[f"{case}_fake"], k=5, ties="strict")
    for name in ("precision", "recall", "density", "coverage"):
        assert _close(getattr(ours, name), ref[name]), name


@pytest.mark.filterwarnings("ignore:precision/recall/density/coverage")
def test_the_tie_cases_tell_the_rules_apart(goldens: tuple) -> None:
    """On the lattices a generated point lies exactly on a real ball's edge: torch-fidelity
    counts it (≤), the prdc package does not (<)."""
    arrays, meta = goldens
    real, fake = arrays["ties_k3_real"], arrays["ties_k3_fake"]
    assert meta["torch_fidelity_prc"]["ties_k3"]["precision"] > 0
    assert prdc(real=real, fake=fake, k=3, ties="strict").precision == 0
    real, fake = arrays["ties_k5_real"], arrays["ties_k5_fake"]
    assert meta["prdc"]["ties_k5"]["precision"] == 0
    assert prdc(real=real, fake=fake, k=5, ties="inclusive").precision > 0


def test_missing_weights_are_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("P2PBENCH_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    found = try_build_encoder("vgg16-fc2")
    assert isinstance(found, Unavailable)
    assert "P2PBENCH_VGG16_WEIGHTS" in found.reason and "vgg16-397923af.pth" in found.reason


def test_a_wrong_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vgg16_bad.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 5, 5)}, path)
    with pytest.raises(EncoderWeightsError, match=r"features.0.weight has shape \(64, 3, 5, 5\)"):
        build_encoder("vgg16-fc2", weights=path)
    unavailable = try_build_encoder("vgg16-fc2", weights=path)
    assert isinstance(unavailable, Unavailable) and "not a torchvision VGG16" in unavailable.reason
