"""The synthcity vocabulary: the class table and the resolution-independent scene description.

World sizes are in metres, screen positions in fractions of the image side; a `Scene` is drawn
by `synthcity_layout` and turned into pixels at any size by `synthcity_render`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SynthClass:
    """One class: its Cityscapes trainId, name and official label colour."""

    train_id: int
    name: str
    color: tuple[int, int, int]


# trainIds, names and colours as in the Cityscapes label table (cityscapesScripts labels.py).
SYNTHCITY_CLASSES: tuple[SynthClass, ...] = (
    SynthClass(0, "road", (128, 64, 128)),
    SynthClass(1, "sidewalk", (244, 35, 232)),
    SynthClass(2, "building", (70, 70, 70)),
    SynthClass(5, "pole", (153, 153, 153)),
    SynthClass(6, "traffic light", (250, 170, 30)),
    SynthClass(7, "traffic sign", (220, 220, 0)),
    SynthClass(8, "vegetation", (107, 142, 35)),
    SynthClass(10, "sky", (70, 130, 180)),
    SynthClass(11, "person", (220, 20, 60)),
    SynthClass(13, "car", (0, 0, 142)),
)
ROAD, SIDEWALK, BUILDING, POLE, LIGHT, SIGN, VEGETATION, SKY, PERSON, CAR = (
    c.train_id for c in SYNTHCITY_CLASSES
)
SHADE = -1
"""Pseudo class of a primitive that darkens the photo (a shadow) and leaves the label alone."""


@dataclass(frozen=True)
class Camera:
    horizon: float  # screen y of the horizon
    vx: float  # screen x of the vanishing point
    height: float  # metres above the ground
    focal: float  # in image sides


@dataclass(frozen=True)
class Street:
    road_center: float  # lateral X of the road's centre line, metres (camera at 0)
    road_half: float  # half the road width, metres
    facade_left: float  # lateral X of the left facades (negative)
    facade_right: float
    far_depth: float  # depth of the wall that closes the street, metres


@dataclass(frozen=True)
class Facade:
    """A stretch of building or hedge along a plane, from `start` to `end` metres along it."""

    start: float
    end: float
    kind: int  # BUILDING or VEGETATION
    height: float
    rgb: tuple[float, float, float]
    floor_h: float = 3.2
    spacing: float = 2.5  # window pitch along the facade
    win_w: float = 0.5  # window fraction of the pitch
    win_h: float = 0.5  # window fraction of the floor
    windows: bool = True
    shops: bool = False
    seed: int = 0


@dataclass(frozen=True)
class Prim:
    """A screen-space primitive: rect, ellipse, tri_up or tri_down in the box (x0, y0, x1, y1)."""

    shape: str
    x0: float
    y0: float
    x1: float
    y1: float
    train_id: int
    rgb: tuple[float, float, float]


@dataclass(frozen=True)
class Scene:
    camera: Camera
    street: Street
    left: tuple[Facade, ...]
    right: tuple[Facade, ...]
    far: tuple[Facade, ...]
    objects: tuple[Prim, ...]  # painted in order: far to near
    sky_zenith: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    road_rgb: tuple[float, float, float]
    sidewalk_rgb: tuple[float, float, float]
    side_light: tuple[float, float]  # brightness of the left and right facades
    brightness: float
    gradient: tuple[float, float]  # lighting slope across x and y
    tint: tuple[float, float, float]
    noise: float  # pixel noise, grey levels


RGB = tuple[float, float, float]


def color_near(rng: np.random.Generator, base: np.ndarray, jitter: float = 10.0) -> RGB:
    """An instance colour: `base` scaled by a random brightness, plus per-channel jitter."""
    c = base * rng.uniform(0.88, 1.1) + rng.uniform(-jitter, jitter, 3)
    return tuple(float(v) for v in np.clip(c, 0, 255))  # type: ignore[return-value]


def pick(rng: np.random.Generator, table: np.ndarray) -> np.ndarray:
    """A random row of a colour table."""
    return table[rng.integers(len(table))]
