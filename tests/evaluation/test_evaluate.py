"""`evaluate` end to end on the synthcity protocol: sources agree, batch size does not matter."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

import reference_models
from p2pbench.cli import main
from p2pbench.data import build_dataset, quantize_uint8
from p2pbench.errors import P2PBenchWarning
from p2pbench.evaluation import (
    GeneratorFile,
    GeneratorModule,
    ImageFolder,
    MissingImagesError,
    RealImages,
    RunSpec,
    ScoreSpec,
    evaluate,
    generate,
)
from p2pbench.protocols import get_protocol
from p2pbench.results import Result, read_result

LIMIT = 6


def _eval(source: object, *, batch_size: int = 8, seed: int = 0, **score: object) -> Result:
    """`source` under synthcity, the first LIMIT images, no progress bar."""
    return evaluate(
        source,
        protocol="synthcity@v1",
        score=ScoreSpec(limit=LIMIT, **score),  # type: ignore[arg-type]
        run=RunSpec(batch_size=batch_size, seed=seed, progress=False),
    )


def _gen(path: Path) -> GeneratorFile:
    return GeneratorFile(str(path))


def _images(path: Path) -> ImageFolder:
    return ImageFolder(str(path))


FCN_KEYS = ("per_pixel_acc", "per_class_acc", "class_iou", "per_class")


def _scores(result: Result) -> tuple:
    """FCN-score, its counts, and what was scored (paired metrics need a generated image)."""
    return (
        {k: result.metrics[k] for k in FCN_KEYS},
        result.counts,
        result.n_images,
        result.provenance["data_sha256"],
    )


def test_checkpoint_and_generated_folder_give_identical_results(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    from_gen = _eval(_gen(tiny_checkpoint), per_image=True)
    generate(
        _gen(tiny_checkpoint),
        tmp_path / "out",
        protocol="synthcity@v1",
        limit=LIMIT,
        run=RunSpec(progress=False),
    )
    from_images = _eval(_images(tmp_path / "out"), per_image=True)
    assert _scores(from_gen) == _scores(from_images)
    assert from_gen.per_image == from_images.per_image
    assert len(from_gen.per_image) == LIMIT
    assert Result.from_dict(from_gen.to_dict()) == from_gen  # a valid result, round trip
    assert from_gen.source["kind"] == "generator" and from_gen.limit == LIMIT


def test_real_row_equals_real_photos_scored_from_a_folder(tmp_path: Path) -> None:
    data = build_dataset(
        "synthcity@v1", "val", size=64, direction="BtoA", seed=0, data_root=None, n=LIMIT
    )
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(LIMIT):
        s = data[i]
        Image.fromarray(quantize_uint8(s.target).permute(1, 2, 0).numpy()).save(
            folder / f"{s.sample_id}.png"
        )
    real = _eval(RealImages())
    from_folder = _eval(_images(folder))
    assert _scores(real) == _scores(from_folder)
    assert real.metrics["per_pixel_acc"] > 0.5  # the segmenter reads real photos


@pytest.mark.parametrize("batch_sizes", [(1, 8), (3, 5)])
def test_batch_size_does_not_change_results(tiny_checkpoint: Path, batch_sizes: tuple) -> None:
    a, b = (_eval(_gen(tiny_checkpoint), batch_size=n) for n in batch_sizes)
    assert _scores(a) == _scores(b)


def test_seed_changes_paper_mode_dropout(tiny_checkpoint: Path) -> None:
    a = _eval(_gen(tiny_checkpoint), seed=0)
    b = _eval(_gen(tiny_checkpoint), seed=1)
    assert a.metrics != b.metrics
    assert a.provenance["data_sha256"] == b.provenance["data_sha256"]


def _write_folder(tiny_checkpoint: Path, folder: Path) -> list[Path]:
    generate(
        _gen(tiny_checkpoint),
        folder,
        protocol="synthcity@v1",
        limit=LIMIT,
        run=RunSpec(progress=False),
    )
    return sorted(folder.glob("*.png"))


def test_missing_extra_and_bad_images_are_listed(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    files = _write_folder(tiny_checkpoint, folder)
    files[0].unlink()
    Image.new("RGB", (64, 64)).save(folder / "stray.png")
    with pytest.raises(MissingImagesError) as e:
        _eval(_images(folder))
    assert files[0].name in str(e.value) and "stray.png" in str(e.value)
    assert "--allow-missing" in str(e.value)

    with pytest.warns(P2PBenchWarning, match=f"scoring the {LIMIT - 1} present"):
        result = _eval(_images(folder), allow_missing=True)
    assert result.missing == [files[0].stem] and result.n_images == LIMIT - 1

    Image.new("RGB", (32, 32)).save(files[1])
    (folder / files[2].name).write_bytes(b"not a png")
    with pytest.raises(MissingImagesError) as e:
        _eval(_images(folder), allow_missing=True)
    assert "32×32 px" in str(e.value) and "unreadable" in str(e.value)


def test_jpeg_named_png_is_rejected(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    files = _write_folder(tiny_checkpoint, folder)
    Image.open(files[0]).convert("RGB").save(files[0], format="JPEG")
    with pytest.raises(MissingImagesError, match="JPEG"):
        _eval(_images(folder))


def test_untrained_generator_scores_below_real_photos(tiny_checkpoint: Path) -> None:
    real = _eval(RealImages())
    fake = _eval(_gen(tiny_checkpoint))
    assert fake.metrics["per_pixel_acc"] < real.metrics["per_pixel_acc"]


def test_cli_eval_writes_a_result_and_prints_json(tiny_checkpoint: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.json"
    args = [
        "eval",
        "--gen",
        str(tiny_checkpoint),
        "--data",
        "synthcity@v1",
        "--limit",
        "4",
        "--quiet",
        "--out",
        str(out),
        "--json",
    ]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    stored = read_result(out)
    assert printed["metrics"] == stored.metrics and stored.limit == 4
    assert stored.provenance["command"] == ["p2pbench", *args]  # exactly as typed
    table = runner.invoke(
        main, ["eval", "--real", "--data", "synthcity@v1", "--limit", "4", "--quiet"]
    )
    assert table.exit_code == 0 and "Per-pixel acc." in table.output


def test_cli_errors_exit_non_zero(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        main, ["eval", "--images", str(tmp_path / "nope"), "--data", "synthcity@v1", "--quiet"]
    )
    assert res.exit_code == 2 and "image folder not found" in res.output
    res = runner.invoke(main, ["eval", "--real", "--gen", __file__, "--data", "synthcity@v1"])
    assert res.exit_code == 2
    res = runner.invoke(main, ["eval", "--real", "--protocol", "nope"])
    assert res.exit_code == 2 and "synthcity" in res.output


def test_limit_beyond_split_is_an_error() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        evaluate(
            RealImages(),
            protocol="synthcity@v1",
            score=ScoreSpec(limit=101),
            run=RunSpec(progress=False),
        )


def test_generate_uses_the_quantisation_rule(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from p2pbench.evaluation.datasets import protocol_dataset
    from reference_models import load_generator, translate

    _write_folder(tiny_checkpoint, tmp_path / "g")
    g, _ = load_generator(tiny_checkpoint)
    data = protocol_dataset(get_protocol("synthcity@v1"), None, None)
    s = data[0]
    out = translate(g, s.input[None], mode="paper", sample_ids=[s.sample_id], seed=0)[0]
    expected = quantize_uint8(out).permute(1, 2, 0).numpy()
    written = np.asarray(Image.open(tmp_path / "g" / f"{s.sample_id}.png"))
    assert np.array_equal(written, expected)


@pytest.mark.parametrize("training", [True, False])
def test_module_in_memory_scores_like_its_saved_file(training: bool, tmp_path: Path) -> None:
    module = reference_models.build_generator("unet64", seed=3, ngf=4)
    path = tmp_path / "g.pt"
    reference_models.save_generator(path, module, "unet64", reference_models.GeneratorConfig(ngf=4))
    from_file = evaluate(
        str(path),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=LIMIT),
        run=RunSpec(progress=False),
    )
    assert from_file.source["format"] == "p2pbench"

    module.train(training)
    rng = torch.get_rng_state()
    result = evaluate(
        module, protocol="synthcity@v1", score=ScoreSpec(limit=LIMIT), run=RunSpec(progress=False)
    )
    assert torch.equal(torch.get_rng_state(), rng)
    assert module.training is training
    assert result.metrics == from_file.metrics and result.counts == from_file.counts
    assert result.provenance["data_sha256"] == from_file.provenance["data_sha256"]
    assert result.source["format"] == "module"
    assert re.fullmatch(r"[0-9a-f]{64}", result.source["sha256"])
    assert result.protocol["digest"] == get_protocol("synthcity@v1").digest()


@pytest.mark.parametrize(
    "layer", [nn.BatchNorm2d(3), nn.Dropout(0.5)], ids=["batchnorm", "dropout"]
)
def test_plain_torch_module_needs_eval_mode(layer: nn.Module) -> None:
    module = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), layer, nn.Tanh())
    with pytest.raises(ValueError, match=re.escape("test_time_mode='eval'")):
        evaluate(
            module,
            protocol="synthcity@v1",
            score=ScoreSpec(limit=LIMIT),
            run=RunSpec(progress=False),
        )
    result = evaluate(
        GeneratorModule(module, test_time_mode="eval"),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=LIMIT),
        run=RunSpec(progress=False),
    )
    assert result.protocol["test_time_mode"] == "eval"
    assert result.protocol["digest"] != get_protocol("synthcity@v1").digest()
    assert result.source["format"] == "module" and result.n_images == LIMIT
