"""The reference-statistics cache through `evaluate`: keyed by the images' content, not by path.

An aligned folder's protocol (`aligned-<folder name>`) stays the same when its images are
replaced; the cache must not serve the old statistics then, must serve them for the same images
elsewhere, and must recompute a damaged entry. "Fresh" is an evaluation with an empty cache.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2pbench.evaluation import EncoderSpec, RunSpec, ScoreSpec, evaluate
from p2pbench.metrics.reference_stats import StaleStatsWarning, load_stats
from p2pbench.protocols import aligned_protocol
from p2pbench.results import Result
from reference_models import build_generator

SIZE = 32
N_VAL = 4
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inception Score:UserWarning", "ignore:KID:UserWarning"
)


def _write_aligned(root: Path, seed: int) -> Path:
    """An aligned folder root/{train,val}/NNN.png of smooth random A|B pairs (SIZE×2·SIZE)."""
    g = torch.Generator().manual_seed(seed)
    for split, n in (("train", 2), ("val", N_VAL)):
        (root / split).mkdir(parents=True, exist_ok=True)
        low = torch.rand(n, 3, 4, 8, generator=g)
        pairs = torch.nn.functional.interpolate(low, size=(SIZE, 2 * SIZE), mode="bicubic")
        pairs = (pairs.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for i, pair in enumerate(pairs):
            Image.fromarray(np.ascontiguousarray(pair)).save(root / split / f"{i:03d}.png")
    return root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no hub weights
    return tmp_path / "home"


def _eval(folder: Path, weights: Path, **score: object) -> Result:
    return evaluate(
        build_generator(f"unet{SIZE}", seed=3, ngf=4),
        protocol=aligned_protocol(str(folder), "val", "BtoA"),
        score=ScoreSpec(metrics=("inception",), **score),  # type: ignore[arg-type]
        run=RunSpec(batch_size=3, progress=False),
        encoder=EncoderSpec(inception_weights=str(weights)),
    )


def _fresh(folder: Path, weights: Path, empty: Path, **score: object) -> Result:
    """The same evaluation with an empty cache (`empty`: a new folder)."""
    with pytest.MonkeyPatch.context() as m:
        m.setenv("P2PBENCH_HOME", str(empty))
        return _eval(folder, weights, **score)


def _cache(result: Result) -> dict:
    return result.provenance["inception"]["reference_cache"]


def test_replaced_images_are_not_served_from_the_cache(
    tmp_path: Path, home: Path, inception_weights_file: Path
) -> None:
    folder = _write_aligned(tmp_path / "data" / "mini", seed=0)
    first = _eval(folder, inception_weights_file)
    assert _cache(first)["status"] == "miss" and _cache(first)["reused_images"] == 0
    assert Path(first.provenance["inception"]["reference_path"]).is_file()

    shutil.rmtree(folder)
    _write_aligned(folder, seed=1)  # same names, same count, other pixels
    second = _eval(folder, inception_weights_file)
    assert _cache(second)["status"] == "miss" and _cache(second)["reused_images"] == 0
    assert _cache(second)["key_digest"] != _cache(first)["key_digest"]
    assert second.provenance["data_sha256"] != first.provenance["data_sha256"]
    assert len(list((home / "stats").glob("*.pt"))) == 2
    fresh = _fresh(folder, inception_weights_file, tmp_path / "fresh")
    assert second.metrics["fid"] != pytest.approx(first.metrics["fid"], rel=1e-3)
    for k in ("fid", "kid_mean", "is_mean"):
        assert second.metrics[k] == pytest.approx(fresh.metrics[k], rel=1e-9)


def test_same_images_elsewhere_hit_the_cache(
    tmp_path: Path, home: Path, inception_weights_file: Path
) -> None:
    folder = _write_aligned(tmp_path / "a" / "mini", seed=0)
    first = _eval(folder, inception_weights_file)
    copy = tmp_path / "b" / "mini"
    shutil.copytree(folder, copy)
    again = _eval(copy, inception_weights_file)
    cache = _cache(again)
    assert (cache["status"], cache["reused_images"]) == ("hit", N_VAL)
    assert cache["path"] == again.provenance["inception"]["reference_path"]
    assert cache["path"] == first.provenance["inception"]["reference_path"]
    assert "cache hit" in again.provenance["inception"]["reference_origin"]
    assert again.provenance["inception"]["reference"]["kind"] == "statistics file"
    for k in ("fid", "kid_mean", "kid_std", "is_mean"):
        assert again.metrics[k] == pytest.approx(first.metrics[k], rel=1e-9)


def test_truncated_entry_is_recomputed_with_a_warning(
    tmp_path: Path, home: Path, inception_weights_file: Path
) -> None:
    folder = _write_aligned(tmp_path / "mini", seed=0)
    first = _eval(folder, inception_weights_file)
    path = Path(first.provenance["inception"]["reference_path"])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(StaleStatsWarning, match="stale reference statistics"):
        again = _eval(folder, inception_weights_file)
    cache = _cache(again)
    assert cache["status"] == "recomputed" and "cannot read" in cache["reason"]
    assert again.metrics["fid"] == pytest.approx(first.metrics["fid"], rel=1e-9)
    assert load_stats(path).n == N_VAL  # rewritten whole


def test_images_other_than_the_protocols_are_checked_while_scored(
    tmp_path: Path, home: Path, inception_weights_file: Path
) -> None:
    """Another split than the protocol's: the loop hands the evaluator the images it will
    score, so the key is theirs, never the protocol split's entry."""
    folder = _write_aligned(tmp_path / "mini", seed=0)
    val = _cache(_eval(folder, inception_weights_file, limit=2))
    assert val["status"] == "miss"
    train = _eval(folder, inception_weights_file, split="train")  # 2 other images
    cache = _cache(train)
    assert (cache["status"], cache["reused_images"]) == ("miss", 0)
    assert cache["key_digest"] != val["key_digest"]
    fresh = _fresh(folder, inception_weights_file, tmp_path / "fresh", split="train")
    assert train.metrics["fid"] == pytest.approx(fresh.metrics["fid"], rel=1e-9)
    assert _cache(fresh)["key_digest"] == cache["key_digest"]
