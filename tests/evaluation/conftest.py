"""Fixtures for evaluation tests: a tiny generator checkpoint on the synthcity protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_models import GeneratorConfig, build_generator, save_generator


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained unet64 (4 filters) in p2pbench's checkpoint format."""
    path = tmp_path_factory.mktemp("ckpt") / "g.pt"
    config = GeneratorConfig(ngf=4)
    save_generator(path, build_generator("unet64", seed=3, ngf=4), "unet64", config)
    return path
