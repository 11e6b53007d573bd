"""A tiny fake Cityscapes tree in the official layout (2 cities, 3 frames, 64×128 labels)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

# A few id → trainId pairs copied by hand from the official cityscapesScripts table.
OFFICIAL = {0: 255, 1: 255, 4: 255, 7: 0, 8: 1, 11: 2, 17: 5, 21: 8, 23: 10, 24: 11, 26: 13, 33: 18}
FRAMES = ["bochum_000000_000313", "aachen_000001_000019", "aachen_000000_000019"]
H, W = 64, 128


def make_tree(root: Path, split: str = "val", frames: Sequence[str] = FRAMES) -> None:
    """Write `frames` (labelIds, RGBA colour maps, photos) of `split` under `root`, seeded."""
    rng = np.random.default_rng(0)
    for sid in frames:  # written out of order on purpose
        city = sid.split("_")[0]
        gt = root / "gtFine" / split / city
        img = root / "leftImg8bit" / split / city
        gt.mkdir(parents=True, exist_ok=True)
        img.mkdir(parents=True, exist_ok=True)
        ids = rng.choice(list(OFFICIAL), size=(H, W)).astype(np.uint8)
        Image.fromarray(ids).save(gt / f"{sid}_gtFine_labelIds.png")
        color = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
        color[..., 3] = 255  # the official colour maps are RGBA
        Image.fromarray(color).save(gt / f"{sid}_gtFine_color.png")
        photo = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        Image.fromarray(photo).save(img / f"{sid}_leftImg8bit.png")
