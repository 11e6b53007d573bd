"""The pix2pix-2017 protocol end to end on a fake Cityscapes tree, through the real code path.

The tree has the official layout and names at a small label resolution (64×128); the FCN-8s is a
narrow caffemodel written in protobuf wire format by tests/reference/caffemodel_writer.py and
converted by `p2pbench fcn convert`; the generator is a PyTorch-port-style bare state_dict.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from reference import caffemodel_writer

from p2pbench.cli import main
from p2pbench.evaluation import (
    GeneratorFile,
    ImageFolder,
    RealImages,
    RunSpec,
    ScoreSpec,
    evaluate,
    generate,
)
from p2pbench.results import Result

IDS = {7: 0, 8: 1, 11: 2, 21: 8, 23: 10, 24: 11, 26: 13, 0: 255}  # labelId → trainId (official)
FRAMES = ["bochum_000000_000313", "aachen_000001_000019", "aachen_000000_000019"]
SORTED = sorted(FRAMES)  # the port numbers frames in sorted colour-file order
H, W = 64, 128
TRAIN_ID_COLOURS = {
    0: (128, 64, 128),
    1: (244, 35, 232),
    2: (70, 70, 70),
    8: (107, 142, 35),
    10: (70, 130, 180),
    11: (220, 20, 60),
    13: (0, 0, 142),
    255: (0, 0, 0),
}


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cityscapes")
    rng = np.random.default_rng(0)
    for sid in FRAMES:
        city = sid.split("_")[0]
        gt, img = root / "gtFine" / "val" / city, root / "leftImg8bit" / "val" / city
        gt.mkdir(parents=True, exist_ok=True)
        img.mkdir(parents=True, exist_ok=True)
        ids = np.zeros((H, W), np.uint8)  # blocky label map
        for y in range(0, H, 16):
            for x in range(0, W, 16):
                ids[y : y + 16, x : x + 16] = rng.choice(list(IDS))
        Image.fromarray(ids).save(gt / f"{sid}_gtFine_labelIds.png")
        colour = np.array([TRAIN_ID_COLOURS[IDS[i]] for i in ids.flat], np.uint8)
        Image.fromarray(colour.reshape(H, W, 3)).convert("RGBA").save(
            gt / f"{sid}_gtFine_color.png"
        )
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(
            img / f"{sid}_leftImg8bit.png"
        )
    return root


@pytest.fixture(scope="module")
def env(cityscapes: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """P2PBENCH_HOME with a converted narrow FCN-8s, and a port-format generator file."""
    home = tmp_path_factory.mktemp("home")
    layers = caffemodel_writer.fcn8s_layers((4, 8, 8, 16, 16), 16, 20)
    caffemodel = home / "fcn-8s-cityscapes.caffemodel"
    with open(caffemodel, "wb") as f:
        caffemodel_writer.write_caffemodel(f, layers, caffemodel_writer.hashed_values(3))
    mp = pytest.MonkeyPatch()
    mp.setenv("P2PBENCH_HOME", str(home))
    res = CliRunner().invoke(main, ["fcn", "convert", str(caffemodel), "--any-size"])
    assert res.exit_code == 0, res.output
    converted = res.output.strip().split(" -> ")[-1]
    mp.setenv("P2PBENCH_FCN_WEIGHTS", converted)
    from reference_models import build_generator

    torch.save(build_generator("unet256", ngf=2, seed=1).state_dict(), home / "latest_net_G.pth")
    yield {"home": str(home), "gen": str(home / "latest_net_G.pth"), "weights": converted}
    mp.undo()


RUN = RunSpec(batch_size=2, progress=False)


def _eval(
    cityscapes: Path,
    source: GeneratorFile | ImageFolder | RealImages,
    protocol: str = "pix2pix-2017",
) -> Result:
    return evaluate(
        source,
        protocol=protocol,
        data_root=str(cityscapes),
        score=ScoreSpec(allow_partial_split=True),
        run=RUN,
    )


def test_checkpoint_original_names_and_port_names_agree(
    cityscapes: Path, env: dict, tmp_path: Path
) -> None:
    from_gen = _eval(cityscapes, GeneratorFile(env["gen"]))
    assert from_gen.n_images == 3 and from_gen.partial_split
    assert from_gen.source["format"] == "pytorch-port"
    assert from_gen.protocol["key"] == "pix2pix-2017@v1"
    assert not from_gen.provenance["segmenter"]["official"]

    original = tmp_path / "original"
    generate(
        GeneratorFile(env["gen"]),
        original,
        protocol="pix2pix-2017",
        data_root=str(cityscapes),
        run=RUN,
    )
    assert sorted(p.name for p in original.glob("*.png")) == [
        f"{sid}_leftImg8bit.png" for sid in SORTED
    ]
    from_original = _eval(cityscapes, ImageFolder(str(original)))

    port = tmp_path / "results" / "test_latest" / "images"
    port.mkdir(parents=True)
    for n, sid in enumerate(SORTED):
        shutil.copy(original / f"{sid}_leftImg8bit.png", port / f"{n}_fake_B.png")
        Image.new("RGB", (256, 256)).save(port / f"{n}_real_A.png")  # the port writes these too
    from_port = _eval(cityscapes, ImageFolder(str(port)))
    assert from_port.source["naming"] == "port"
    for r in (from_original, from_port):
        assert r.metrics == from_gen.metrics and r.counts == from_gen.counts


def test_real_row_and_label_resolution(cityscapes: Path, env: dict) -> None:
    real = _eval(cityscapes, RealImages())
    assert real.source == {"kind": "real", "resize": "bicubic"}
    counts = real.counts
    valid = sum(
        np.count_nonzero(np.isin(np.asarray(Image.open(p)), [7, 8, 11, 21, 23, 24, 26]))
        for p in cityscapes.glob("gtFine/val/*/*_labelIds.png")
    )
    assert counts["pixels_scored"] + counts.get("pixels_dropped", 0) == valid  # never resized
    fast = _eval(cityscapes, RealImages(), protocol="pix2pix-2017-fast")
    assert fast.counts["pixels_scored"] + fast.counts.get("pixels_dropped", 0) > valid


def test_photo2labels_scores_perfect_colour_maps_perfectly(
    cityscapes: Path, env: dict, tmp_path: Path
) -> None:
    folder = tmp_path / "maps"
    folder.mkdir()
    for sid in FRAMES:
        city = sid.split("_")[0]
        colour = Image.open(cityscapes / "gtFine" / "val" / city / f"{sid}_gtFine_color.png")
        colour.convert("RGB").resize((256, 256), Image.Resampling.NEAREST).save(
            folder / f"{sid}_leftImg8bit.png"
        )
    result = _eval(cityscapes, ImageFolder(str(folder)), protocol="pix2pix-2017-photo2labels")
    assert result.metrics["per_pixel_acc"] == pytest.approx(1.0, abs=1e-9)
    present = [c for c, v in result.metrics["per_class"].items() if v["acc"] > 0]
    assert set(present) == {"road", "sidewalk", "building", "vegetation", "sky", "person", "car"}
    assert all(result.metrics["per_class"][c]["iou"] == pytest.approx(1.0) for c in present)


def test_missing_weights_say_what_where_and_how(
    cityscapes: Path, env: dict, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("P2PBENCH_FCN_WEIGHTS")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        main,
        [
            "eval",
            "--real",
            "--data",
            "cityscapes",
            "--data-root",
            str(cityscapes),
            "--allow-partial-split",
            "--quiet",
        ],
    )
    assert res.exit_code == 2  # a missing file is bad input
    for needed in (
        "fcn-8s-cityscapes.caffemodel",
        "p2pbench fcn convert",
        str(tmp_path),
        "efrosgans.eecs.berkeley.edu",
    ):
        assert needed in res.output, res.output


def test_incomplete_split_is_an_error(cityscapes: Path, env: dict) -> None:
    with pytest.raises(ValueError, match="all 500 val images, but the dataset has 3"):
        evaluate(
            RealImages(),
            protocol="pix2pix-2017",
            data_root=str(cityscapes),
            run=RunSpec(progress=False),
        )


def test_fifty_port_images_get_the_num_test_hint(
    cityscapes: Path, env: dict, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    from p2pbench.evaluation.sources import open_source
    from p2pbench.protocols import get_protocol

    ids = [f"id{n}" for n in range(500)]
    dataset = SimpleNamespace(frame_index={i: n for n, i in enumerate(ids)}, sample_ids=ids)
    for n in range(50):
        Image.new("RGB", (256, 256)).save(tmp_path / f"{n}_fake_B.png")
    with pytest.raises(FileNotFoundError, match="--num_test 500"):
        open_source(
            ImageFolder(str(tmp_path), naming="port"),
            get_protocol("pix2pix-2017"),
            dataset,
            list(dataset.frame_index),
            seed=0,
            device=torch.device("cpu"),
        )
