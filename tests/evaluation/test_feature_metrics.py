"""The feature groups (dinov2, cmmd, prdc) in `evaluate`, with a small stand-in encoder: one
pass per encoder and image, real features from the content cache, metrics recomputed here
from the features the encoder returned, by independent formulas (scipy's sqrtm, brute-force
k-NN, the kernel sum written out), unavailable metrics and `--require`."""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from p2pbench.cli.main import main
from p2pbench.data import quantize_uint8
from p2pbench.errors import InvalidValueError
from p2pbench.evaluation import EncoderSpec, RunSpec, ScoreSpec, evaluate, feature_evaluator
from p2pbench.evaluation.datasets import protocol_dataset
from p2pbench.metrics.availability import MetricUnavailableError
from p2pbench.metrics.encoders import encoder_info
from p2pbench.metrics.reference_stats import image_digest
from p2pbench.protocols import get_protocol
from reference_models import build_generator

PROTOCOL = "synthcity@v1"
N = 12


class StandInEncoder:
    """Pooled colours as features (48-d for DINOv2, unit-norm 12-d for CLIP); counts every
    image it encodes by content digest."""

    def __init__(self, name: str, mode: str, seen: dict[str, Counter]) -> None:
        self.info, self.mode = encoder_info(name), mode
        self.dim = 12 if name.startswith("clip") else 48
        self.seen = seen.setdefault(f"{name}:{mode}", Counter())
        self.encoded: dict[str, torch.Tensor] = {}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        side = 2 if self.dim == 12 else 4
        f = F.adaptive_avg_pool2d(images.to(torch.float64) / 255, side).flatten(1)
        if self.dim == 12:
            f = F.normalize(f, dim=1)
        for im, feat in zip(images, f, strict=True):
            d = image_digest(im.cpu())
            self.seen[d] += 1
            self.encoded[d] = feat
        return f

    def describe(self) -> dict[str, Any]:
        return {
            "encoder": self.info.name,
            "network": "stand-in",
            "layer": "pooled colours",
            "dim": self.dim,
            "mode": self.mode,
            "weights": {"sha256": "0" * 64},
        }


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    state: dict[str, Any] = {"seen": {}, "built": []}

    def build(name: str, mode: str, weights: object, device: object, **_: object) -> Any:
        enc = StandInEncoder(name, mode, state["seen"])
        state["built"].append(enc)
        return enc

    monkeypatch.setattr(feature_evaluator, "try_build_encoder", build)
    return state


def _evaluate(spec: EncoderSpec, batch_size: int = 5) -> Any:
    return evaluate(
        build_generator("unet64", seed=1, ngf=4),
        protocol=PROTOCOL,
        score=ScoreSpec(metrics=("dinov2", "cmmd", "prdc"), limit=N, allow_partial_split=True),
        run=RunSpec(batch_size=batch_size, progress=False),
        encoder=spec,
    )


def _real_digests() -> list[str]:
    data = protocol_dataset(get_protocol(PROTOCOL), None, None)
    return [image_digest(quantize_uint8(data[i].target)) for i in range(N)]


def test_each_encoder_sees_each_image_once_and_real_features_come_from_the_cache(
    stand_in: dict[str, Any],
) -> None:
    spec = EncoderSpec(prdc_encoder="dinov2-vitl14")  # prdc shares the DINOv2 pass
    first = _evaluate(spec)
    assert sorted(stand_in["seen"]) == ["clip-vitl14-336:center-crop", "dinov2-vitl14:dgm-eval"]
    real = set(_real_digests())
    for counts in stand_in["seen"].values():
        assert set(counts.values()) == {1}  # every distinct image exactly once
        assert real <= set(counts) and sum(counts.values()) == 2 * N  # N real + N generated
    section = first.provenance["features"]
    assert section["dinov2"]["feature_cache"] == {
        **section["dinov2"]["feature_cache"],
        "hits": 0,
        "computed": N,
    }
    stand_in["seen"].clear()
    second = _evaluate(spec, batch_size=4)
    for counts in stand_in["seen"].values():
        assert not real & set(counts) and sum(counts.values()) == N  # only the generated ones
    assert second.provenance["features"]["cmmd"]["feature_cache"]["hits"] == N
    for key in ("fd_dinov2", "cmmd", "precision", "recall", "density", "coverage"):
        assert second.metrics[key] == first.metrics[key], key


