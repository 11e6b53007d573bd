"""Rasterise a synthcity `Scene` into a photo and a trainId map at any size (vectorised numpy).

Pixel (i, j) samples the scene at its centre ((j + 0.5) / size, (i + 0.5) / size). Primitives
thinner than a pixel are widened to one pixel so that thin poles survive at small sizes.
Texture and noise come from `rng`; the layout itself is already fixed by the scene.
"""

from __future__ import annotations

import numpy as np

from p2pbench.data.synthcity.scene import (
    BUILDING,
    ROAD,
    SHADE,
    SIDEWALK,
    SKY,
    VEGETATION,
    Facade,
    Prim,
    Scene,
)


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise on a `cells`×`cells` grid, smoothly interpolated to size×size, ~N(0, 1)."""
    grid = rng.standard_normal((cells + 1, cells + 1), dtype=np.float32)
    t = (np.arange(size, dtype=np.float32) + 0.5) / size * cells
    i = np.minimum(t.astype(np.int64), cells - 1)
    f = t - i
    f = f * f * (3 - 2 * f)
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _hash01(a: np.ndarray, b: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """A cheap integer hash of (a, b, seed) → [0, 1); deterministic and vectorised."""
    h = (
        (a.astype(np.int64).astype(np.uint32) * np.uint32(0x9E3779B1))
        ^ (b.astype(np.int64).astype(np.uint32) * np.uint32(0x85EBCA77))
        ^ seed.astype(np.uint32)
    )
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    return (h & np.uint32(0xFFFF)).astype(np.float32) / 65536.0


def _span(v0: float, v1: float, size: int) -> tuple[int, int]:
    """Pixel indices whose centres fall in [v0, v1); at least one pixel, clipped to the image."""
    a, b = int(np.ceil(v0 * size - 0.5)), int(np.ceil(v1 * size - 0.5))
    if b <= a:
        a = int(np.floor((v0 + v1) / 2 * size))
        b = a + 1
    return max(a, 0), min(b, size)


def _paint_prim(label: np.ndarray, photo: np.ndarray, centers: np.ndarray, p: Prim) -> None:
    size = label.shape[0]
    r0, r1 = _span(p.y0, p.y1, size)
    c0, c1 = _span(p.x0, p.x1, size)
    if r0 >= r1 or c0 >= c1:
        return
    ys, xs = centers[r0:r1, None], centers[None, c0:c1]
    cx, half_w = (p.x0 + p.x1) / 2, max((p.x1 - p.x0) / 2, 0.5 / size)
    cy, half_h = (p.y0 + p.y1) / 2, max((p.y1 - p.y0) / 2, 0.5 / size)
    if p.shape == "rect":
        mask = np.ones((r1 - r0, c1 - c0), dtype=bool)
    elif p.shape == "ellipse":
        mask = ((xs - cx) / half_w) ** 2 + ((ys - cy) / half_h) ** 2 <= 1.0
    elif p.shape in ("tri_up", "tri_down"):
        t = (ys - p.y0) / (2 * half_h)
        t = t if p.shape == "tri_up" else 1 - t
        mask = np.abs(xs - cx) <= np.maximum(half_w * t, 0.5 / size)
    else:
        raise ValueError(
            f"unknown primitive shape {p.shape!r}; expected rect, ellipse, tri_up or tri_down"
        )
    if p.train_id == SHADE:
        photo[r0:r1, c0:c1][mask] *= np.asarray(p.rgb, dtype=np.float32)
    else:
        label[r0:r1, c0:c1][mask] = p.train_id
        photo[r0:r1, c0:c1][mask] = p.rgb


def _paint_plane(
    label: np.ndarray,
    photo: np.ndarray,
    ys: np.ndarray,
    u: np.ndarray,
    k: np.ndarray,
    valid: np.ndarray,
    segs: tuple[Facade, ...],
    scene: Scene,
    light: float,
) -> None:
    """Paint facades on a vertical plane: per column, `u` metres along it seen at scale `k`.

    Each facade fills its columns from its roof line down to the image bottom; the ground,
    painted later, covers what lies below the facade's base.
    """
    cam = scene.camera
    starts = np.array([s.start for s in segs])
    valid = valid & (u >= starts[0]) & (u < segs[-1].end)
    cols = np.flatnonzero(valid)
    if cols.size == 0:
        return
    c0, c1 = int(cols[0]), int(cols[-1]) + 1  # u is monotonic in x: valid columns are contiguous
    u, k, valid = u[c0:c1], np.where(valid[c0:c1], k[c0:c1], 1.0), valid[c0:c1]
    idx = np.clip(np.searchsorted(starts, u, side="right") - 1, 0, len(segs) - 1)

    def col(name: str) -> np.ndarray:
        return np.array([getattr(s, name) for s in segs], dtype=np.float32)[idx]

    kind, height, seed = col("kind"), col("height"), col("seed")
    bumps = np.where(kind == VEGETATION, 1 + 0.12 * np.sin(u * 1.7 + seed), 1.0)
    top = cam.horizon + (cam.height - height * bumps) * k
    r0 = max(int(np.searchsorted(ys[:, 0], top[valid].min())), 0)
    ys = ys[r0:]
    mask = valid[None, :] & (ys >= top[None, :])
    lab, pho = label[r0:, c0:c1], photo[r0:, c0:c1]
    lab[mask] = np.broadcast_to(kind[None, :], mask.shape)[mask]
    rgb = np.array([s.rgb for s in segs], dtype=np.float32)[idx] * light
    pho[mask] = np.broadcast_to(rgb[None, :, :], mask.shape + (3,))[mask]
    # windows: one floor every floor_h metres, one window every `spacing` metres along u
    h = cam.height - (ys - cam.horizon) / k[None, :]  # metres above the ground
    floor = h / col("floor_h")[None, :]
    fi, ff = np.floor(floor), floor - np.floor(floor)
    cu = u[None, :] / col("spacing")[None, :]
    ci, cf = np.floor(cu), cu - np.floor(cu)
    win_w, win_h = col("win_w")[None, :] / 2, col("win_h")[None, :] / 2
    upper = (np.abs(cf - 0.5) < win_w) & (np.abs(ff - 0.55) < win_h) & (fi >= 1)
    upper &= (col("windows")[None, :] > 0) & (h < height[None, :] - 0.8)
    shop = (fi == 0) & (ff > 0.2) & (ff < 0.85) & (np.abs(cf - 0.5) < 0.42)
    shop &= col("shops")[None, :] > 0
    glass = (upper | shop) & mask & (kind[None, :] == BUILDING)
    shade = _hash01(
        fi[glass],
        np.broadcast_to(ci, mask.shape)[glass],
        np.broadcast_to(seed[None, :], mask.shape)[glass],
    )
    glass_rgb = np.array([40.0, 48.0, 60.0], dtype=np.float32) * light
    pho[glass] = glass_rgb * (0.6 + 1.6 * shade[:, None])


def _paint_ground(
    label: np.ndarray, photo: np.ndarray, xs: np.ndarray, ys: np.ndarray, scene: Scene
) -> None:
    cam, st = scene.camera, scene.street
    rows = ys[:, 0] > cam.horizon + cam.height * cam.focal / st.far_depth
    y = ys[rows]
    k = (y - cam.horizon) / cam.height  # screen per metre at the ground of that row
    x_m = (xs - cam.vx) / k  # lateral position in metres
    d_m = np.broadcast_to(cam.focal / k, x_m.shape)  # depth in metres
    rel = x_m - st.road_center
    road = np.abs(rel) < st.road_half
    walk = ~road & (x_m > st.facade_left) & (x_m < st.facade_right)
    lab, pho = label[rows], photo[rows]
    lab[road], lab[walk] = ROAD, SIDEWALK
    pho[walk] = scene.sidewalk_rgb
    tiles = (np.mod(x_m, 0.6) < 0.05) | (np.mod(d_m, 0.6) < 0.05)
    pho[walk & tiles] *= 0.85
    curb = walk & (np.abs(np.abs(rel) - st.road_half) < 0.2)
    pho[curb] = np.asarray(scene.sidewalk_rgb, dtype=np.float32) * 1.15
    pho[road] = scene.road_rgb
    dashes = (np.abs(rel) < 0.08) & (np.mod(d_m, 6.0) < 3.0)
    edges = np.abs(np.abs(rel) - (st.road_half - 0.35)) < 0.07
    pho[road & (dashes | edges)] = (205.0, 205.0, 200.0)
    label[rows], photo[rows] = lab, pho


def render(scene: Scene, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The scene at size×size: (photo uint8 H×W×3, trainIds uint8 H×W)."""
    cam, st = scene.camera, scene.street
    centers = (np.arange(size, dtype=np.float32) + 0.5) / size
    xs, ys = centers[None, :], centers[:, None]
    label = np.full((size, size), SKY, dtype=np.uint8)
    t = np.clip(ys / cam.horizon, 0, 1) ** 0.6
    sky = (
        np.asarray(scene.sky_zenith) * (1 - t[..., None])
        + np.asarray(scene.sky_horizon) * t[..., None]
    )
    photo = np.broadcast_to(sky, (size, size, 3)).astype(np.float32)
    clouds = np.clip(smooth_noise(rng, size, 6) - 0.3, 0, None)
    photo += (clouds * 35)[..., None]

    far_k = np.full(size, cam.focal / st.far_depth, dtype=np.float32)
    _paint_plane(
        label,
        photo,
        ys,
        (centers - cam.vx) / far_k,
        far_k,
        np.ones(size, bool),
        scene.far,
        scene,
        0.9,
    )
    for facade_x, segs, light in (
        (st.facade_left, scene.left, scene.side_light[0]),
        (st.facade_right, scene.right, scene.side_light[1]),
    ):
        dx = (centers - cam.vx) * np.sign(facade_x)
        valid = dx > 1e-6
        k = np.where(valid, dx, 1.0) / abs(facade_x)
        _paint_plane(label, photo, ys, cam.focal / k, k, valid, segs, scene, light)
    _paint_ground(label, photo, xs, ys, scene)
    for prim in scene.objects:
        _paint_prim(label, photo, centers, prim)

    fine = rng.standard_normal((size, size), dtype=np.float32)
    veg = label == VEGETATION
    leaf = 0.8 + 0.2 * smooth_noise(rng, size, 24) + 0.12 * fine
    photo[veg] *= leaf[veg][:, None]
    road = label == ROAD
    photo[road] += (5 * smooth_noise(rng, size, 16) + 3 * fine)[road][:, None]
    wall = label == BUILDING
    photo[wall] += (6 * smooth_noise(rng, size, 12))[wall][:, None]
    shade = scene.brightness * (1 + scene.gradient[0] * (xs - 0.5) + scene.gradient[1] * (ys - 0.5))
    photo *= shade[..., None] * np.asarray(scene.tint, dtype=np.float32)
    photo += scene.noise * rng.standard_normal((size, size, 3), dtype=np.float32)
    return np.clip(np.rint(photo), 0, 255).astype(np.uint8), label
