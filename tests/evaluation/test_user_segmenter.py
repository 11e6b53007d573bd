"""FCN-score on users' own data: `fcn train --data DIR` writes a segmenter that records its class
table and data hash, and `eval --data DIR --segmenter-weights FILE` scores with it.

The data: 8 + 4 aligned pairs of 64×128 PNGs, B a 3-class colour label map (a few pixels in no
class colour), A a noisy rendering of it. The segmenter is tiny (widths / 16) and trained for a
few steps: these tests check the plumbing and the arithmetic, not the segmenter's quality.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from reference import fake_cityscapes

from fcn.fcn8s import predict
from fcn.weights import load_fcn8s, read_converted
from p2pbench.base import sha256_file
from p2pbench.cli import main
from p2pbench.evaluation import RealImages, ScoreSpec, evaluate
from p2pbench.evaluation.segmenters import WEIGHTS_DIR
from p2pbench.protocols import PROTOCOLS, user_fcn_protocol
from p2pbench.train.segmenter_data import cityscapes_segmentation_data

CLASSES = [
    {"name": "road", "color": [128, 64, 128]},
    {"name": "building", "color": [70, 70, 70]},
    {"name": "sky", "color": [70, 130, 180], "train_id": 10},
]
TRAIN_IDS = (0, 1, 10)
PHOTO = np.array([(90, 90, 90), (170, 70, 40), (120, 170, 240)], dtype=np.float64)
UNKNOWN = (0, 0, 0)  # a 4×4 patch per label map: 16 of 4096 pixels
H = 64


def _write_pairs(folder: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    colours = np.array([c["color"] for c in CLASSES], dtype=np.uint8)
    for i in range(n):
        y = np.arange(H)[:, None]
        horizon, ground = rng.integers(12, 28), rng.integers(36, 52)
        classes = np.where(y < horizon, 2, np.where(y < ground, 1, 0)) * np.ones((1, H), int)
        for _ in range(3):  # a few blocks of random classes
            top, left = rng.integers(0, H - 16, 2)
            classes[top : top + 16, left : left + 16] = rng.integers(0, 3)
        label = colours[classes]
        photo = np.clip(PHOTO[classes] + rng.normal(0, 20, (H, H, 3)), 0, 255).astype(np.uint8)
        top, left = rng.integers(0, H - 4, 2)
        label[top : top + 4, left : left + 4] = UNKNOWN
        Image.fromarray(np.concatenate([photo, label], axis=1)).save(folder / f"{i:03d}.png")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a busy 2-core machine two threads stall each other (~30×)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("user")
    folder = root / "mydata"
    _write_pairs(folder / "train", 8, seed=0)
    _write_pairs(folder / "val", 4, seed=1)
    classes = root / "classes.json"
    classes.write_text(json.dumps({"classes": CLASSES}))
    return {"root": root, "folder": folder, "classes": classes}


def _train(data: dict[str, Path], out: Path, *extra: str) -> str:
    args = ["fcn", "train", "--data", str(data["folder"]), "--classes", str(data["classes"])]
    args += ["--steps", "30", "--size", "64", "--width-divisor", "16", "--batch-size", "2"]
    res = CliRunner().invoke(main, [*args, "--quiet", "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def weights(data: dict[str, Path]) -> Path:
    out = data["root"] / "w.pt"
    output = _train(data, out)
    assert f"{out}  sha256 {sha256_file(out)}" in output
    assert "128 of 32,768 label pixels (0.39%) match no class colour" in output
    assert f"next: p2pbench eval --gen G.pt --data {data['folder']} --segmenter-weights" in output
    return out


def _data_sha256(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for rel in sorted(f.relative_to(root).as_posix() for f in files):
        h.update(
            rel.encode()
            + b"\0"
            + hashlib.sha256((root / rel).read_bytes()).hexdigest().encode()
            + b"\n"
        )
    return h.hexdigest()


def test_weights_record_classes_data_hash_and_recipe(data: dict, weights: Path) -> None:
    w = read_converted(weights)
    recipe = w.source["trained"]
    assert recipe["classes"] == [
        {"name": c["name"], "train_id": t, "color": c["color"]}
        for c, t in zip(CLASSES, TRAIN_IDS, strict=True)
    ]
    files = sorted((data["folder"] / "train").glob("*.png"))
    assert recipe["data_sha256"] == _data_sha256(data["folder"], files)
    assert (recipe["data"], recipe["data_name"], recipe["split"]) == ("aligned", "mydata", "train")
    assert (recipe["labels_side"], recipe["size"], recipe["n_train"]) == ("B", 64, 8)
    assert (recipe["unknown_label_pixels"], recipe["label_pixels"]) == (128, 8 * 64 * 64)
    assert (recipe["steps"], recipe["batch_size"], recipe["width_divisor"]) == (30, 2, 16)
    assert w.architecture.num_classes == 3 and w.architecture.channels == (4, 8, 16, 32, 32)


def test_the_protocol_comes_from_the_folder_and_the_weights(
    data: dict, weights: Path, tmp_path: Path
) -> None:
    p = user_fcn_protocol(str(data["folder"]), weights)
    assert (p.name, p.key, p.task, p.dataset, p.split) == (
        "fcn-mydata",
        "fcn-mydata@v1",
        "labels2photo",
        "aligned",
        "val",
    )
    assert (p.image_size, p.expected_images, p.score_resize, p.direction) == (64, 4, "none", "BtoA")
    assert p.segmenter == f"file:{sha256_file(weights)}"
    assert p.class_names == ("road", "building", "sky") and p.class_train_ids == TRAIN_IDS
    assert p.class_colours == tuple(tuple(c["color"]) for c in CLASSES)
    moved = tmp_path / "mydata"
    moved.symlink_to(data["folder"])
    assert user_fcn_protocol(str(moved), weights).digest() == p.digest()  # data_path: not in it
    assert p.key not in PROTOCOLS.names()  # nothing registered


def _independent_scores(folder: Path, weights: Path) -> tuple[float, np.ndarray]:
    """Per-pixel accuracy and the confusion matrix from the segmenter's argmax, in numpy."""
    files = sorted((folder / "val").glob("*.png"))
    pairs = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    photos = torch.from_numpy(pairs[:, :, :H].copy()).permute(0, 3, 1, 2)
    pred = predict(load_fcn8s(weights), photos).numpy()
    index = {tuple(c["color"]): i for i, c in enumerate(CLASSES)}
    labels = np.array(
        [[[index.get(tuple(px), 255) for px in row] for row in p[:, H:]] for p in pairs]
    )
    valid = labels < 3
    hist = np.zeros((3, 3), np.int64)
    np.add.at(hist, (labels[valid], pred[valid]), 1)
    return float(np.trace(hist) / (hist.sum() + 1e-12)), hist


