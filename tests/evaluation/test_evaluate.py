"""`evaluate` end to end on the synthcity protocol: sources agree, batch size does not matter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2pbench.cli import main
from p2pbench.data import build_dataset, quantize_uint8
from p2pbench.evaluation.generate import generate
from p2pbench.evaluation.loop import EvalConfig, evaluate
from p2pbench.evaluation.sources import MissingImagesError
from p2pbench.results import read_result, validate_result

LIMIT = 6


def _config(source: str, path: str | None = None, **kw: object) -> EvalConfig:
    return EvalConfig(protocol="synthcity", source=source, path=path, limit=LIMIT,
                      progress=False, **kw)


FCN_KEYS = ("per_pixel_acc", "per_class_acc", "class_iou", "per_class")


def _scores(result: dict) -> tuple:
    """FCN-score, its counts, and what was scored (paired metrics need a generated image)."""
    return ({k: result["metrics"][k] for k in FCN_KEYS}, result["counts"], result["n_images"],
            result["provenance"]["data_sha256"])


def test_checkpoint_and_generated_folder_give_identical_results(tiny_checkpoint: Path,
                                                                tmp_path: Path) -> None:
    from_gen = evaluate(_config("generator", str(tiny_checkpoint), per_image=True))
    generate(_config("generator", str(tiny_checkpoint)), tmp_path / "out")
    from_images = evaluate(_config("images", str(tmp_path / "out"), per_image=True))
    assert _scores(from_gen) == _scores(from_images)
    assert from_gen["per_image"] == from_images["per_image"]
    assert len(from_gen["per_image"]) == LIMIT
    validate_result(from_gen)
    assert from_gen["source"]["kind"] == "generator" and from_gen["limit"] == LIMIT


def test_real_row_equals_real_photos_scored_from_a_folder(tmp_path: Path) -> None:
    data = build_dataset("synthcity", "val", size=64, direction="BtoA", seed=0, data_root=None,
                         n=LIMIT)
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(LIMIT):
        s = data[i]
        Image.fromarray(quantize_uint8(s.target).permute(1, 2, 0).numpy()).save(
            folder / f"{s.sample_id}.png")
    real = evaluate(_config("real"))
    from_folder = evaluate(_config("images", str(folder)))
    assert _scores(real) == _scores(from_folder)
    assert real["metrics"]["per_pixel_acc"] > 0.5  # the segmenter reads real photos


@pytest.mark.parametrize("batch_sizes", [(1, 8), (3, 5)])
def test_batch_size_does_not_change_results(tiny_checkpoint: Path, batch_sizes: tuple) -> None:
    a, b = (evaluate(_config("generator", str(tiny_checkpoint), batch_size=n))
            for n in batch_sizes)
    assert _scores(a) == _scores(b)


def test_seed_changes_paper_mode_dropout(tiny_checkpoint: Path) -> None:
    a = evaluate(_config("generator", str(tiny_checkpoint), seed=0))
    b = evaluate(_config("generator", str(tiny_checkpoint), seed=1))
    assert a["metrics"] != b["metrics"]
    assert a["provenance"]["data_sha256"] == b["provenance"]["data_sha256"]


def _write_folder(tiny_checkpoint: Path, folder: Path) -> list[Path]:
    generate(_config("generator", str(tiny_checkpoint)), folder)
    return sorted(folder.glob("*.png"))


def test_missing_extra_and_bad_images_are_listed(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    files = _write_folder(tiny_checkpoint, folder)
    files[0].unlink()
    Image.new("RGB", (64, 64)).save(folder / "stray.png")
    with pytest.raises(MissingImagesError) as e:
        evaluate(_config("images", str(folder)))
    assert files[0].name in str(e.value) and "stray.png" in str(e.value)
    assert "--allow-missing" in str(e.value)

    result = evaluate(_config("images", str(folder), allow_missing=True))
    assert result["missing"] == [files[0].stem] and result["n_images"] == LIMIT - 1

    Image.new("RGB", (32, 32)).save(files[1])
    (folder / files[2].name).write_bytes(b"not a png")
    with pytest.raises(MissingImagesError) as e:
        evaluate(_config("images", str(folder), allow_missing=True))
    assert "32×32 px" in str(e.value) and "unreadable" in str(e.value)


def test_jpeg_named_png_is_rejected(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    files = _write_folder(tiny_checkpoint, folder)
    Image.open(files[0]).convert("RGB").save(files[0], format="JPEG")
    with pytest.raises(MissingImagesError, match="JPEG"):
        evaluate(_config("images", str(folder)))


def test_untrained_generator_scores_below_real_photos(tiny_checkpoint: Path) -> None:
    real = evaluate(_config("real"))
    fake = evaluate(_config("generator", str(tiny_checkpoint)))
    assert fake["metrics"]["per_pixel_acc"] < real["metrics"]["per_pixel_acc"]


def test_cli_eval_writes_a_result_and_prints_json(tiny_checkpoint: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.json"
    res = runner.invoke(main, ["eval", "--gen", str(tiny_checkpoint), "--data", "synthcity",
                               "--limit", "4", "--quiet", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.output)
    stored = read_result(out)
    assert printed["metrics"] == stored["metrics"] and stored["limit"] == 4
    assert "eval" in stored["provenance"]["command"] or stored["provenance"]["command"]
    table = runner.invoke(main, ["eval", "--real", "--data", "synthcity", "--limit", "4",
                                 "--quiet"])
    assert table.exit_code == 0 and "per-pixel acc." in table.output


def test_cli_errors_exit_non_zero(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["eval", "--images", str(tmp_path / "nope"), "--data",
                               "synthcity", "--quiet"])
    assert res.exit_code == 1 and "image folder not found" in res.output
    res = runner.invoke(main, ["eval", "--real", "--gen", __file__, "--data", "synthcity"])
    assert res.exit_code == 2
    res = runner.invoke(main, ["eval", "--real", "--protocol", "nope"])
    assert res.exit_code == 1 and "synthcity" in res.output


def test_limit_beyond_split_is_an_error() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        evaluate(EvalConfig(protocol="synthcity", source="real", limit=101, progress=False))


def test_generate_uses_the_quantisation_rule(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from p2pbench.evaluation.loop import protocol_dataset
    from p2pbench.protocols import get_protocol
    from reference_models import load_generator, translate

    _write_folder(tiny_checkpoint, tmp_path / "g")
    g, _ = load_generator(tiny_checkpoint)
    data = protocol_dataset(get_protocol("synthcity"), None, None)
    s = data[0]
    out = translate(g, s.input[None], mode="paper", sample_ids=[s.sample_id], seed=0)[0]
    expected = quantize_uint8(out).permute(1, 2, 0).numpy()
    written = np.asarray(Image.open(tmp_path / "g" / f"{s.sample_id}.png"))
    assert np.array_equal(written, expected)