def _brute_prdc(real: np.ndarray, fake: np.ndarray, k: int, inclusive: bool) -> dict[str, float]:
    def radius(x: np.ndarray) -> np.ndarray:
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]  # the k-th neighbour, itself excluded (index 0)

    r_real, r_fake = radius(real), radius(fake)
    d = np.sqrt(((real[:, None] - fake[None]) ** 2).sum(-1))  # real × fake
    inside = (d <= r_real[:, None]) if inclusive else (d < r_real[:, None])
    inside_fake = (d <= r_fake[None]) if inclusive else (d < r_fake[None])
    return {
        "precision": inside.any(axis=0).mean(),
        "recall": inside_fake.any(axis=1).mean(),
        "density": inside.sum() / (k * fake.shape[0]),
        "coverage": (d.min(axis=1) < r_real).mean(),
    }


def test_the_metrics_equal_independent_formulas_on_the_features(stand_in: dict[str, Any]) -> None:
    result = _evaluate(EncoderSpec(prdc_encoder="dinov2-vitl14"))
    real_digests = _real_digests()
    by_name = {e.info.name: e for e in stand_in["built"]}
    feats = {}
    for name, enc in by_name.items():
        real = np.stack([enc.encoded[d].numpy() for d in real_digests])
        fake = np.stack([f.numpy() for d, f in enc.encoded.items() if d not in real_digests])
        feats[name] = real, fake
    real, fake = feats["dinov2-vitl14"]
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    fd = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert result.metrics["fd_dinov2"] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    pr = _brute_prdc(real, fake, 3, inclusive=True)
    dc = _brute_prdc(real, fake, 5, inclusive=False)
    for key in ("precision", "recall"):
        assert result.metrics[key] == pytest.approx(pr[key], abs=1e-12), key
    for key in ("density", "coverage"):
        assert result.metrics[key] == pytest.approx(dc[key], abs=1e-12), key
    x, y = feats["clip-vitl14-336"]
    kernel = lambda a, b: np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * 10.0**2))  # noqa: E731
    mmd = kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean()
    assert result.metrics["cmmd"] == pytest.approx(1000 * mmd, rel=1e-9)
    assert math.isfinite(result.metrics["fd_dinov2"]) and result.metrics["fd_dinov2"] > 0


def test_missing_weights_make_the_metrics_unavailable_and_require_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("P2PBENCH_DINOV2_VITB14_WEIGHTS", "P2PBENCH_CLIP_VITL14_336_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    score = ScoreSpec(metrics=("dinov2", "cmmd"), limit=4, allow_partial_split=True)
    spec = EncoderSpec(dinov2="dinov2-vitb14")
    result = evaluate(
        None, protocol=PROTOCOL, score=score, run=RunSpec(progress=False), encoder=spec
    )
    assert result.metrics["fd_dinov2"]["available"] is False
    assert "P2PBENCH_DINOV2_VITB14_WEIGHTS" in result.metrics["fd_dinov2"]["reason"]
    assert "openai/clip-vit-large-patch14-336" in result.metrics["cmmd"]["reason"]
    with pytest.raises(MetricUnavailableError, match="fd_dinov2"):
        evaluate(
            None,
            protocol=PROTOCOL,
            score=ScoreSpec(**{**score.__dict__, "require": ("fd_dinov2",)}),
            run=RunSpec(progress=False),
            encoder=spec,
        )
    cli = CliRunner().invoke(
        main,
        ["eval", "--real", "--data", PROTOCOL, "--metrics", "dinov2", "--require", "fd_dinov2",
         "--limit", "4", "--allow-partial-split", "--quiet"],
    )  # fmt: skip
    assert cli.exit_code == 1 and "P2PBENCH_DINOV2_VITL14_WEIGHTS" in cli.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--encoder-weights", "dinov2-vitl14"], "expected NAME=PATH"),
        (["--encoder-weights", "nope=x.pth"], "unknown encoder 'nope'"),
        (["--encoder-weights", "dinov2-vitl14=/no/such.pth"], "/no/such.pth: not a file"),
        (["--encoder-weights", "inception-v3=x.pth"], "given with --inception-weights"),
        (["--encoder-weights", f"clip-vitl14-336={__file__}"], "not used by the metrics"),
        (["--cmmd-crop", "squash"], "--cmmd-crop has no effect"),
        (["--cmmd-precision", "float32"], "--cmmd-precision has no effect"),
        (["--metrics", "cmmd", "--cmmd-precision", "float16"], "'float16' is not one of"),
        (["--require", "cmmd"], "its group 'cmmd' is off"),
    ],
)
def test_feature_options_that_cannot_apply_are_errors(args: list[str], message: str) -> None:
    base = ["eval", "--real", "--data", PROTOCOL, "--metrics", "dinov2", "--limit", "2"]
    cli = CliRunner().invoke(main, [*base, *args])
    assert cli.exit_code == 2 and message in cli.output, cli.output


