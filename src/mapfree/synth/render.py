"""Render colour and metric z-depth of a :class:`World` through a pinhole camera."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapfree.geometry.camera import Camera
from mapfree.geometry.transforms import camera_center
from mapfree.synth.world import Primitive, World, repeat_columns

MAX_SLANT = 8.0
"""Largest footprint stretch 1 / cos(theta) of a slanted surface (about 83 degrees from its normal)."""
TILE = 16
"""Rays are culled against a primitive's bounding sphere in TILE x TILE pixel tiles."""
CULL_MARGIN = 1e-3
"""Radians added to every tile-versus-sphere angle test: a hundred times the angle by which the float32
line-sphere test can misjudge a ray (about 1e-5 for a 0.35 m sphere 15 m away), so no ray whose line
the intersection code finds meeting a bounding sphere is culled."""


@dataclass(frozen=True)
class Lighting:
    """Directional light, ambient term and a per-image colour tint (camera white balance)."""

    direction: np.ndarray
    ambient: float
    tint: np.ndarray


def camera_rays(camera: Camera, T_w2c: np.ndarray) -> np.ndarray:
    """(H*W, 3) world ray directions of a NumPy camera's pixels whose parameter is the camera z-depth."""
    xs, ys = np.meshgrid(np.arange(camera.width, dtype=np.float32), np.arange(camera.height, dtype=np.float32))
    pix = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size, np.float32)], -1)
    rays_cam = pix @ np.linalg.inv(camera.K).T.astype(np.float32)
    return rays_cam @ T_w2c[:3, :3].astype(np.float32)


