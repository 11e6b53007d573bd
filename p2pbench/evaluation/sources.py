"""Where the images that get scored come from: a generator, a folder of PNGs, or the real photos.

Every source turns a batch of samples into uint8 N×3×H×W RGB tensors at the protocol's image
size, with the single rounding rule of `p2pbench.data.quantize_uint8`, so a generator's outputs
scored in memory and the same outputs written by `p2pbench generate` and read back score
identically.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from p2pbench.data import Batch, quantize_uint8
from reference_models import LoadedGenerator, translate


class MissingImagesError(FileNotFoundError):
    """The image folder does not hold exactly the expected images; the message lists them."""


@dataclass
class GeneratorSource:
    """Outputs of a generator in a test-time mode, dropout seeded per (seed, sample id)."""

    loaded: LoadedGenerator
    mode: str
    seed: int
    device: torch.device

    def __post_init__(self) -> None:
        self.loaded.module.to(self.device)

    def images(self, batch: Batch) -> torch.Tensor:
        out = translate(
            self.loaded.module,
            batch.input.to(self.device),
            mode=self.mode,
            sample_ids=batch.sample_ids,
            seed=self.seed,
        )
        return quantize_uint8(out).cpu()

    def describe(self) -> dict[str, Any]:
        lg = self.loaded
        return {
            "kind": "generator",
            "name": lg.name,
            "format": lg.source_format,
            "sha256": lg.sha256,
            "config": vars_of(lg.config),
            "notes": list(lg.notes),
            "test_time_mode": self.mode,
            **({"run": lg.run, "step": lg.step} if lg.run else {}),
        }


def vars_of(config: Any) -> dict[str, Any]:
    return {k: getattr(config, k) for k in config.__dataclass_fields__}


@dataclass
class RealSource:
    """The real target photos through the same pipeline: the paper's Ground-truth row."""

    resize: str

    def images(self, batch: Batch) -> torch.Tensor:
        return quantize_uint8(batch.target)

    def describe(self) -> dict[str, Any]:
        return {"kind": "real", "resize": self.resize}


@dataclass
class FolderSource:
    """PNG images generated elsewhere, one per sample, named by `names[sample_id]`."""

    folder: Path
    names: dict[str, str]
    size: int
    naming: str
    missing: list[str] = field(default_factory=list)

    def check(self, allow_missing: bool) -> list[str]:
        """Check every expected image up front; returns the ids missing (allowed) or raises."""
        if not self.folder.is_dir():
            raise MissingImagesError(f"image folder not found: {self.folder}")
        present = {p.name for p in self.folder.iterdir() if p.suffix.lower() == ".png"}
        if self.naming == "port":  # the port also writes <n>_real_A.png and <n>_real_B.png
            present = {name for name in present if name.endswith("_fake_B.png")}
        expected = set(self.names.values())
        missing_ids = [i for i, name in self.names.items() if name not in present]
        extra = sorted(present - expected)
        problems = []
        for name in self.names.values():
            if name in present:
                problem = _check_png(self.folder / name, self.size)
                if problem:
                    problems.append(f"{name}: {problem}")
        if problems:
            raise MissingImagesError(
                f"{len(problems)} unreadable or wrongly sized image(s) in {self.folder} "
                f"(expected {self.size}×{self.size} RGB PNGs): {_listing(problems)}"
            )
        if missing_ids or extra:
            message = (
                f"expected {len(self.names)} images named like {next(iter(expected))} "
                f"({self.naming} naming) in {self.folder}; "
                f"missing {len(missing_ids)}: {_listing([self.names[i] for i in missing_ids])}; "
                f"unexpected {len(extra)}: {_listing(extra)}"
            )
            if self.naming == "port" and len(present & expected) == 50:
                message += (
                    " (the PyTorch port's test script writes 50 images unless given --num_test 500)"
                )
            if not allow_missing:
                raise MissingImagesError(
                    message + ". Generate all of them (e.g. `p2pbench generate`), or pass "
                    "--limit N to score the first N, or --allow-missing to score what is there "
                    "(recorded in the result)"
                )
            print(
                f"warning: {message}; scoring the {len(self.names) - len(missing_ids)} "
                "present (--allow-missing, recorded)",
                file=sys.stderr,
            )
        self.missing = missing_ids
        return missing_ids

    def images(self, batch: Batch) -> torch.Tensor:
        arrays = []
        for sid in batch.sample_ids:
            with Image.open(self.folder / self.names[sid]) as im:
                arrays.append(np.asarray(im, dtype=np.uint8))
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()

    def describe(self) -> dict[str, Any]:
        return {"kind": "images", "path": str(self.folder), "naming": self.naming}


def _check_png(path: Path, size: int) -> str | None:
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                return f"{im.format} file, expected PNG (JPEG shifts the numbers)"
            if im.size != (size, size):
                return f"{im.size[0]}×{im.size[1]} px"
            if im.mode != "RGB":
                return f"mode {im.mode}, expected RGB"
            im.load()
    except (UnidentifiedImageError, OSError) as e:
        return f"unreadable ({e})"
    return None


def _listing(items: list[str], limit: int = 10) -> str:
    if not items:
        return "none"
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
