"""Result files made by the real evaluation code (synthcity, 4 images), once per session."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from p2pbench.evaluation import GeneratorFile, RealImages, RunSpec, ScoreSpec, evaluate
from reference_models import GeneratorConfig, build_generator, save_generator

LIMIT = 4


@pytest.fixture(scope="session")
def result_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`real` (the Ground-truth row) and an untrained unet64 scored with seeds 0 and 1."""
    root = tmp_path_factory.mktemp("results")
    checkpoint = root / "g.pt"
    save_generator(
        checkpoint, build_generator("unet64", seed=3, ngf=4), "unet64", GeneratorConfig(ngf=4)
    )
    score = ScoreSpec(limit=LIMIT, metrics=("fcn",))
    runs = {
        "real": (RealImages(), RunSpec(progress=False)),
        **{
            f"seed{seed}": (GeneratorFile(str(checkpoint)), RunSpec(seed=seed, progress=False))
            for seed in (0, 1)
        },
    }
    names = {"real": "real.json", "seed0": "tiny_unet.seed0.json", "seed1": "tiny_unet.seed1.json"}
    files = {}
    for key, (source, run) in runs.items():
        files[key] = root / names[key]
        evaluate(source, protocol="synthcity@v1", score=score, run=run).write(files[key])
    return files


Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def modified(tmp_path: Path) -> Callable[[Path, str, Edit], Path]:
    """`modified(src, name, edit)`: a copy of result `src` in tmp_path, changed by `edit`."""

    def make(src: Path, name: str, edit: Edit) -> Path:
        data = json.loads(src.read_text(encoding="utf-8"))
        edit(data)
        out = tmp_path / name
        out.write_text(json.dumps(data, indent=2), encoding="utf-8")
        return out

    return make
