"""Any aligned A|B folder: paired metrics and FID/IS/KID where no segmenter exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from p2pbench.cli import main
from p2pbench.data import write_synthcity
from p2pbench.evaluation import (
    EncoderSpec,
    GeneratorFile,
    ImageFolder,
    RunSpec,
    ScoreSpec,
    evaluate,
    generate,
)
from p2pbench.protocols import aligned_protocol


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("aligned") / "mini"
    write_synthcity(out, size=64, n_train=2, n_val=5, seed=3)
    return out


def test_protocol_is_built_from_the_folder(folder: Path, tmp_path: Path) -> None:
    p = aligned_protocol(str(folder), None, "BtoA")
    assert (p.name, p.split, p.image_size, p.expected_images, p.task) == (
        "aligned-mini",
        "val",
        64,
        5,
        "paired",
    )
    moved = tmp_path / "mini"
    moved.symlink_to(folder)
    assert aligned_protocol(str(moved), None, "BtoA").digest() == p.digest()  # location-free
    assert aligned_protocol(str(folder), None, "AtoB").digest() != p.digest()


def test_generator_and_generated_folder_agree(
    folder: Path,
    tiny_checkpoint: Path,
    inception_weights_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    protocol = aligned_protocol(str(folder), direction="BtoA")
    run = RunSpec(progress=False)
    encoder = EncoderSpec(inception_weights=str(inception_weights_file))
    from_gen = evaluate(
        GeneratorFile(str(tiny_checkpoint)),
        protocol=protocol,
        score=ScoreSpec(),
        run=run,
        encoder=encoder,
    )
    generate(GeneratorFile(str(tiny_checkpoint)), tmp_path / "out", protocol=protocol, run=run)
    from_images = evaluate(
        ImageFolder(str(tmp_path / "out")),
        protocol=protocol,
        score=ScoreSpec(),
        run=run,
        encoder=encoder,
    )
    assert from_gen.task == "paired" and "per_pixel_acc" not in from_gen.metrics
    for key in ("l1", "psnr", "ssim", "fid", "is_mean", "kid_mean"):
        assert from_images.metrics[key] == pytest.approx(from_gen.metrics[key], rel=1e-9)
    assert from_gen.n_images == 5


def test_cli_eval_on_a_folder(folder: Path, tiny_checkpoint: Path) -> None:
    res = CliRunner().invoke(
        main,
        [
            "eval",
            "--gen",
            str(tiny_checkpoint),
            "--data",
            str(folder),
            "--direction",
            "BtoA",
            "--quiet",
            "--json",
            "--metrics",
            "paired",
        ],
    )
    assert res.exit_code == 0, res.output
    assert '"protocol"' in res.output and '"l1"' in res.output


def test_cli_table_output_without_fcn_score(
    folder: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no Inception weights anywhere
    monkeypatch.delenv("P2PBENCH_INCEPTION_WEIGHTS", raising=False)
    res = CliRunner().invoke(
        main,
        [
            "eval",
            "--gen",
            str(tiny_checkpoint),
            "--data",
            str(folder),
            "--direction",
            "BtoA",
            "--quiet",
            "--metrics",
            "paired,inception",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "L1 (/255)" in res.output and "FID             unavailable" in res.output
    assert "per-pixel" not in res.output.lower()
