"""FID / IS / KID and paired metrics through `evaluate`, with a random-weight InceptionV3."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from p2pbench.cli import main
from p2pbench.evaluation import (
    EncoderSpec,
    GeneratorFile,
    RealImages,
    RunSpec,
    ScoreSpec,
    evaluate,
)
from p2pbench.metrics.availability import MetricUnavailableError
from p2pbench.metrics.encoders.inception import build_extractor
from p2pbench.metrics.frechet import frechet_distance, stats_from_features
from p2pbench.results import Result

LIMIT = 8
GENERATIVE = ("fid", "is_mean", "is_std", "kid_mean", "kid_std")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("P2PBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no hub weights
    return tmp_path / "home"


def _eval(
    ckpt: Path, weights: Path | None, batch_size: int = 3, require: tuple[str, ...] = ()
) -> Result:
    return evaluate(
        GeneratorFile(str(ckpt)),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=LIMIT, require=require),
        run=RunSpec(batch_size=batch_size, progress=False),
        encoder=EncoderSpec(inception_weights=str(weights) if weights else None),
    )


def test_fid_is_kid_and_paired_metrics(
    tiny_checkpoint: Path, inception_weights_file: Path, home: Path
) -> None:
    first = _eval(tiny_checkpoint, inception_weights_file)
    m = first.metrics
    assert all(isinstance(m[k], float) for k in (*GENERATIVE, "l1", "psnr", "ssim"))
    assert m["fid"] > 0 and 0 < m["l1"] < 1 and -1 <= m["ssim"] <= 1
    assert "computed in this pass" in first.provenance["inception"]["reference_origin"]
    assert first.provenance["inception"]["fid_below_full_rank"] is True  # LIMIT ≤ 2048 images
    assert len(list((home / "stats").glob("*.pt"))) == 1  # the real statistics were cached

    second = _eval(tiny_checkpoint, inception_weights_file, batch_size=8)
    assert "cache" in second.provenance["inception"]["reference_origin"]
    for k in GENERATIVE:
        assert second.metrics[k] == pytest.approx(m[k], rel=1e-6, abs=1e-9)

    # independent: FID from features of the same outputs and targets, extracted directly
    from p2pbench.data import collate_samples, quantize_uint8
    from p2pbench.evaluation.datasets import protocol_dataset
    from p2pbench.protocols import get_protocol
    from reference_models import load_generator, translate

    data = protocol_dataset(get_protocol("synthcity@v1"), None, None)
    batch = collate_samples([data[i] for i in range(LIMIT)])
    g, _ = load_generator(tiny_checkpoint)
    fake = quantize_uint8(translate(g, batch.input, mode="paper", sample_ids=batch.sample_ids))
    ex = build_extractor("tf", inception_weights_file)
    expected = frechet_distance(
        stats_from_features(ex(fake).pool3),
        stats_from_features(ex(quantize_uint8(batch.target)).pool3),
    )
    assert m["fid"] == pytest.approx(expected, rel=1e-6)


def test_missing_weights_are_reported_and_the_rest_runs(tiny_checkpoint: Path, home: Path) -> None:
    result = _eval(tiny_checkpoint, None)
    for k in GENERATIVE:
        value = result.metrics[k]
        assert value["available"] is False
        assert "weights-inception-2015-12-05-6726825d.pth" in value["reason"]
    assert isinstance(result.metrics["per_pixel_acc"], float)
    with pytest.raises(MetricUnavailableError, match="fid"):
        _eval(tiny_checkpoint, None, require=("fid",))
    res = CliRunner().invoke(
        main,
        [
            "eval",
            "--gen",
            str(tiny_checkpoint),
            "--data",
            "synthcity@v1",
            "--limit",
            "2",
            "--quiet",
            "--require",
            "fid",
        ],
    )
    assert res.exit_code == 1 and "pt_inception-2015-12-05-6726825d.pth" in res.output


def test_real_source_skips_paired_metrics(home: Path) -> None:
    result = evaluate(
        RealImages(),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=4, metrics=("fcn", "paired")),
        run=RunSpec(progress=False),
    )
    assert "l1" not in result.metrics and "per_pixel_acc" in result.metrics


def test_stats_and_fid_commands(inception_weights_file: Path, home: Path, tmp_path: Path) -> None:
    from PIL import Image

    from p2pbench.data import build_dataset, quantize_uint8

    data = build_dataset(
        "synthcity@v1", "val", size=64, direction="BtoA", seed=0, data_root=None, n=6
    )
    for name, attr in (("a", "target"), ("b", "input")):
        (tmp_path / name).mkdir()
        for i in range(6):
            image = quantize_uint8(getattr(data[i], attr)).permute(1, 2, 0).numpy()
            Image.fromarray(image).save(tmp_path / name / f"{i}.png")
    runner = CliRunner()
    w = ["--inception-weights", str(inception_weights_file)]
    folders = runner.invoke(main, ["fid", str(tmp_path / "a"), str(tmp_path / "b"), *w, "--json"])
    assert folders.exit_code == 0, folders.output
    for name in ("a", "b"):
        res = runner.invoke(
            main, ["stats", str(tmp_path / name), "--out", str(tmp_path / f"{name}.npz"), *w]
        )
        assert res.exit_code == 0, res.output
    npz = runner.invoke(main, ["fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--json"])
    import json

    assert json.loads(npz.stdout)["fid"] == pytest.approx(
        json.loads(folders.stdout)["fid"], rel=1e-6
    )
    assert json.loads(folders.stdout)["fid"] > 0
    res = runner.invoke(
        main, ["stats", "--protocol", "synthcity@v1", "--out", str(tmp_path / "ref.pt"), *w]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ref.pt").is_file()
