"""Class tables for users' own data, and colour label maps decoded by exact colour match.

A class table is a JSON file:

    {"classes": [{"name": "road", "color": [128, 64, 128]},
                 {"name": "car", "color": [0, 0, 142], "train_id": 13}, ...]}

Class index = position in the list; `train_id` (0..254, default the position) is the value
the class takes in a label map, as Cityscapes' trainIds. Names, colours and train ids are
unique. A colour label map becomes train ids by EXACT colour match: every other colour is
ignored (255), counted by `ColourStats`, and more than `MAX_UNKNOWN_FRACTION` of such pixels
means the wrong half or the wrong table (or a JPEG-compressed label map): an error naming the
most frequent unknown colours.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from p2pbench.data.sample import IGNORE_ID
from p2pbench.errors import FileAccessError, InvalidValueError, PathNotFoundError

Colour = tuple[int, int, int]
MAX_UNKNOWN_FRACTION = 0.05
"""More unknown-colour pixels than this fraction of a label side: refused."""
SIDES = ("A", "B")


@dataclass(frozen=True)
class ClassEntry:
    name: str
    train_id: int
    colour: Colour


@dataclass(frozen=True)
class ClassTable:
    """Scored classes in class-index order: names, train ids and label-map colours."""

    classes: tuple[ClassEntry, ...]

    def __post_init__(self) -> None:
        if not self.classes:
            raise InvalidValueError("a class table needs at least one class")
        for what, values in (
            ("names", self.names),
            ("train ids", self.train_ids),
            ("colours", self.colours),
        ):
            seen: dict[Any, int] = {}
            for i, v in enumerate(values):
                if v in seen:
                    raise InvalidValueError(
                        f"duplicate class {what[:-1]} {_show(v)} (classes {seen[v]} "
                        f"{self.classes[seen[v]].name!r} and {i} {self.classes[i].name!r}); "
                        f"class {what} must be unique"
                    )
                seen[v] = i

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def train_ids(self) -> tuple[int, ...]:
        return tuple(c.train_id for c in self.classes)

    @property
    def colours(self) -> tuple[Colour, ...]:
        return tuple(c.colour for c in self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values: the JSON file's content, every train id written out."""
        return {
            "classes": [
                {"name": c.name, "train_id": c.train_id, "color": list(c.colour)}
                for c in self.classes
            ]
        }

    @classmethod
    def from_dict(cls, data: Any, origin: str = "the class table") -> ClassTable:
        """Parse and check `{"classes": [{"name", "color", ["train_id"]}, ...]}`."""
        example = '{"classes": [{"name": "road", "color": [128, 64, 128]}, ...]}'
        if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
            raise InvalidValueError(f"{origin}: expected a JSON object like {example}")
        entries = []
        for i, c in enumerate(data["classes"]):
            where = f"{origin}: class {i}"
            if not isinstance(c, dict):
                raise InvalidValueError(f"{where} is {c!r}; expected an object like {example}")
            unknown = sorted(set(c) - {"name", "color", "train_id"})
            if unknown:
                raise InvalidValueError(
                    f"{where} has unknown keys {unknown}; valid: name, color, train_id"
                )
            name = c.get("name")
            if not isinstance(name, str) or not name.strip():
                raise InvalidValueError(
                    f"{where}: 'name' must be a non-empty string, found {name!r}"
                )
            colour = c.get("color")
            if (
                not isinstance(colour, list)
                or len(colour) != 3
                or not all(_is_int(v) and 0 <= v <= 255 for v in colour)
            ):
                raise InvalidValueError(
                    f"{where} ({name!r}): 'color' must be [R, G, B] with integers 0..255, "
                    f"found {colour!r}"
                )
            train_id = c.get("train_id", i)
            if not _is_int(train_id) or not 0 <= train_id < IGNORE_ID:
                raise InvalidValueError(
                    f"{where} ({name!r}): 'train_id' must be an integer 0..{IGNORE_ID - 1} "
                    f"({IGNORE_ID} means ignore), found {train_id!r}"
                )
            entries.append(ClassEntry(name, int(train_id), tuple(int(v) for v in colour)))  # type: ignore[arg-type]
        try:
            return cls(tuple(entries))
        except ValueError as e:
            raise InvalidValueError(f"{origin}: {e}") from None