@dataclass(frozen=True)
class RayTiles:
    """The camera's rays in TILE x TILE pixel tiles, each tile bounded by a cone of directions.

    The rays of a pixel rectangle are linear in the pixel coordinates, so they lie in the convex
    cone of its four corner rays, and so in any circular cone holding those four. A primitive is
    then intersected only with the rays of tiles whose cone, or its mirror image behind the camera,
    meets its bounding sphere: the intersection code itself first keeps the rays whose line (not
    half-line) meets that sphere, and culling drops none of those, so depth and colour do not change.
    """

    axes: np.ndarray
    """(tiles_y, tiles_x, 3) unit cone axes (float64)."""
    half_angles: np.ndarray
    """(tiles_y, tiles_x) cone half angles in radians."""
    width: int
    height: int

    @classmethod
    def of_camera(cls, camera: Camera, T_w2c: np.ndarray) -> RayTiles:
        """Tiles of a NumPy pinhole camera with world-to-camera pose T_w2c."""
        width, height = camera.width, camera.height
        starts_x, starts_y = np.arange(0, width, TILE), np.arange(0, height, TILE)
        ends_x, ends_y = np.minimum(starts_x + TILE - 1, width - 1), np.minimum(starts_y + TILE - 1, height - 1)
        to_world = np.linalg.inv(camera.K).T @ T_w2c[:3, :3]
        corners = []
        for xs, ys in ((starts_x, starts_y), (ends_x, starts_y), (starts_x, ends_y), (ends_x, ends_y)):
            grid_x, grid_y = np.meshgrid(xs, ys)
            rays = np.stack([grid_x, grid_y, np.ones_like(grid_x)], -1).astype(np.float64) @ to_world
            corners.append(rays / np.linalg.norm(rays, axis=-1, keepdims=True))
        axes = np.sum(corners, axis=0)
        axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
        cosines = np.min([np.sum(c * axes, axis=-1) for c in corners], axis=0)
        return cls(axes, np.arccos(np.clip(cosines, -1, 1)), width, height)

    def candidates(self, origin: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray | None:
        """Flat indices of the pixels whose ray lines through `origin` may meet the sphere, or None for all of
        them (also when the origin is inside or on the sphere)."""
        offset = np.asarray(centre, np.float64) - np.asarray(origin, np.float64)
        distance = float(np.linalg.norm(offset))
        if distance <= radius * (1 + 1e-6):
            return None
        angles = np.arccos(np.clip(np.abs(self.axes @ (offset / distance)), 0, 1))
        tiles = angles <= self.half_angles + np.arcsin(radius / distance) + CULL_MARGIN
        if tiles.all():
            return None
        pixels = np.repeat(np.repeat(tiles, TILE, axis=0), TILE, axis=1)[: self.height, : self.width]
        return np.flatnonzero(pixels)


def sample_wrapped(texture: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear lookup of (N, 2) texel coordinates in an (H, W, C) texture that tiles the plane."""
    return _bilinear(texture, xy[:, 0], xy[:, 1])


def _bilinear(texture: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`sample_wrapped` of the (N,) coordinates x, y: rows of the flattened texture gathered
    once per corner, the result in the dtype of texture and coordinates together."""
    h, w, channels = texture.shape
    x0f, y0f = np.floor(x), np.floor(y)
    fx, fy = repeat_columns(x - x0f, channels), repeat_columns(y - y0f, channels)
    x0, y0 = x0f.astype(np.intp) % w, y0f.astype(np.intp) % h
    x1, y1 = x0 + 1, y0 + 1
    x1[x1 == w], y1[y1 == h] = 0, 0
    y0 *= w
    y1 *= w
    texels = texture.reshape(h * w, channels)
    gx = 1 - fx
    top = texels.take(y0 + x0, axis=0) * gx
    top += texels.take(y0 + x1, axis=0) * fx
    bottom = texels.take(y1 + x0, axis=0) * gx
    bottom += texels.take(y1 + x1, axis=0) * fx
    top *= 1 - fy
    bottom *= fy
    top += bottom
    return top


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
    A point whose weight on the finer level is exactly one skips the coarser lookup, whose
    contribution would be zero.
    """
    if len(levels) == 1:
        return sample_wrapped(levels[0], xy)
    lod = np.clip(np.log2(np.maximum(footprint, 1.0)), 0, len(levels) - 1)
    base = np.minimum(lod.astype(np.intp), len(levels) - 2)
    weight = (lod - base).astype(np.float32)
    channels = levels[0].shape[2]
    out = np.empty((len(xy), channels), np.float32)
    x, y = xy[:, 0], xy[:, 1]
    for level in np.flatnonzero(np.bincount(base)):
        sel = np.flatnonzero(base == level)
        x_sel, y_sel = x[sel], y[sel]
        texel = _sample_level(levels, level, x_sel, y_sel)
        blend = np.flatnonzero(weight[sel] > 0)
        w = repeat_columns(weight[sel[blend]], channels)
        mixed = texel.take(blend, axis=0)
        mixed *= 1 - w
        mixed += _sample_level(levels, level + 1, x_sel[blend], y_sel[blend]) * w
        texel[blend] = mixed
        out[sel] = texel
    return out


def _sample_level(levels: list[np.ndarray], level: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup in mip level `level` of points given in level-0 texel coordinates."""
    h0, w0 = levels[0].shape[:2]
    h, w = levels[level].shape[:2]
    # Texel centres: level-0 coordinate c lies at (c + 0.5) * size / size0 - 0.5 on level `level`.
    return _bilinear(levels[level], (x + 0.5) * np.float32(w / w0) - 0.5, (y + 0.5) * np.float32(h / h0) - 0.5)


def nearest_hits(primitives: list[Primitive], origin: np.ndarray, dirs: np.ndarray,
                 tiles: RayTiles | None) -> tuple[np.ndarray, np.ndarray]:
    """(N,) z-depth of the nearest hit (inf for none) and (N,) index of the primitive hit there (-1 for none).

    With `tiles`, each primitive is intersected only with the rays of the tiles that may meet its
    bounding sphere (the same result as without); on ties the earlier primitive keeps the ray.
    """
    depth = np.full(len(dirs), np.inf, np.float32)
    owner = np.full(len(dirs), -1, np.int32)
    for i, prim in enumerate(primitives):
        rays = None if tiles is None else tiles.candidates(origin, *prim.bounding_sphere)
        t = prim.intersect(origin, dirs, rays)
        if rays is None:
            closer = np.flatnonzero(t < depth)
            depth[closer], owner[closer] = t[closer], i
        else:
            closer = np.flatnonzero(t < depth[rays])
            depth[rays[closer]], owner[rays[closer]] = t[closer], i
    return depth, owner


def render(
    world: World, camera: Camera, T_w2c: np.ndarray, light: Lighting, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB and (H, W) float32 depth in metres (NaN for sky) of a NumPy camera's image."""
    origin = camera_center(T_w2c).astype(np.float32)
    dirs = camera_rays(camera, T_w2c)
    depth, owner = nearest_hits(world.primitives, origin, dirs, RayTiles.of_camera(camera, T_w2c))

    colour = np.empty((len(dirs), 3), np.float32)
    # rows gathered with take: numpy's fancy indexing of (N, 3) rows is four times slower
    sky = np.flatnonzero(owner < 0)
    colour[sky] = world.sky.colour(dirs.take(sky, axis=0))
    for i, prim in enumerate(world.primitives):
        sel = np.flatnonzero(owner == i)
        if len(sel) == 0:
            continue
        sel_dirs, sel_depth = dirs.take(sel, axis=0), depth[sel]
        uv, normal = prim.surface(origin, sel_dirs, sel_depth)
        footprint = pixel_footprint(sel_depth, sel_dirs, normal, float(camera.K[0, 0])) * world.texels_per_metre
        texel = sample_filtered(world.mipmaps[prim.texture], uv * world.texels_per_metre, footprint)
        shade = light.ambient + (1 - light.ambient) * np.clip(normal @ light.direction, 0, 1)
        texel *= repeat_columns(shade.astype(np.float32), 3)
        colour[sel] = texel
    colour *= light.tint
    colour += rng.normal(0, 0.01, colour.shape).astype(np.float32)
    np.clip(colour, 0, 1, out=colour)
    colour *= 255
    colour += 0.5
    image = colour.astype(np.uint8).reshape(camera.height, camera.width, 3)
    depth = np.where(np.isfinite(depth), depth, np.nan).reshape(camera.height, camera.width)
    return image, depth
