"""The feature and statistics caches are keyed by the compute path (memory format, device type,
precision): a cache filled by the default (channels-last) path is not read by `--exact` (NCHW),
nor the reverse, and a run after the other path equals a clean run of its own path bit for bit,
with provenance naming the path that computed its features."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from p2pbench.evaluation import EncoderSpec, RunSpec, ScoreSpec, evaluate
from p2pbench.results import Result
from reference_models import build_generator

PROTOCOL = "synthcity@v1"
N = 6
FEATURE_KEYS = ("fd_dinov2", "precision", "recall", "density", "coverage")
INCEPTION_KEYS = ("fid", "kid_mean", "kid_std", "is_mean")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning"),  # small-sample IS/KID/PRDC warnings
]


@pytest.fixture(scope="module")
def dinov2_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    from p2pbench.metrics.encoders.dinov2 import hub_shapes

    g = torch.Generator().manual_seed(0)
    shapes = hub_shapes("dinov2-vitb14")
    path = tmp_path_factory.mktemp("weights") / "dinov2.pth"
    torch.save({k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}, path)
    return str(path)


def _evaluate(home: Path, exact: bool, groups: tuple[str, ...], spec: EncoderSpec) -> Result:
    with pytest.MonkeyPatch.context() as m:
        m.setenv("P2PBENCH_HOME", str(home))
        return evaluate(
            build_generator("unet64", seed=1, ngf=4),
            protocol=PROTOCOL,
            score=ScoreSpec(metrics=groups, limit=N, allow_partial_split=True),
            run=RunSpec(batch_size=4, progress=False, exact=exact),
            encoder=spec,
        )


def _memory_format(exact: bool) -> str:
    return "nchw" if exact else "channels_last"


@pytest.mark.parametrize(
    "first_exact", [False, True], ids=["default-then-exact", "exact-then-default"]
)
def test_the_feature_cache_of_one_path_is_not_read_by_the_other(
    first_exact: bool, tmp_path: Path, dinov2_file: str
) -> None:
    spec = EncoderSpec(
        dinov2="dinov2-vitb14",
        prdc_encoder="dinov2-vitb14",
        weights=(("dinov2-vitb14", dinov2_file),),
    )
    groups = ("dinov2", "prdc")
    shared = tmp_path / "shared"
    _evaluate(shared, first_exact, groups, spec)  # fills the cache on one path
    mixed = _evaluate(shared, not first_exact, groups, spec)  # then the other path
    clean = _evaluate(tmp_path / "clean", not first_exact, groups, spec)
    for key in FEATURE_KEYS:
        assert mixed.metrics[key] == clean.metrics[key], key  # bit for bit
    section = mixed.provenance["features"]["dinov2"]
    assert section["compute"]["memory_format"] == _memory_format(not first_exact)
    assert section["compute"]["device_type"] == "cpu"
    assert section["feature_cache"]["hits"] == 0 and section["feature_cache"]["computed"] == N
    assert mixed.provenance["compute"]["memory_format"] == _memory_format(not first_exact)
    again = _evaluate(shared, not first_exact, groups, spec)  # its own path now hits
    assert again.provenance["features"]["dinov2"]["feature_cache"]["hits"] == N
    assert all(again.metrics[k] == clean.metrics[k] for k in FEATURE_KEYS)


@pytest.mark.parametrize(
    "first_exact", [False, True], ids=["default-then-exact", "exact-then-default"]
)
def test_the_statistics_cache_of_one_path_is_not_read_by_the_other(
    first_exact: bool, tmp_path: Path, inception_weights_file: Path
) -> None:
    spec = EncoderSpec(inception_weights=str(inception_weights_file))
    shared = tmp_path / "shared"
    _evaluate(shared, first_exact, ("inception",), spec)
    mixed = _evaluate(shared, not first_exact, ("inception",), spec)
    clean = _evaluate(tmp_path / "clean", not first_exact, ("inception",), spec)
    for key in INCEPTION_KEYS:
        assert mixed.metrics[key] == clean.metrics[key], key
    section = mixed.provenance["inception"]
    assert section["reference_cache"]["status"] == "miss"
    assert section["compute"]["memory_format"] == _memory_format(not first_exact)
    again = _evaluate(shared, not first_exact, ("inception",), spec)
    assert again.provenance["inception"]["reference_cache"]["status"] == "hit"