def read_class_table(path: str | os.PathLike[str]) -> ClassTable:
    """A class table from its JSON file; every problem is a one-line error naming the file."""
    p = Path(path)
    if not p.is_file():
        raise PathNotFoundError(f"class table {p} not found (a JSON file of class names/colours)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise FileAccessError(f"cannot read class table {p}: {e}") from None
    except json.JSONDecodeError as e:
        raise InvalidValueError(f"class table {p} is not valid JSON: {e}") from None
    return ClassTable.from_dict(data, origin=f"class table {p}")


def cityscapes_class_table() -> ClassTable:
    """The 19 scored Cityscapes classes (trainIds 0..18) with their official colours."""
    from cityscapesscripts.helpers.labels import trainId2label

    return ClassTable(
        tuple(
            ClassEntry(trainId2label[t].name, t, tuple(trainId2label[t].color)) for t in range(19)
        )
    )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _show(v: Any) -> str:
    return f"({v[0]}, {v[1]}, {v[2]})" if isinstance(v, tuple) else repr(v)


def _packed(rgb: np.ndarray) -> np.ndarray:
    """uint8 H×W×3 → int64 H×W keys R·65536 + G·256 + B."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 H×W×3 colour map, got {rgb.dtype} {rgb.shape}")
    x = rgb.astype(np.int64)
    return (x[..., 0] << 16) | (x[..., 1] << 8) | x[..., 2]


def decode_colours(rgb: np.ndarray, table: ClassTable) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 H×W train ids, 255 where the colour is in no class; bool H×W mask of those)."""
    keys = _packed(rgb)
    colours = np.array([(r << 16) | (g << 8) | b for r, g, b in table.colours], dtype=np.int64)
    order = np.argsort(colours)
    sorted_colours = colours[order]
    ids = np.array(table.train_ids, dtype=np.uint8)[order]
    pos = np.clip(np.searchsorted(sorted_colours, keys), 0, len(sorted_colours) - 1)
    known = sorted_colours[pos] == keys
    out = np.where(known, ids[pos], np.uint8(IGNORE_ID)).astype(np.uint8)
    return out, ~known


@dataclass
class ColourStats:
    """How many label pixels matched no class colour, and which colours they had."""

    pixels: int = 0
    unknown: int = 0
    unknown_colours: Counter[int] = field(default_factory=Counter)

    @property
    def unknown_fraction(self) -> float:
        return self.unknown / self.pixels if self.pixels else 0.0

    def add(self, rgb: np.ndarray, unknown_mask: np.ndarray) -> None:
        self.pixels += int(unknown_mask.size)
        n = int(unknown_mask.sum())
        if n:
            self.unknown += n
            values, counts = np.unique(_packed(rgb)[unknown_mask], return_counts=True)
            self.unknown_colours.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))

    def top(self, k: int = 5) -> list[tuple[Colour, int]]:
        return [
            (((v >> 16) & 255, (v >> 8) & 255, v & 255), n)
            for v, n in self.unknown_colours.most_common(k)
        ]

    def summary(self) -> str:
        listing = ", ".join(f"{_show(c)} {n / self.pixels:.1%}" for c, n in self.top())
        return (
            f"{self.unknown:,} of {self.pixels:,} label pixels ({self.unknown_fraction:.2%}) "
            "match no class colour and are ignored" + (f" (top: {listing})" if listing else "")
        )

    def check(self, what: str, limit: float = MAX_UNKNOWN_FRACTION) -> None:
        """Refuse label maps with more than `limit` of unknown-colour pixels."""
        if self.unknown_fraction > limit:
            raise InvalidValueError(
                f"{what}: {self.summary()}, more than {limit:.0%}: is this the label side "
                "(--labels-side A|B) and the right class table? Label maps must be lossless "
                "(PNG, not JPEG) with exactly the table's colours"
            )


def open_half(path: Path, side: str) -> np.ndarray:
    """The A (left) or B (right) half of an aligned pair as uint8 H×W×3."""
    if side not in SIDES:
        raise InvalidValueError(f"unknown side {side!r}; choose A or B")
    try:
        with Image.open(path) as im:
            pair = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise FileAccessError(f"cannot read image {path}: {e}") from e
    half = pair.shape[1] // 2
    return pair[:, :half] if side == "A" else pair[:, half : 2 * half]


def scan_colour_labels(files: Iterable[Path], side: str, table: ClassTable) -> ColourStats:
    """Unknown-colour statistics of the `side` halves of aligned pairs (reads each file)."""
    stats = ColourStats()
    for path in files:
        rgb = open_half(path, side)
        stats.add(rgb, decode_colours(rgb, table)[1])
    return stats


def colour_lut(train_ids: Sequence[int]) -> np.ndarray:
    """A 256-entry train id → class index table (others → 255)."""
    lut = np.full(256, IGNORE_ID, dtype=np.uint8)
    lut[list(train_ids)] = np.arange(len(train_ids), dtype=np.uint8)
    return lut
