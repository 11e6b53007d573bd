"""The real-image feature cache: keyed by encoder and content, exact, and self-repairing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from p2pbench.metrics.feature_cache import FeatureCache, encoder_key

DESCRIBED = {"encoder": "e", "network": "n", "layer": "l", "dim": 4, "mode": "m"}


def _cache(tmp_path: Path, **changes: object) -> FeatureCache:
    return FeatureCache({**DESCRIBED, "weights": {"sha256": "a" * 64}, **changes}, tmp_path)


def test_a_feature_comes_back_exactly_under_its_encoder_only(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    f = torch.tensor([0.1, 1 / 3, -2.0, 1e-300], dtype=torch.float64)
    cache.put("ab" * 32, f)
    assert torch.equal(cache.get("ab" * 32), f)  # type: ignore[arg-type]
    assert cache.get("cd" * 32) is None
    for change in ({"mode": "other"}, {"weights": {"sha256": "b" * 64}}, {"layer": "x"}):
        assert _cache(tmp_path, **change).get("ab" * 32) is None
    assert encoder_key({**DESCRIBED}) != encoder_key({**DESCRIBED, "dim": 5})


def _write(path: Path, save, *args, **kwargs) -> None:  # noqa: ANN001
    with open(path, "wb") as f:
        save(f, *args, **kwargs)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b""),  # empty
        lambda p: p.write_bytes(b"PK\x03\x04 not a zip"),
        lambda p: _write(p, np.savez, x=np.zeros(4)),  # an .npz archive
        lambda p: _write(p, np.save, np.zeros(5)),  # another shape
        lambda p: _write(p, np.save, np.zeros(4, np.float32)),  # another dtype
    ],
)
def test_a_damaged_entry_is_computed_again(tmp_path: Path, damage) -> None:  # noqa: ANN001
    cache = _cache(tmp_path)
    cache.put("ab" * 32, torch.ones(4, dtype=torch.float64))
    damage(cache.path("ab" * 32))
    assert cache.get("ab" * 32) is None and cache.replaced == 1
    cache.put("ab" * 32, torch.ones(4, dtype=torch.float64))
    assert torch.equal(cache.get("ab" * 32), torch.ones(4, dtype=torch.float64))  # type: ignore[arg-type]