def test_eval_real_gives_fcn_score_as_numpy_does(data: dict, weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = CliRunner().invoke(
        main,
        ["eval", "--real", "--data", str(data["folder"]), "--segmenter-weights", str(weights)]
        + ["--metrics", "fcn", "--quiet", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    acc, hist = _independent_scores(data["folder"], weights)
    assert r["metrics"]["per_pixel_acc"] == pytest.approx(acc, abs=1e-9)
    assert set(r["metrics"]["per_class"]) == {"road", "building", "sky"}
    for i, name in enumerate(("road", "building", "sky")):
        expected = hist[i, i] / (hist[i].sum() + 1e-12)
        assert r["metrics"]["per_class"][name]["acc"] == pytest.approx(expected, abs=1e-9)
    assert r["counts"]["pixels_ignored"] == 4 * 16  # the unknown-colour patches
    assert r["counts"]["pixels_scored"] == int(hist.sum())
    assert r["protocol"]["segmenter"] == f"file:{sha256_file(weights)}"
    assert r["protocol"]["class_colours"] == [c["color"] for c in CLASSES]
    described = r["provenance"]["segmenter"]
    assert described["sha256"] == sha256_file(weights) and not described["official"]
    assert described["trained"]["data_name"] == "mydata"


def _eval_json(*args: str) -> dict:
    res = CliRunner().invoke(main, ["eval", *args, "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_generator_images_and_paired_metrics_on_the_protocol(
    data: dict, weights: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    folder, w, gen = str(data["folder"]), str(weights), str(tiny_checkpoint)
    metrics = ["--metrics", "fcn,paired", "--batch-size", "3"]
    from_gen = _eval_json("--gen", gen, "--data", folder, "--segmenter-weights", w, *metrics)
    out = tmp_path / "outputs"
    res = CliRunner().invoke(
        main,
        ["generate", "--gen", gen, "--data", folder, "--segmenter-weights", w, "--quiet"]
        + ["--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    from_images = _eval_json("--images", str(out), "--data", folder, "--segmenter-weights", w)
    assert from_gen["protocol"]["key"] == from_images["protocol"]["key"] == "fcn-mydata@v1"
    assert {"per_pixel_acc", "class_iou", "per_class", "l1", "psnr", "ssim"} <= set(
        from_gen["metrics"]
    )
    for key in ("per_pixel_acc", "per_class_acc", "class_iou", "l1", "psnr", "ssim"):
        assert from_images["metrics"][key] == pytest.approx(from_gen["metrics"][key], rel=1e-9)
    # paired metrics as on the plain aligned protocol (same pairs, same direction)
    aligned = _eval_json(
        "--gen", gen, "--data", folder, "--direction", "BtoA", "--metrics", "paired"
    )
    assert aligned["protocol"]["key"] == "aligned-mydata@v1"
    for key in ("l1", "psnr", "ssim"):
        assert from_gen["metrics"][key] == pytest.approx(aligned["metrics"][key], rel=1e-9)


def test_weights_other_than_the_protocols_are_refused(
    data: dict, weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = torch.load(weights, weights_only=True)
    payload["source"]["trained"]["seed"] = 1  # another file, same table
    other = tmp_path / "other.pt"
    torch.save(payload, other)
    protocol = user_fcn_protocol(str(data["folder"]), weights)
    with pytest.raises(ValueError, match="the protocol was built from weights with sha256"):
        evaluate(RealImages(), protocol=protocol, score=ScoreSpec(segmenter_weights=str(other)))
    with pytest.raises(ValueError, match="pass it with --segmenter-weights"):
        evaluate(RealImages(), protocol=protocol, score=ScoreSpec(metrics=("fcn",)))
    # a protocol recorded from one file, scored with another: exit 2, one line
    monkeypatch.setattr("p2pbench.cli.eval_checks.resolve", lambda *a, **k: protocol)
    res = CliRunner().invoke(
        main,
        ["eval", "--real", "--data", str(data["folder"]), "--segmenter-weights", str(other)]
        + ["--metrics", "fcn", "--quiet"],
    )
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert re.search(r"^Error: segmenter weights .* have sha256", res.output, re.M)


def _bad_data(root: Path) -> dict[str, Path]:
    """Folders and class tables a careless user gives."""
    bad = root / "bad"
    if bad.exists():
        return {p.stem: p for p in bad.iterdir()}
    bad.mkdir()
    jpeg = bad / "jpeg"
    (jpeg / "train").mkdir(parents=True)
    for f in sorted((root / "mydata" / "train").glob("*.png"))[:3]:
        Image.open(f).save(jpeg / "train" / f"{f.stem}.jpg", quality=70)
    tables = {
        "dupcolour": [CLASSES[0], {"name": "road2", "color": [128, 64, 128]}],
        "dupname": [CLASSES[0], {"name": "road", "color": [1, 2, 3]}],
        "badcolour": [{"name": "road", "color": [128, 64]}],
        "badid": [{"name": "road", "color": [1, 2, 3], "train_id": 255}],
    }
    for name, classes in tables.items():
        (bad / f"{name}.json").write_text(json.dumps({"classes": classes}))
    (bad / "notjson.json").write_text("{classes: road}")
    return {p.stem: p for p in bad.iterdir()}


BAD = [
    (["--classes", "{dupcolour}"], r"duplicate class colour \(128, 64, 128\)"),
    (["--classes", "{dupname}"], r"duplicate class name 'road'"),
    (["--classes", "{badcolour}"], r"'color' must be \[R, G, B\]"),
    (["--classes", "{badid}"], r"'train_id' must be an integer 0..254"),
    (["--classes", "{notjson}"], r"not valid JSON"),
    (["--classes", "{root}/none.json"], r"class table .*none.json not found"),
    (["--classes", "{classes}", "--labels-side", "A"], r"match no class colour.*more than 5%"),
    (["--classes", "{classes}", "--split", "test"], r"split folder .*test.* does not exist"),
    (["--classes", "{classes}", "--size", "60"], r"multiple of 8 and at least 32"),
    (["--classes", "{classes}", "--size", "16"], r"multiple of 8 and at least 32"),
    (["--classes", "{classes}", "--channels", "4,8"], r"six widths"),
    (["--classes", "{classes}", "--width-divisor", "3"], r"width divisor must divide"),
    (["--classes", "{classes}", "--width-divisor", "8", "--channels", "1,2,3,4,5,6"], r"not both"),
    (["--classes", "{classes}", "--segmenter", "fcn8s-synthcity64"], r"give one of them"),
    (["--classes", "{classes}", "--data-root", "{root}"], r"--data-root has no effect"),
    (["--classes", "{classes}", "--steps", "0"], r"steps must be at least 1"),
    ([], r"aligned folder: give --classes FILE.json"),
]


@pytest.mark.parametrize(("extra", "pattern"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_training_input_is_one_clear_line(
    data: dict, tmp_path: Path, extra: list[str], pattern: str
) -> None:
    names = {k: str(v) for k, v in {**data, **_bad_data(data["root"])}.items()}
    args = ["fcn", "train", "--data", str(data["folder"]), "--out", str(tmp_path / "w.pt")]
    res = CliRunner().invoke(main, [*args, "--quiet", *(a.format(**names) for a in extra)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert re.search(pattern, errors[0]), errors[0]
    assert not (tmp_path / "w.pt").exists()


def test_jpeg_label_maps_are_refused_naming_their_colours(data: dict, tmp_path: Path) -> None:
    jpeg = _bad_data(data["root"])["jpeg"]
    res = CliRunner().invoke(
        main,
        ["fcn", "train", "--data", str(jpeg), "--classes", str(data["classes"]), "--quiet"]
        + ["--out", str(tmp_path / "w.pt")],
    )
    assert res.exit_code == 2, res.output
    assert re.search(r"match no class colour and are ignored \(top: \(\d+, \d+, \d+\) ", res.output)
    assert "lossless (PNG, not JPEG)" in res.output


def test_eval_with_weights_that_define_no_classes_is_refused(data: dict) -> None:
    shipped = WEIGHTS_DIR / "fcn8s-synthcity64.pt"
    res = CliRunner().invoke(
        main,
        ["eval", "--real", "--data", str(data["folder"]), "--segmenter-weights", str(shipped)],
    )
    assert res.exit_code == 2, res.output
    assert "records no class table" in res.output and "fcn train --data" in res.output


def test_cityscapes_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cs"
    fake_cityscapes.make_tree(root, "train")
    lut = np.full(256, 255, np.uint8)
    for label_id, train_id in fake_cityscapes.OFFICIAL.items():
        lut[label_id] = train_id
    first = sorted(root.glob("gtFine/train/*/*_labelIds.png"))[0]
    train_ids = lut[np.asarray(Image.open(first))]
    train_ids[:8] = 255  # differs from the labelIds: the trainId file must win
    trainid_file = first.with_name(first.name.replace("labelIds", "labelTrainIds"))
    Image.fromarray(train_ids).save(trainid_file)

    seg = cityscapes_segmentation_data(root, split="train", size=32, progress=False)
    assert seg.images.shape == (3, 3, 32, 32) and seg.labels.shape == (3, 32, 32)
    expected = np.asarray(Image.fromarray(train_ids).resize((32, 32), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(seg.labels[0].numpy(), expected)  # trainIds 0..18 = indices
    photo = Image.open(sorted(root.glob("leftImg8bit/train/*/*.png"))[0]).convert("RGB")
    small = np.asarray(photo.resize((32, 32), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(seg.images[0].permute(1, 2, 0).numpy(), small)

    out = tmp_path / "w.pt"
    args = [
        "fcn",
        "train",
        "--size",
        "32",
        "--steps",
        "1",
        "--batch-size",
        "1",
        "--width-divisor",
        "16",
    ]
    args += ["--quiet"]
    res = CliRunner().invoke(main, [*args, "--data", str(root), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "--protocol pix2pix-2017-fast --segmenter-weights" in res.output
    w = read_converted(out)
    recipe = w.source["trained"]
    assert w.architecture.num_classes == 20  # the official network's shape
    assert recipe["data"] == "cityscapes" and recipe["n_train"] == 3 and recipe["size"] == 32
    assert len(recipe["classes"]) == 19
    assert recipe["classes"][0] == {"name": "road", "train_id": 0, "color": [128, 64, 128]}
    used = [*root.glob("leftImg8bit/train/*/*.png"), trainid_file]
    used += [p for p in root.glob("gtFine/train/*/*_labelIds.png") if p != first]
    assert recipe["data_sha256"] == _data_sha256(root, used)

    monkeypatch.setenv("CITYSCAPES_DATASET", str(root))
    named = tmp_path / "named.pt"
    res = CliRunner().invoke(main, [*args, "--data", "cityscapes", "--out", str(named)])
    assert res.exit_code == 0, res.output
    assert read_converted(named).source["trained"]["data_sha256"] == recipe["data_sha256"]
    res = CliRunner().invoke(
        main,
        [*args, "--data", str(root), "--classes", "c.json", "--out", str(tmp_path / "x.pt")],
    )
    assert res.exit_code == 2 and "--classes has no effect" in res.output
