"""The bad-input matrix: a careless user's mistakes on every command end in exit status 2 (or 1
for a required metric that cannot be computed) with a one-line `Error:` saying what to do, no
traceback, before any work, and with every input file unchanged."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2pbench.cli import main
from p2pbench.data.synthcity import write_synthcity
from p2pbench.evaluation import RealImages, RunSpec, ScoreSpec, evaluate
from reference_models import GeneratorConfig, build_generator, save_generator


def _pair(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _bomb_png(path: Path, side: int = 40_000) -> None:
    """A valid 1×1 PNG whose header claims side×side pixels: Pillow's decompression-bomb guard."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data[12:29]  # chunk type + 13 bytes of header data
    ihdr[4:12] = struct.pack(">II", 2 * side, side)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    ckpt = root / "g.pt"
    save_generator(ckpt, build_generator("unet64", seed=3, ngf=4), "unet64", GeneratorConfig(ngf=4))
    result = root / "result.json"
    evaluate(
        RealImages(),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=2, metrics=("fcn",)),
        run=RunSpec(progress=False),
    ).write(result)
    data = json.loads(result.read_text())
    data["metrics"]["class_iou"] = 1e999  # json reads this as infinity
    nan = root / "inf.json"
    nan.write_text(json.dumps(data).replace("Infinity", "1e999"))
    aligned = root / "aligned"
    write_synthcity(aligned, 32, 2, 2, 0)
    rng = np.random.default_rng(0)
    for name, make in {
        "truncated": lambda p: p.write_bytes((aligned / "val" / "000000.png").read_bytes()[:60]),
        "bomb": _bomb_png,
        "sixteen": lambda p: _pair(p, rng.integers(0, 65535, (8, 16), dtype=np.uint16)),
        "notpair": lambda p: _pair(p, rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)),
    }.items():
        for split in ("train", "val"):
            folder = root / name / split
            folder.mkdir(parents=True)
            make(folder / "x.png")
    run = root / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(ckpt.read_bytes())
    (run / "config.json").write_text("{}")
    text = root / "notes.txt"
    text.write_text("not a model\n")
    classes = root / "classes.json"  # a colour no synthcity label map uses
    classes.write_text(json.dumps({"classes": [{"name": "x", "color": [1, 2, 3]}]}))
    return {
        "root": root,
        "ckpt": ckpt,
        "result": result,
        "inf": nan,
        "aligned": aligned,
        "run": run,
        "text": text,
        "classes": classes,
        **{n: root / n for n in ("truncated", "bomb", "sixteen", "notpair")},
    }


