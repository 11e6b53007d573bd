"""Image sets and extractors for the metrics tests, on the random-weight InceptionV3 of
tests/conftest.py (`inception_weights_file`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from p2pbench.metrics.encoders.inception import (
    InceptionExtractor,
    InceptionFeatures,
    build_extractor,
)
from p2pbench.metrics.generative import GenerativeMetrics

N_IMAGES = 16  # per image set of the shared fixtures


@pytest.fixture(scope="session")
def make_images():
    """`make_images(n, size, seed, shift=0)`: smooth random uint8 images N×3×H×W.

    `size` is an int or (H, W); `shift` brightens them (a second distribution for FID).
    """

    def make(n: int, size: int | tuple[int, int], seed: int, shift: float = 0.0) -> torch.Tensor:
        h, w = (size, size) if isinstance(size, int) else size
        g = torch.Generator().manual_seed(seed)
        low = torch.rand(n, 3, 8, 8, generator=g)
        up = torch.nn.functional.interpolate(low, size=(h, w), mode="bicubic")
        up = up + 0.1 * torch.rand(n, 3, h, w, generator=g) + shift
        return (up.clamp(0, 1) * 255).round().to(torch.uint8)

    return make


@pytest.fixture(scope="session")
def fake(make_images) -> torch.Tensor:
    """ "Generated" images: N_IMAGES smooth random 64×64 images."""
    return make_images(N_IMAGES, 64, seed=11)


@pytest.fixture(scope="session")
def real(make_images) -> torch.Tensor:
    """ "Real" images: another, brighter distribution."""
    return make_images(N_IMAGES, 64, seed=12, shift=0.15)


@pytest.fixture(scope="session")
def extractor(inception_weights_file: Path) -> InceptionExtractor:
    return build_extractor("tf", inception_weights_file)


@pytest.fixture(scope="session")
def feats(extractor, fake, real) -> tuple[InceptionFeatures, InceptionFeatures]:
    """Features of `fake` and `real`, each extracted as one batch."""
    return extractor(fake), extractor(real)


@pytest.fixture(scope="session")
def settings() -> dict:
    """IS/KID settings small enough for N_IMAGES images (torch-fidelity's seed)."""
    return {"is_splits": 3, "kid_subsets": 20, "kid_subset_size": 6, "seed": 2020}


@pytest.fixture(scope="session")
def ours(extractor, fake, real, settings) -> GenerativeMetrics:
    """FID/IS/KID of `fake` against `real`, each one batch, as torch-fidelity batches them."""
    gen = GenerativeMetrics(extractor, **settings)
    gen.update(fake, range(len(fake)))
    gen.update_real(real, range(len(real)))
    return gen
