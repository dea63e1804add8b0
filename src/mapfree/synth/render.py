"""Render colour and metric z-depth of a :class:`World` through a pinhole camera."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapfree.geometry.transforms import camera_center
from mapfree.synth.world import World

MAX_SLANT = 8.0
"""Largest footprint stretch 1 / cos(theta) of a slanted surface (about 83 degrees from its normal)."""


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


def pixel_footprint(depth: np.ndarray, dirs: np.ndarray, normal: np.ndarray, focal: float) -> np.ndarray:
    """(N,) metres of surface one pixel covers along its longer side.

    A pixel spans z / f metres on a plane facing the camera at z-depth z; a surface slanted
    by the angle theta between the ray and its normal stretches that by 1 / cos(theta)
    (capped at MAX_SLANT, where grazing surfaces reach the coarsest mip levels anyway).
    """
    cos = np.abs(np.einsum("ij,ij->i", dirs, normal)) / np.linalg.norm(dirs, axis=1)
    return depth / focal / np.maximum(cos, 1.0 / MAX_SLANT)


def sample_filtered(levels: list[np.ndarray], xy: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Trilinear mipmap lookup: (N, 2) level-0 texel coordinates with (N,) footprints in texels.

    Each point blends bilinear lookups of the two levels whose texel sizes bracket its
    footprint (level l has texels 2^l wide); footprints up to one texel read level 0 alone.
    """
    if len(levels) == 1:
        return sample_wrapped(levels[0], xy)
    lod = np.clip(np.log2(np.maximum(footprint, 1.0)), 0, len(levels) - 1)
    base = np.minimum(lod.astype(np.int64), len(levels) - 2)
    out = np.empty((len(xy), levels[0].shape[2]), np.float32)
    for level in np.unique(base):
        sel = np.flatnonzero(base == level)
        weight = (lod[sel] - level)[:, None].astype(np.float32)
        out[sel] = (_sample_level(levels, level, xy[sel]) * (1 - weight)
                    + _sample_level(levels, level + 1, xy[sel]) * weight)
    return out


def _sample_level(levels: list[np.ndarray], level: int, xy: np.ndarray) -> np.ndarray:
    """Bilinear lookup in mip level `level` of points given in level-0 texel coordinates."""
    h0, w0 = levels[0].shape[:2]
    h, w = levels[level].shape[:2]
    # Texel centres: level-0 coordinate c lies at (c + 0.5) * size / size0 - 0.5 on level `level`.
    scaled = (xy + 0.5) * np.array([w / w0, h / h0], np.float32) - 0.5
    return sample_wrapped(levels[level], scaled)


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
    sky = owner < 0
    colour[sky] = world.sky.colour(dirs[sky])
    for i, prim in enumerate(world.primitives):
        sel = np.flatnonzero(owner == i)
        if len(sel) == 0:
            continue
        uv, normal = prim.surface(origin, dirs[sel], depth[sel])
        footprint = pixel_footprint(depth[sel], dirs[sel], normal, float(K[0, 0])) * world.texels_per_metre
        texel = sample_filtered(world.mipmaps[prim.texture], uv * world.texels_per_metre, footprint)
        shade = light.ambient + (1 - light.ambient) * np.clip(normal @ light.direction, 0, 1)
        colour[sel] = texel * shade[:, None].astype(np.float32)
    colour = colour * light.tint + rng.normal(0, 0.01, colour.shape).astype(np.float32)
    image = (np.clip(colour, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(height, width, 3)
    depth = np.where(np.isfinite(depth), depth, np.nan).reshape(height, width)
    return image, depth
