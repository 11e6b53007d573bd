"""synthcity street furniture and traffic: cars, people, trees and poles as screen primitives.

Each model is a few boxes in local metres (x across, h up) placed at a lateral position and depth
on the ground and projected through the scene camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p2pbench.data.synthcity.scene import (
    CAR,
    LIGHT,
    PERSON,
    POLE,
    RGB,
    SHADE,
    SIGN,
    VEGETATION,
    Camera,
    Prim,
    color_near,
    pick,
)

_CAR_COLORS = np.array(
    [
        [225, 225, 225],
        [170, 172, 175],
        [25, 25, 28],
        [100, 100, 105],
        [30, 45, 90],
        [150, 25, 25],
        [50, 80, 150],
        [190, 180, 150],
        [40, 80, 60],
    ],
    dtype=float,
)
_SKIN = np.array([[230, 190, 160], [200, 150, 110], [140, 95, 65], [90, 60, 45]], dtype=float)


@dataclass(frozen=True)
class ObjectStyle:
    """Sizes and placements of the thin and small objects, per synthcity version.

    Version 1 drew poles 14 cm wide up to 60 m away and people up to 50 m away: at 64 px most
    are one or two pixels wide, below what a stride-8 FCN resolves, so its segmenter never
    learned them. Version 2 is a stylised street (like a driving game's label maps): poles
    are 1 m pillars within 16 m, signs and traffic lights are large, people are broad, with
    their legs drawn as one block, within 14 m, and sidewalks are wider, so that each class spans
    about a stride or more (8 px) at 128 px. The random draws are the same calls in the same
    order in every version.
    """

    pole_half_width: float  # metres
    sign_size: tuple[float, float]  # side of a sign, uniform range, metres
    light_scale: float  # traffic-light housing and lamp, × version 1's
    person_width: float  # × version 1's widths (heights stay human)
    person_depth: tuple[float, float]  # log-uniform range, metres
    people: tuple[int, int]  # integers(lo, hi) people per scene
    pole_depth: tuple[float, float]  # uniform range, metres
    poles_per_side: tuple[int, int]
    sidewalk: tuple[float, float]  # width, uniform range, metres
    merged_legs: bool = False


OBJECT_STYLES: dict[int, ObjectStyle] = {
    1: ObjectStyle(
        0.07, (0.6, 0.9), 1.0, 1.0, (4.0, 50.0), (0, 12), (5.0, 60.0), (1, 3), (2.0, 5.5)
    ),
    2: ObjectStyle(
        0.5, (1.8, 2.4), 3.4, 2.5, (5.0, 14.0), (4, 14), (6.0, 16.0), (2, 4), (3.5, 7.0), True
    ),
}


class _Place:
    """Maps an object's local metric boxes (x across, h up) to screen boxes."""

    def __init__(self, cam: Camera, x: float, depth: float) -> None:
        self.k = cam.focal / depth
        self.cx = cam.vx + x * self.k
        self.base = cam.horizon + cam.height * self.k

    def box(
        self, shape: str, x0: float, h0: float, x1: float, h1: float, tid: int, rgb: RGB
    ) -> Prim:
        k = self.k
        return Prim(
            shape,
            self.cx + x0 * k,
            self.base - h1 * k,
            self.cx + x1 * k,
            self.base - h0 * k,
            tid,
            rgb,
        )


def car(rng: np.random.Generator, cam: Camera, x: float, depth: float) -> list[Prim]:
    p = _Place(cam, x, depth)
    w = rng.uniform(1.65, 1.95) / 2
    body_top, roof = rng.uniform(0.9, 1.1), rng.uniform(1.4, 1.65)
    paint = color_near(rng, pick(rng, _CAR_COLORS), 6)
    glass = color_near(rng, np.array([35.0, 40.0, 50.0]), 8)
    dark = (20.0, 20.0, 22.0)
    lamp = color_near(rng, np.array([190.0, 30.0, 30.0]), 10)
    return [
        p.box("ellipse", -w * 1.25, -0.35, w * 1.25, 0.35, SHADE, (0.45, 0.45, 0.45)),
        p.box("rect", -w + 0.05, 0.0, -w + 0.35, 0.4, CAR, dark),
        p.box("rect", w - 0.35, 0.0, w - 0.05, 0.4, CAR, dark),
        p.box("rect", -w, 0.25, w, body_top, CAR, paint),
        p.box("rect", -w * 0.8, body_top, w * 0.8, roof, CAR, paint),
        p.box("rect", -w * 0.7, body_top + 0.05, w * 0.7, roof - 0.07, CAR, glass),
        p.box("rect", -w + 0.08, 0.7, -w + 0.4, 0.85, CAR, lamp),
        p.box("rect", w - 0.4, 0.7, w - 0.08, 0.85, CAR, lamp),
        p.box("rect", -0.25, 0.4, 0.25, 0.52, CAR, (215.0, 215.0, 210.0)),
        p.box("rect", -w, 0.25, w, 0.35, CAR, dark),
    ]


def person(
    rng: np.random.Generator, cam: Camera, x: float, depth: float, style: ObjectStyle
) -> list[Prim]:
    p = _Place(cam, x, depth)
    w = style.person_width
    h = rng.uniform(1.55, 1.95)
    shirt = color_near(rng, rng.uniform(30, 220, 3), 0)
    legs = color_near(
        rng,
        pick(rng, np.array([[40, 50, 90], [30, 30, 32], [90, 90, 95], [150, 130, 100]], float)),
        6,
    )
    skin = color_near(rng, pick(rng, _SKIN), 6)
    hair = color_near(rng, np.array([40.0, 30.0, 25.0]), 15)
    stride = rng.uniform(0.0, 0.12)
    gap = 0.0 if style.merged_legs else 0.03
    return [
        p.box("rect", (-0.17 - stride) * w, 0.0, -gap * w, 0.48 * h, PERSON, legs),
        p.box("rect", gap * w, 0.0, (0.17 + stride) * w, 0.48 * h, PERSON, legs),
        p.box("rect", -0.22 * w, 0.46 * h, 0.22 * w, 0.83 * h, PERSON, shirt),
        p.box("rect", -0.27 * w, 0.55 * h, -0.2 * w, 0.8 * h, PERSON, shirt),
        p.box("rect", 0.2 * w, 0.55 * h, 0.27 * w, 0.8 * h, PERSON, shirt),
        p.box("ellipse", -0.1 * w, 0.82 * h, 0.1 * w, h, PERSON, skin),
        p.box("ellipse", -0.1 * w, 0.93 * h, 0.1 * w, 1.01 * h, PERSON, hair),
    ]


def tree(rng: np.random.Generator, cam: Camera, x: float, depth: float) -> list[Prim]:
    p = _Place(cam, x, depth)
    trunk_h, r = rng.uniform(2.0, 3.5), rng.uniform(1.4, 3.0)
    bark = color_near(rng, np.array([85.0, 70.0, 55.0]), 8)
    leaves = color_near(rng, np.array([rng.uniform(55, 85), rng.uniform(90, 125), 40.0]), 6)
    prims = [p.box("rect", -0.15, 0.0, 0.15, trunk_h + r * 0.5, VEGETATION, bark)]
    for _ in range(3):
        dx, dh, s = rng.uniform(-0.4, 0.4) * r, rng.uniform(0.5, 1.2) * r, rng.uniform(0.6, 0.9)
        prims.append(
            p.box(
                "ellipse",
                dx - r * s,
                trunk_h + dh - r * s * 1.1,
                dx + r * s,
                trunk_h + dh + r * s * 1.1,
                VEGETATION,
                leaves,
            )
        )
    return prims


def pole(
    rng: np.random.Generator, cam: Camera, x: float, depth: float, style: ObjectStyle
) -> list[Prim]:
    p = _Place(cam, x, depth)
    h = rng.uniform(3.5, 7.0)
    metal = color_near(rng, np.array([95.0, 97.0, 100.0]))
    pw = style.pole_half_width
    prims = [p.box("rect", -pw, 0.0, pw, h, POLE, metal)]
    kind = rng.random()
    if kind < 0.55:
        s = rng.uniform(*style.sign_size) / 2
        shape = ("rect", "ellipse", "tri_up", "tri_down")[int(rng.integers(4))]
        face = pick(
            rng, np.array([[30, 80, 170], [235, 235, 230], [200, 30, 30], [240, 200, 40]], float)
        )
        prims.append(p.box(shape, -s, h - 2 * s, s, h, SIGN, color_near(rng, face, 6)))
    elif kind < 0.85:
        k = style.light_scale
        prims.append(p.box("rect", -0.18 * k, h - 1.0 * k, 0.18 * k, h, LIGHT, (35.0, 37.0, 35.0)))
        lit = int(rng.integers(3))
        lamp = ((230.0, 40.0, 30.0), (240.0, 180.0, 30.0), (60.0, 220.0, 90.0))[lit]
        top = h - (0.05 + 0.3 * lit) * k
        prims.append(p.box("ellipse", -0.12 * k, top - 0.24 * k, 0.12 * k, top, LIGHT, lamp))
    return prims
