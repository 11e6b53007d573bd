"""Fixtures shared by every test folder: a seeded random-weight FID InceptionV3 file.

torchvision's `inception_v3(weights=None, aux_logits=False, num_classes=1008,
init_weights=False)` has the 566 state_dict keys of torch-fidelity's and pytorch-fid's
networks. Its batch-norm statistics are calibrated on random images (otherwise the features
vanish, ~1e-8) and its last layer scaled so that the logits give a non-trivial Inception Score.
The file is named `weights-inception-2015-12-05-<first 8 hex of its sha256>.pth`: the hub
naming convention, with its own (non-official) hash, and cached in pytest's cache directory.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import torch
import torchvision
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from p2pbench.base import atomic_path, sha256_file

FIXTURE_VERSION = 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` need a CUDA GPU: skipped, with the reason, where there is none."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (marked gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def calibration_images(n: int = 8, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Smooth random uint8 images (low-resolution noise, upsampled), a little like photos."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 8, 8, generator=g)
    up = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic")
    up = up + 0.1 * torch.rand(n, 3, size, size, generator=g)
    return (up.clamp(0, 1) * 255).round().to(torch.uint8)


def make_random_inception_state_dict(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights, loaded strictly by torch-fidelity's network, calibrated (`path`: scratch)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = torchvision.models.inception_v3(
            weights=None, aux_logits=False, num_classes=1008, init_weights=False
        )
        torch.save(net.state_dict(), path)
        fe = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=path
        )
        for m in fe.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batch
        fe.train()
        with torch.no_grad():
            fe(calibration_images())
            fe.eval()
            _, logits = fe(calibration_images(seed=1))
            fe.fc.weight.mul_(3.0 / float(logits.std()))  # logits of a few units: a usable IS
            fe.fc.bias.normal_()
    return {k: v.detach().clone().contiguous() for k, v in fe.state_dict().items()}


@pytest.fixture(scope="session")
def inception_weights_file(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Path of the random-weight file (built once, kept in pytest's cache between runs)."""
    cache = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    base = (
        Path(cache.mkdir("p2pbench-random-inception"))
        if cache is not None
        else tmp_path_factory.mktemp("random-inception")
    )
    folder = base / f"v{FIXTURE_VERSION}"
    folder.mkdir(exist_ok=True)
    done = sorted(folder.glob("weights-inception-2015-12-05-*.pth"))
    if done:
        return done[0]
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        tmp = Path(scratch) / "w.pth"
        torch.save(make_random_inception_state_dict(tmp), tmp)
        final = folder / f"weights-inception-2015-12-05-{sha256_file(tmp)[:8]}.pth"
        with atomic_path(final) as out:
            shutil.copyfile(tmp, out)
    return final