CASES = [
    # data synth
    (["data", "synth", "--out", "{aligned}", "--size", "32"], 2, r"not empty|exists"),
    (["data", "synth", "--out", "{text}", "--size", "32"], 2, r"is a file"),
    (["data", "synth", "--out", "{out}", "--size", "100"], 2, r"Invalid value for '--size'"),
    (["data", "synth", "--out", "{out}", "--n-val", "-1"], 2, r"Invalid value for '--n-val'"),
    # train
    (["train", "--out", "{run}", "--quiet"], 2, r"already holds a run"),
    (["train", "--out", "{out}", "--batch-size", "0"], 2, r"batch_size must be at least 1"),
    (["train", "--out", "{out}", "--gen", "unet999"], 2, r"Invalid value for '--gen'"),
    (["train", "--out", "{out}", "--gen", "unet64", "--size", "100"], 2, r"multiple of 64"),
    (["train", "--out", "{out}", "--device", "cuda"], 2, r"no CUDA GPU"),
    (["train", "--out", "{out}", "--lambda-l1", "-1"], 2, r"lambda_l1 must be"),
    (["train", "--out", "{out}", "--loss", "gan", "--lambda-l1", "50"], 2, r"no effect"),
    (["train", "--out", "{out}", "--data", "{aligned}", "--n-train", "5"], 2, r"synthcity"),
    (
        [
            "train",
            "--out",
            "{out}",
            "--data",
            "{truncated}",
            "--gen",
            "unet32",
            "--disc",
            "patch16",
            "--quiet",
        ],
        2,
        r"cannot read image",
    ),
    (["train", "--out", "{text}/run"], 2, r"is a file"),
    (["train", "--out", "{out}", "--seed", "-1"], 2, r"seed must be in \[0, 2\*\*32 - 1"),
    (["train", "--out", "{out}", "--seed", "99999999999999999999"], 2, r"seed must be in"),
    # ablate
    (["ablate", "receptive-field", "--out", "{out}", "--steps", "0"], 2, r"steps must be"),
    (["ablate", "receptive-field", "--out", "{out}", "--seeds", "0,x"], 2, r"comma-separated"),
    (["ablate", "receptive-field", "--out", "{out}", "--seeds", "1,1"], 2, r"distinct"),
    (["ablate", "receptive-field", "--out", "{out}", "--size", "64"], 2, r"does not match"),
    (["ablate", "nope", "--out", "{out}"], 2, r"Invalid value for 'PLAN'"),
    (["ablate", "loss", "--out", "{out}", "--steps", "1", "--epochs", "1"], 2, r"not both"),
    (["ablate", "loss", "--out", "{out}", "--launcher", "slurm"], 2, r"--slurm-partition"),
    (["ablate", "loss", "--out", "{out}", "--slurm-partition", "p"], 2, r"--launcher slurm"),
    (["ablate", "loss", "--out", "{text}", "--steps", "1"], 2, r"is a file|not a folder"),
    (["ablate", "loss", "--out", "{out}", "--device", "cuda"], 2, r"no CUDA GPU"),
    (["ablate", "loss", "--out", "{out}", "--seeds", "-1"], 2, r"seed must be in"),
    (["ablate", "loss", "--out", "{out}", "--seeds", "99999999999999999999"], 2, r"seed must be"),
    (["ablate", "loss", "--out", "{out}", "--ngf", "0"], 2, r"ngf must be at least 1"),
    (["ablate", "loss", "--out", "{out}", "--ndf", "0"], 2, r"ndf must be at least 1"),
    (["ablate", "loss", "--out", "{out}", "--batch-size", "0"], 2, r"batch_size must be"),
    (["ablate", "loss", "--out", "{out}", "--n-train", "0"], 2, r"n_train must be"),
    (["ablate", "loss", "--out", "{out}", "--slurm-gpus", "2"], 2, r"--slurm-gpus has no effect"),
    (["ablate", "loss", "--out", "{out}", "--slurm-time", "9"], 2, r"--slurm-time has no effect"),
    (["ablate", "loss", "--out", "{out}", "--slurm-account", "a"], 2, r"--slurm-account has no"),
    (["demo", "--out", "{out}", "--steps", "0"], 2, r"steps must be at least 1"),
    (["demo", "--out", "{out}", "--ngf", "0"], 2, r"ngf must be at least 1"),
    (["demo", "--out", "{out}", "--seeds", "5,5"], 2, r"distinct"),
    (["report", "{out}", "--out", "{out}/r.html"], 2, r"not exist|no such|not found"),
    (["report", "{text}"], 2, r"is a file|not a directory|does not exist"),
    (["report", "{aligned}", "--out", "{ckpt}"], 2, r"overwrite|exists|is a file|\.html"),
    # eval
    (["eval", "--real", "--data", "synthcity@v1", "--limit", "0"], 2, r"limit must be at least 1"),
    (["eval", "--real", "--data", "synthcity@v1", "--batch-size", "0"], 2, r"batch size"),
    (["eval", "--real", "--data", "synthcity@v1", "--seed", "-1"], 2, r"seed must be in"),
    (["eval", "--real", "--data", "synthcity@v1", "--cmmd-crop", "squash"], 2, r"no effect"),
    (["eval", "--real", "--data", "synthcity@v1", "--cmmd-precision", "float32"], 2, r"no effect"),
    (["eval", "--real", "--data", "synthcity@v1", "--dinov2-mode", "edm2"], 2, r"no effect"),
    (["eval", "--real", "--data", "synthcity@v1", "--prdc-encoder", "dinov2-vitb14"], 2, r"effect"),
    (
        ["eval", "--real", "--data", "synthcity@v1", "--fid-mode", "clean", "--metrics", "fcn"],
        2,
        r"--fid-mode has no effect",
    ),
    (
        [
            "eval",
            "--real",
            "--data",
            "synthcity@v1",
            "--metrics",
            "cmmd",
            "--encoder-weights",
            "clip-vitl14-336={text}",
        ],
        2,
        r"weights given for clip-vitl14-336.*cannot be used",
    ),
    (
        [
            "eval",
            "--real",
            "--data",
            "synthcity@v1",
            "--metrics",
            "inception",
            "--inception-weights",
            "{text}",
        ],
        2,
        r"InceptionV3 weights given.*cannot be used",
    ),
    (
        [
            "eval",
            "--real",
            "--data",
            "synthcity@v1",
            "--metrics",
            "dinov2",
            "--encoder-weights",
            "dinov2-vitl14",
        ],
        2,
        r"NAME=PATH",
    ),
    (["eval", "--real", "--data", "synthcity@v1", "--metrics", "fcn,nope"], 2, r"nope"),
    (["eval", "--real", "--data", "synthcity@v1", "--device", "cuda"], 2, r"no CUDA GPU"),
    (["eval", "--real", "--data", "synthcity@v1", "--direction", "AtoB"], 2, r"no effect"),
    (["eval", "--gen", "{ckpt}", "--data", "synthcity@v1", "--naming", "port"], 2, r"no effect"),
    (["eval", "--gen", "{ckpt}", "--real", "--data", "synthcity@v1"], 2, r"exactly one of"),
    (["eval", "--real", "--protocol", "nope"], 2, r"Invalid value for '--protocol'"),
    (["eval", "--real", "--data", "nowhere"], 2, r"nowhere"),
    (["eval", "--gen", "{ckpt}", "--data", "synthcity@v1", "--out", "{ckpt}"], 2, r"overwrite"),
    (["eval", "--real", "--data", "synthcity@v1", "--out", "{text}/r.json"], 2, r"is a file"),
    (["eval", "--real", "--data", "synthcity@v1", "--require", "fid"], 1, r"--require fid"),
    (["eval", "--real", "--data", "synthcity@v1", "--require", "psnr"], 2, r"not computed"),
    (["eval", "--gen", "{result}", "--data", "synthcity@v1"], 2, r"as a PyTorch file"),
    (["eval", "--gen", "{text}", "--data", "synthcity@v1"], 2, r"as a PyTorch file"),
    (["eval", "--real", "--data", "{truncated}", "--quiet"], 2, r"cannot read image"),
    (["eval", "--real", "--data", "{bomb}", "--quiet"], 2, r"decompression bomb|exceeds limit"),
    (["eval", "--real", "--data", "{sixteen}", "--quiet"], 2, r"truncated to 8 bits"),
    (["eval", "--real", "--data", "{notpair}", "--quiet"], 2, r"not an aligned pair"),
    (
        ["eval", "--images", "{root}", "--data", "synthcity@v1", "--quiet"],
        2,
        r"expected 100 images",
    ),
    # generate
    (["generate", "--data", "synthcity@v1", "--out", "{out}"], 2, r"--gen"),
    (
        ["generate", "--gen", "{ckpt}", "--data", "synthcity@v1", "--limit", "0", "--out", "{out}"],
        2,
        r"limit must be at least 1",
    ),
    (
        ["generate", "--gen", "{ckpt}", "--data", "synthcity@v1", "--out", "{aligned}"],
        2,
        r"not empty|exists",
    ),
    (
        ["generate", "--gen", "{ckpt}", "--data", "{aligned}", "--out", "{aligned}/val/x"],
        2,
        r"overwrite or mix",
    ),
    (["generate", "--gen", "{ckpt}", "--data", "synthcity@v1", "--out", "{ckpt}"], 2, r"is a file"),
    (
        [
            "generate",
            "--gen",
            "{ckpt}",
            "--data",
            "synthcity@v1",
            "--out",
            "{aligned}",
            "--overwrite",
        ],
        2,
        r"not written by generate|generate.json|did not write",
    ),
    # table
    (["table", "{root}/missing.json"], 2, r"not found"),
    (["table", "{inf}"], 2, r"non-finite"),
    (["table", "{ckpt}"], 2, r"not a p2pbench result: it is binary"),
    (["table", "{result}", "--reference", "nope:table1"], 2, r"reference 'nope:table1'"),
    (["table", "{result}", "--out", "{result}"], 2, r"overwrite"),
    (["table", "{result}", "--format", "docx"], 2, r"Invalid value for '--format'"),
    # check
    (["check", "{result}", "--baseline", "{root}/none.json"], 2, r"baseline not found"),
    (["check", "{inf}", "--baseline", "{out}", "--update-baseline"], 2, r"non-finite"),
    (["check", "{result}", "--baseline", "{result}", "--junit", "{text}/j.xml"], 2, r"is a file"),
    (["check", "{result}", "--baseline", "{result}", "--tol", "iou"], 2, r"METRIC=ABS"),
    (["check", "{result}", "--baseline", "{result}", "--update-baseline"], 2, r"overwrite"),
    # fid, stats
    (["fid", "{root}/none", "{root}/none2"], 2, r"does not exist"),
    (["fid", "{aligned}", "{aligned}", "--device", "cuda"], 2, r"no CUDA GPU"),
    (["fid", "{aligned}/val", "{aligned}/val"], 1, r"needs InceptionV3 weights"),
    (["stats", "--out", "{out}.npz"], 2, r"either SOURCE or --protocol"),
    (["stats", "--protocol", "synthcity@v1", "--out", "{out}.npz"], 1, r"needs InceptionV3"),
    (["stats", "{aligned}", "--out", "{text}/s.npz"], 2, r"is a file"),
    (["fid", "{aligned}/val", "{aligned}/val", "--batch-size", "0"], 2, r"'--batch-size'"),
    (
        ["stats", "--protocol", "synthcity@v1", "--batch-size", "0", "--out", "{out}.npz"],
        2,
        r"'--batch-size'",
    ),
    # fcn, models, the group
    (["fcn", "convert", "{text}"], 2, r"537,896,724 bytes|caffemodel"),
    (["fcn", "train", "--out", "{out}.pt", "--device", "cuda"], 2, r"no CUDA GPU"),
    (["fcn", "train", "--out", "{text}/w.pt"], 2, r"is a file"),
    (["fcn", "train", "--out", "{out}.pt", "--lr", "0.1"], 2, r"--lr has no effect"),
    (["fcn", "train", "--out", "{out}.pt", "--steps", "0"], 2, r"steps must be at least 1"),
    (["fcn", "train", "--out", "{out}.pt", "--seed", "-1"], 2, r"seed must be in"),
    (["fcn", "train", "--out", "{out}.pt", "--seed", "99999999999999999999"], 2, r"seed must be"),
    (
        [
            "fcn",
            "train",
            "--out",
            "{out}.pt",
            "--data",
            "{aligned}",
            "--classes",
            "{classes}",
            "--batch-size",
            "0",
        ],
        2,
        r"batch size must be at least 1",
    ),
    (
        [
            "fcn",
            "train",
            "--out",
            "{out}.pt",
            "--data",
            "{aligned}",
            "--classes",
            "{classes}",
            "--lr",
            "0",
        ],
        2,
        r"learning rate must be a finite number > 0",
    ),
    (
        [
            "fcn",
            "train",
            "--out",
            "{out}.pt",
            "--data",
            "{aligned}",
            "--classes",
            "{classes}",
            "--lr",
            "inf",
        ],
        2,
        r"learning rate must be a finite number > 0",
    ),
    (
        [
            "fcn",
            "train",
            "--out",
            "{out}.pt",
            "--data",
            "{aligned}",
            "--classes",
            "{classes}",
            "--steps",
            "0",
        ],
        2,
        r"steps must be at least 1",
    ),
    (["fcn", "train", "--out", "{out}.pt", "--data", "{aligned}"], 2, r"give --classes"),
    (["fcn", "train", "--out", "{out}.pt", "--data", "{root}/none"], 2, r"is not a folder"),
    (
        [
            "fcn",
            "train",
            "--out",
            "{out}.pt",
            "--data",
            "{aligned}",
            "--segmenter",
            "fcn8s-synthcity64",
        ],
        2,
        r"give one of them",
    ),
    (
        ["fcn", "train", "--out", "{out}.pt", "--data", "{aligned}", "--classes", "{text}"],
        2,
        r"not valid JSON",
    ),
    (
        ["fcn", "train", "--out", "{out}.pt", "--data", "{aligned}", "--classes", "{classes}"],
        2,
        r"match no class colour.*more than 5%",
    ),
    (
        ["eval", "--real", "--data", "{aligned}", "--segmenter-weights", "{ckpt}"],
        2,
        r"p2pbench-fcn8s-weights",
    ),
    (["models", "--bogus"], 2, r"No such option"),
    (["evaluate"], 2, r"No such command"),
]


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(("argv", "code", "pattern"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_clear_line(
    inputs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    code: int,
    pattern: str,
) -> None:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("P2PBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.chdir(tmp_path)
    names = {k: str(v) for k, v in inputs.items()} | {"out": str(tmp_path / "out")}
    args = [a.format(**names) for a in argv]
    before = _snapshot(inputs["root"])
    res = CliRunner().invoke(main, args)
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert re.search(pattern, errors[0]), errors[0]
    assert _snapshot(inputs["root"]) == before, "an input file was changed"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