def _stand_in_build(name: str, mode: str, weights: object, device: object, **_: object) -> Any:
    return StandInEncoder(name, mode, {})


def _worker(rank: int, world: int, init: str, home: str, out: str) -> None:
    import torch.distributed as dist

    os.environ["P2PBENCH_HOME"] = home
    feature_evaluator.try_build_encoder = _stand_in_build  # this process only
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        _evaluate(EncoderSpec(prdc_encoder="dinov2-vitl14"), batch_size=2).write(
            Path(out, f"rank{rank}.json")
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_equal_one(stand_in: dict[str, Any], tmp_path: Path) -> None:
    """Each rank encodes its shard; the features are gathered in sample order, so the metrics
    are those of one process exactly, and the cache counts add up to the N real images."""
    import torch.multiprocessing as mp

    from p2pbench.results import read_result

    single = _evaluate(EncoderSpec(prdc_encoder="dinov2-vitl14"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    init = f"file://{tmp_path / 'init'}"
    mp.spawn(_worker, args=(2, init, str(tmp_path / "home2"), str(tmp_path)), nprocs=2)
    for rank in range(2):
        result = read_result(tmp_path / f"rank{rank}.json")
        assert result.provenance["world_size"] == 2
        for key in ("fd_dinov2", "cmmd", "precision", "recall", "density", "coverage"):
            assert result.metrics[key] == single.metrics[key], key
        cache = result.provenance["features"]["dinov2"]["feature_cache"]
        assert (cache["computed"], cache["hits"], cache["ranks"]) == (N, 0, 2)


@pytest.mark.slow
def test_the_real_encoders_in_an_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DINOv2 ViT-B/14 for FD and VGG16 for PRDC, from weight files in their official layouts
    (random values), through `evaluate`: finite metrics and the provenance of each encoder."""
    import torchvision

    from p2pbench.metrics.encoders.dinov2 import hub_shapes

    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    g = torch.Generator().manual_seed(0)

    def random_file(shapes: dict[str, tuple[int, ...]], path: Path) -> str:
        torch.save({k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}, path)
        return str(path)

    with torch.device("meta"):
        vgg = {k: tuple(v.shape) for k, v in torchvision.models.vgg16().state_dict().items()}
    spec = EncoderSpec(
        dinov2="dinov2-vitb14",
        dinov2_mode="edm2",
        weights=(
            ("dinov2-vitb14", random_file(hub_shapes("dinov2-vitb14"), tmp_path / "d.pth")),
            ("vgg16-fc2", random_file(vgg, tmp_path / "v.pth")),
        ),
    )
    result = evaluate(
        build_generator("unet64", seed=1, ngf=4),
        protocol=PROTOCOL,
        score=ScoreSpec(metrics=("dinov2", "prdc"), limit=6, allow_partial_split=True),
        run=RunSpec(batch_size=4, progress=False),
        encoder=spec,
    )
    assert all(math.isfinite(result.metrics[k]) for k in ("fd_dinov2", "precision", "coverage"))
    section = result.provenance["features"]
    assert section["dinov2"]["mode"] == "edm2" and section["dinov2"]["dim"] == 768
    assert section["dinov2"]["comparable_with"] is None  # EDM2 has no ViT-B/14
    assert section["prdc"]["encoder"] == "vgg16-fc2" and section["prdc"]["small_sample"]
    assert section["prdc"]["weights"]["found_by"] == "argument"


def test_a_missing_package_makes_the_encoder_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from p2pbench.metrics.encoders import try_build_encoder

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "timm" else real(name, *a)
    )
    found = try_build_encoder("dinov2-vitl14")
    assert "timm" in found.reason and "p2pbench[encoders]" in found.reason  # type: ignore[union-attr]


@pytest.mark.parametrize(("n", "unavailable"), [(1, 5), (4, 2), (6, 0)])
def test_too_few_images_make_those_metrics_unavailable_not_the_evaluation(
    stand_in: dict[str, Any], n: int, unavailable: int
) -> None:
    """FD needs 2 images per set, precision/recall 4 (k = 3), density/coverage 6 (k = 5)."""
    result = evaluate(
        build_generator("unet64", seed=1, ngf=4),
        protocol=PROTOCOL,
        score=ScoreSpec(metrics=("dinov2", "prdc"), limit=n, allow_partial_split=True),
        run=RunSpec(progress=False),
        encoder=EncoderSpec(prdc_encoder="dinov2-vitl14"),
    )
    keys = ("fd_dinov2", "precision", "recall", "density", "coverage")
    missing = [k for k in keys if isinstance(result.metrics[k], dict)]
    assert len(missing) == unavailable
    for k in missing:
        assert f"{n} images per set cannot give" in result.metrics[k]["reason"]


def test_gathered_features_own_their_storage(
    stand_in: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What crosses processes is one row per image, never a view of its whole batch."""
    sent: list[Any] = []

    def recording(items: list[Any]) -> list[Any]:
        sent.extend(items)
        return list(items)

    monkeypatch.setattr(feature_evaluator, "gather_lists", recording)
    _evaluate(EncoderSpec(prdc_encoder="dinov2-vitl14"), batch_size=5)
    rows = [t for item in sent if isinstance(item, tuple) for t in item if torch.is_tensor(t)]
    assert len(rows) == 4 * N  # (real + generated) × 2 encoders
    assert all(r.untyped_storage().nbytes() == r.numel() * r.element_size() for r in rows)


def test_an_encoder_missing_on_another_process_is_unavailable_on_every_one(
    stand_in: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights on one node only must not let the processes reach different collectives."""
    calls: list[int] = []

    def two_processes(items: list[Any]) -> list[Any]:
        calls.append(1)
        if len(calls) == 1:  # the availability exchange: process 1 lacks the CLIP weights
            return [*items, {("clip-vitl14-336", "center-crop"): "no weights on node 2"}]
        return list(items)

    monkeypatch.setattr(feature_evaluator, "gather_lists", two_processes)
    result = _evaluate(EncoderSpec())
    assert result.metrics["cmmd"]["reason"] == ("unavailable on process 1: no weights on node 2")
    assert isinstance(result.metrics["fd_dinov2"], float)


def test_dinov2_mode_and_cmmd_crop_follow_the_encoder_into_prdc(stand_in: dict[str, Any]) -> None:
    spec = EncoderSpec(prdc_encoder="dinov2-vitb14", dinov2_mode="edm2", cmmd_crop="squash")
    assert spec.feature_encoders(("dinov2", "prdc")) == {
        "dinov2": ("dinov2-vitl14", "edm2"),
        "prdc": ("dinov2-vitb14", "edm2"),
    }
    clip = EncoderSpec(prdc_encoder="clip-vitl14-336", cmmd_crop="squash")
    assert clip.feature_encoders(("cmmd", "prdc"))["prdc"] == ("clip-vitl14-336", "squash")
    cli = CliRunner().invoke(
        main,
        ["eval", "--real", "--data", PROTOCOL, "--metrics", "prdc", "--prdc-encoder",
         "dinov2-vitb14", "--dinov2-mode", "edm2", "--limit", "4", "--allow-partial-split",
         "--quiet"],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output


def test_cmmd_precision_is_recorded_and_float32_repeats_the_reference(
    stand_in: dict[str, Any],
) -> None:
    default = _evaluate(EncoderSpec())
    single = _evaluate(EncoderSpec(cmmd_precision="float32"))
    assert default.provenance["features"]["cmmd"]["precision"] == "float64"
    assert "precision_as" not in default.provenance["features"]["cmmd"]
    assert single.provenance["features"]["cmmd"]["precision"] == "float32"
    assert "float32" in single.provenance["features"]["cmmd"]["precision_as"]
    clip = next(e for e in stand_in["built"] if e.info.name == "clip-vitl14-336")
    real_digests = _real_digests()
    x = np.stack([clip.encoded[d].numpy() for d in real_digests]).astype(np.float32)
    y = np.stack([f.numpy() for d, f in clip.encoded.items() if d not in real_digests])
    y = y.astype(np.float32)

    def mean_kernel(a: np.ndarray, b: np.ndarray) -> np.float32:  # the port's formula, float32
        a_sq, b_sq = np.diag(a @ a.T), np.diag(b @ b.T)
        squared = -2 * (a @ b.T) + a_sq[:, None] + b_sq[None, :]
        return np.exp(np.float32(-1 / 200) * squared).mean(dtype=np.float32)

    ref = 1000 * (mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y))
    assert single.metrics["cmmd"] == pytest.approx(float(ref), rel=1e-5)
    assert single.metrics["cmmd"] != default.metrics["cmmd"]
    assert single.metrics["fd_dinov2"] == default.metrics["fd_dinov2"]  # CMMD's alone
    with pytest.raises(InvalidValueError, match="unknown CMMD precision 'half'"):
        EncoderSpec(cmmd_precision="half")


def test_an_fd_below_full_rank_warns_and_is_recorded(stand_in: dict[str, Any]) -> None:
    from p2pbench.errors import P2PBenchWarning

    with pytest.warns(P2PBenchWarning, match=f"FD_DINOv2 from {N} and {N} samples of 48-d"):
        result = _evaluate(EncoderSpec())
    assert result.provenance["features"]["dinov2"]["below_full_rank"] is True  # 12 ≤ 48
