"""synthcity: a built-in, procedural street-scene dataset for labels ↔ photo translation.

Each sample is a street seen from a car, drawn through a pinhole camera: sky on top, a closed
street of buildings (varied heights, windows, shop fronts) and hedges on both sides, a road in
perspective with lane markings, sidewalks with tiles and curbs, and, sorted far to near, trees,
poles carrying signs or traffic lights, people on the sidewalks and cars on the road.

The label map uses Cityscapes trainIds and colours (`SYNTHCITY_CLASSES`). The photo is rendered
from the same layout, not from the label colours: every building, car, person and sign has its
own colour around a class base colour, vegetation and asphalt get noise textures, cars cast
shadows, and each sample has its own sky, brightness, lighting gradient, tint and pixel noise.
So labels → photo is one-to-many, and photo → labels is learnable by a small segmenter.

Determinism: sample i of a split is drawn from `numpy.random.default_rng([seed, split, i, 0])`
(layout) and `[seed, split, i, 1]` (textures and noise), so it does not depend on which other
samples are generated. The layout is in metres and fractions of the image side, so a sample
has the same layout at every size (32 … 1024, powers of two); only textures and noise are drawn
per size. Every version stays drawable (`version=1` reproduces the first release bit for bit):
a change of the output is a new entry of `SYNTHCITY_VERSIONS`, and `SYNTHCITY_VERSION` (the
newest) is what `synthcity` without a version means.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from p2pbench.data.sample import PairedDataset, Sample, Transform, to_tensor_image
from p2pbench.data.synthcity.layout import draw_scene
from p2pbench.data.synthcity.render import render
from p2pbench.data.synthcity.scene import SYNTHCITY_CLASSES, SynthClass
from p2pbench.errors import InvalidValueError

__all__ = [
    "SYNTHCITY_CLASSES",
    "SYNTHCITY_DEFAULT_N",
    "SYNTHCITY_SIZES",
    "SYNTHCITY_SPLITS",
    "SYNTHCITY_VERSION",
    "SYNTHCITY_VERSIONS",
    "SynthCityDataset",
    "SynthClass",
    "colorize",
    "synthcity_arrays",
]

SYNTHCITY_VERSIONS: tuple[int, ...] = (1, 2)
"""1: the first release; 2: thin objects (poles, signs, lights, people) wide enough for 128 px."""
SYNTHCITY_VERSION: int = SYNTHCITY_VERSIONS[-1]
SYNTHCITY_SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
SYNTHCITY_DEFAULT_N: dict[str, int] = {"train": 400, "val": 100, "test": 100}
SYNTHCITY_SIZES: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
DIRECTIONS = ("AtoB", "BtoA")

_PALETTE = np.zeros((256, 3), dtype=np.uint8)
for _c in SYNTHCITY_CLASSES:
    _PALETTE[_c.train_id] = _c.color
_KNOWN = np.zeros(256, dtype=bool)
_KNOWN[[c.train_id for c in SYNTHCITY_CLASSES]] = True


def check_size(size: int) -> None:
    if size not in SYNTHCITY_SIZES:
        raise InvalidValueError(
            f"synthcity size must be a power of two in {list(SYNTHCITY_SIZES)}, got {size}"
        )


def check_version(version: int) -> None:
    if version not in SYNTHCITY_VERSIONS:
        raise InvalidValueError(
            f"unknown synthcity version {version!r}; known versions: "
            f"{', '.join(str(v) for v in SYNTHCITY_VERSIONS)}"
        )


def parse_synthcity_name(name: str) -> int | None:
    """The version a dataset name asks for: "synthcity" → newest, "synthcity@v1" → 1, else None."""
    if name == "synthcity":
        return SYNTHCITY_VERSION
    if name.startswith("synthcity@v") and name[len("synthcity@v") :].isdigit():
        version = int(name[len("synthcity@v") :])
        check_version(version)
        return version
    return None


def check_split(split: str) -> int:
    if split not in SYNTHCITY_SPLITS:
        raise InvalidValueError(
            f"unknown synthcity split {split!r}; choose one of {', '.join(SYNTHCITY_SPLITS)}"
        )
    return SYNTHCITY_SPLITS[split]


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise InvalidValueError(
            f"unknown direction {direction!r}; choose one of {', '.join(DIRECTIONS)}"
        )


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """trainIds (uint8 H×W) → the Cityscapes colour label map (uint8 H×W×3)."""
    bad = ~_KNOWN[train_ids]
    if bad.any():
        raise ValueError(
            f"trainIds {sorted(set(np.unique(train_ids[bad]).tolist()))} are not "
            f"synthcity classes {[c.train_id for c in SYNTHCITY_CLASSES]}"
        )
    return _PALETTE[train_ids]


def synthcity_arrays(
    seed: int, split: str, index: int, size: int, version: int = SYNTHCITY_VERSION
) -> tuple[np.ndarray, np.ndarray]:
    """Sample `index` of `split`: (photo uint8 size×size×3, trainIds uint8 size×size)."""
    check_size(size)
    check_version(version)
    code = check_split(split)
    if seed < 0 or index < 0:
        raise InvalidValueError(
            f"seed and index must be non-negative, got seed={seed}, index={index}"
        )
    scene = draw_scene(np.random.default_rng([seed, code, index, 0]), version)
    return render(scene, size, np.random.default_rng([seed, code, index, 1]))


def make_sample(photo: np.ndarray, train_ids: np.ndarray, direction: str, sample_id: str) -> Sample:
    """A Sample from a photo (A) and its trainIds, whose colour map is B."""
    a, b = to_tensor_image(photo), to_tensor_image(colorize(train_ids))
    inp, target = (a, b) if direction == "AtoB" else (b, a)
    return Sample(inp, target, torch.from_numpy(train_ids.astype(np.int64)), sample_id)


class SynthCityDataset(PairedDataset):
    """synthcity generated on the fly; BtoA (the default) is labels → photo.

    Sample ids are the zero-padded indices ("000000"), the stems `write_synthcity` uses.
    """

    def __init__(
        self,
        size: int = 128,
        split: str = "train",
        n: int | None = None,
        seed: int = 0,
        direction: str = "BtoA",
        transform: Transform | None = None,
        transform_seed: int | None = None,
        load_labels: bool = True,
        version: int = SYNTHCITY_VERSION,
    ) -> None:
        check_size(size)
        check_version(version)
        check_split(split)
        check_direction(direction)
        if n is None:
            n = SYNTHCITY_DEFAULT_N[split]
        if n < 1:
            raise InvalidValueError(f"synthcity needs n >= 1 samples, got n={n}")
        super().__init__(transform, seed if transform_seed is None else transform_seed)
        self.size, self.split, self.n, self.seed, self.direction = size, split, n, seed, direction
        self.load_labels = load_labels
        self.version = version

    @property
    def sample_ids(self) -> tuple[str, ...]:
        return tuple(f"{i:06d}" for i in range(self.n))

    def __len__(self) -> int:
        return self.n

    def load(self, index: int) -> Sample:
        photo, ids = synthcity_arrays(self.seed, self.split, index, self.size, self.version)
        sample = make_sample(photo, ids, self.direction, f"{index:06d}")
        return sample if self.load_labels else replace(sample, label=None)
