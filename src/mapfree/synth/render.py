"""Render colour and metric z-depth of a :class:`World` through a pinhole camera."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapfree.geometry.transforms import camera_center
from mapfree.synth.world import World


@dataclass(frozen=True)
class Lighting:
    """Directional light, ambient term and a per-image colour tint (camera white balance)."""

    direction: np.ndarray
    ambient: float
    tint: np.ndarray


def camera_rays(K: np.ndarray, T_w2c: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H*W, 3) world ray directions whose parameter is the camera z-depth."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    pix = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size, np.float32)], -1)
    rays_cam = pix @ np.linalg.inv(K).T.astype(np.float32)
    return rays_cam @ T_w2c[:3, :3].astype(np.float32)


def sample_wrapped(texture: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear lookup of (N, 2) texel coordinates in an (H, W, C) texture that tiles the plane."""
    h, w = texture.shape[:2]
    x0f, y0f = np.floor(xy[:, 0]), np.floor(xy[:, 1])
    fx, fy = (xy[:, 0] - x0f)[:, None], (xy[:, 1] - y0f)[:, None]
    x0, y0 = x0f.astype(np.int64) % w, y0f.astype(np.int64) % h
    x1, y1 = (x0 + 1) % w, (y0 + 1) % h
    top = texture[y0, x0] * (1 - fx) + texture[y0, x1] * fx
    bottom = texture[y1, x0] * (1 - fx) + texture[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def render(
    world: World, K: np.ndarray, T_w2c: np.ndarray, width: int, height: int, light: Lighting,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB and (H, W) float32 depth in metres (NaN for sky)."""
    origin = camera_center(T_w2c).astype(np.float32)
    dirs = camera_rays(K, T_w2c, width, height)
    n = len(dirs)
    depth = np.full(n, np.inf, np.float32)
    owner = np.full(n, -1, np.int32)
    for i, prim in enumerate(world.primitives):
        t = prim.intersect(origin, dirs)
        closer = t < depth
        depth[closer] = t[closer]
        owner[closer] = i

    colour = np.empty((n, 3), np.float32)
    colour[:] = world.sky_colour
    for i, prim in enumerate(world.primitives):
        sel = np.flatnonzero(owner == i)
        if len(sel) == 0:
            continue
        uv, normal = prim.surface(origin, dirs[sel], depth[sel])
        tex = world.textures[prim.texture]
        texel = sample_wrapped(tex, uv * world.texels_per_metre)
        shade = light.ambient + (1 - light.ambient) * np.clip(normal @ light.direction, 0, 1)
        colour[sel] = texel * shade[:, None].astype(np.float32)
    colour = colour * light.tint + rng.normal(0, 0.01, colour.shape).astype(np.float32)
    image = (np.clip(colour, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(height, width, 3)
    depth = np.where(np.isfinite(depth), depth, np.nan).reshape(height, width)
    return image, depth
