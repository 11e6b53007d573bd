"""Drawing a random synthcity street: camera, street, facades, traffic and lighting.

`draw_scene` is a pure function of its `numpy.random.Generator`; nothing depends on the image
size, so one layout renders consistently at every size.
"""

from __future__ import annotations

import numpy as np

from p2pbench.data.synthcity.objects import OBJECT_STYLES, ObjectStyle, car, person, pole, tree
from p2pbench.data.synthcity.scene import (
    BUILDING,
    VEGETATION,
    Camera,
    Facade,
    Prim,
    Scene,
    Street,
    color_near,
    pick,
)

_FACADE_COLORS = np.array(
    [
        [190, 175, 150],
        [150, 150, 150],
        [150, 85, 60],
        [215, 210, 200],
        [200, 180, 120],
        [95, 95, 100],
        [190, 150, 140],
        [120, 110, 95],
    ],
    dtype=float,
)


def _facades(
    rng: np.random.Generator, start: float, stop: float, veg_p: float, heights: tuple[float, float]
) -> tuple[Facade, ...]:
    """Consecutive buildings (or hedges, with probability veg_p) from `start` to `stop` m."""
    out = []
    while start < stop:
        end = min(start + rng.uniform(7.0, 28.0), stop)
        if rng.random() < veg_p:
            green = np.array([rng.uniform(50, 80), rng.uniform(80, 115), rng.uniform(30, 50)])
            out.append(
                Facade(
                    start,
                    end,
                    VEGETATION,
                    rng.uniform(2.5, 9.0),
                    color_near(rng, green, 5),
                    seed=int(rng.integers(1 << 16)),
                )
            )
        else:
            rgb = color_near(rng, pick(rng, _FACADE_COLORS))
            out.append(
                Facade(
                    start,
                    end,
                    BUILDING,
                    rng.uniform(*heights),
                    rgb,
                    floor_h=rng.uniform(2.8, 3.8),
                    spacing=rng.uniform(1.8, 3.6),
                    win_w=rng.uniform(0.3, 0.65),
                    win_h=rng.uniform(0.4, 0.65),
                    windows=bool(rng.random() < 0.92),
                    shops=bool(rng.random() < 0.5),
                    seed=int(rng.integers(1 << 16)),
                )
            )
        start = end
    return tuple(out)


def draw_scene(rng: np.random.Generator, version: int) -> Scene:
    """Draw one street layout of synthcity `version`; every random choice comes from `rng`,
    none depends on size."""
    cam = Camera(
        rng.uniform(0.4, 0.55),
        rng.uniform(0.38, 0.62),
        rng.uniform(1.3, 1.7),
        rng.uniform(0.9, 1.2),
    )
    half = rng.uniform(3.0, 6.0)
    center = rng.uniform(-0.45, 0.45) * half
    style = OBJECT_STYLES[version]
    walk_l, walk_r = rng.uniform(*style.sidewalk, 2)
    street = Street(
        center, half, center - half - walk_l, center + half + walk_r, rng.uniform(60.0, 160.0)
    )
    left = _facades(rng, 0.0, street.far_depth, 0.15, (7.0, 30.0))
    right = _facades(rng, 0.0, street.far_depth, 0.15, (7.0, 30.0))
    reach = 1.3 * street.far_depth / cam.focal
    far = _facades(rng, -reach, reach, 0.2, (6.0, 35.0))
    objects = _objects(rng, cam, street, style)
    overcast = rng.random() < 0.3
    zenith = np.array([160, 165, 175]) if overcast else np.array([75, 125, 200])
    horizon = np.array([210, 212, 215]) if overcast else np.array([185, 210, 235])
    road = np.array([85, 85, 90]) * rng.uniform(0.8, 1.2)
    walk = pick(rng, np.array([[170, 165, 160], [150, 140, 130], [185, 180, 175]], float))
    sun = rng.uniform(0.75, 1.0)
    side_light = (sun, 1.0) if rng.random() < 0.5 else (1.0, sun)
    return Scene(
        cam,
        street,
        left,
        right,
        far,
        objects,
        color_near(rng, zenith, 8),
        color_near(rng, horizon, 6),
        color_near(rng, road, 4),
        color_near(rng, walk, 6),
        side_light,
        float(rng.uniform(0.75, 1.15)),
        (float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.15, 0.15))),
        tuple(float(v) for v in rng.uniform(0.93, 1.07, 3)),  # type: ignore[arg-type]
        float(rng.uniform(1.5, 5.0)),
    )


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _objects(
    rng: np.random.Generator, cam: Camera, st: Street, style: ObjectStyle
) -> tuple[Prim, ...]:
    """Cars, people, trees and poles, as primitives sorted far to near."""
    placed: list[tuple[float, list[Prim]]] = []
    max_d = st.far_depth - 3.0
    curb_l, curb_r = st.road_center - st.road_half, st.road_center + st.road_half
    lanes = [
        curb_l + 1.1,
        st.road_center - st.road_half / 2,
        st.road_center + st.road_half / 2,
        curb_r - 1.1,
    ]
    cars: list[tuple[int, float]] = []
    for _ in range(int(rng.integers(2, 10))):
        lane = int(rng.integers(len(lanes)))
        depth = _log_uniform(rng, 5.5, min(70.0, max_d))
        if all(lane != lc or abs(depth - dc) > 7.0 for lc, dc in cars):
            cars.append((lane, depth))
            x = lanes[lane] + rng.uniform(-0.3, 0.3)
            placed.append((depth, car(rng, cam, x, depth)))
    for _ in range(int(rng.integers(*style.people))):
        left = rng.random() < 0.5
        x = (
            rng.uniform(st.facade_left + 0.4, curb_l - 0.4)
            if left
            else rng.uniform(curb_r + 0.4, st.facade_right - 0.4)
        )
        depth = _log_uniform(rng, style.person_depth[0], min(style.person_depth[1], max_d))
        placed.append((depth, person(rng, cam, x, depth, style)))
    for facade, curb, inward in ((st.facade_left, curb_l, -1.0), (st.facade_right, curb_r, 1.0)):
        for _ in range(int(rng.integers(0, 5))):
            x = facade - inward * 1.0 if rng.random() < 0.4 else curb + inward * 0.7
            depth = rng.uniform(6.0, 0.8 * max_d)
            placed.append((depth, tree(rng, cam, x, depth)))
        for _ in range(int(rng.integers(*style.poles_per_side))):
            depth = rng.uniform(style.pole_depth[0], min(style.pole_depth[1], max_d))
            placed.append((depth, pole(rng, cam, curb + inward * 0.35, depth, style)))
    placed.sort(key=lambda item: -item[0])
    return tuple(p for _, prims in placed for p in prims)
