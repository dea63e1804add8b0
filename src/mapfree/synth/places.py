"""Random places like Map-free scenes: a landmark object group a few metres across, a ground,
facades behind it and clutter around, all at metric scale."""

from __future__ import annotations

import numpy as np

from mapfree.synth.textures import make_texture
from mapfree.synth.world import Box, Rectangle, Sky, Sphere, World

_UP = np.array([0.0, 0.0, 1.0])
TEXELS_PER_METRE = 64.0
MAX_TEXTURE_SIDE = 2048
"""Surfaces larger than this many texels (only the far ground) repeat their texture beyond it."""


def make_place(rng: np.random.Generator, n_objects: tuple[int, int] = (5, 9)) -> World:
    """A ground plane, three facades on a U around the centre, and boxes/spheres within 2.5 m of the centre
    (so cameras 4.5 m or more away never stand inside an object)."""
    prims: list = []
    prims.append(Rectangle(np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), 40.0, 40.0, 0))
    radius = rng.uniform(11.0, 15.0)
    wall_height = rng.uniform(4.0, 9.0)
    for angle in np.deg2rad([90.0, 0.0, 180.0]) + rng.uniform(-0.15, 0.15, 3):
        inward = -np.array([np.cos(angle), np.sin(angle), 0.0])
        centre = -inward * radius + _UP * wall_height / 2
        axis_u = np.cross(_UP, inward)
        prims.append(Rectangle(centre, axis_u, _UP, radius * 1.2, wall_height / 2, len(prims)))
    for _ in range(rng.integers(*n_objects, endpoint=True)):
        dist = rng.uniform(0.0, 2.5)
        ang = rng.uniform(0, 2 * np.pi)
        pos = np.array([dist * np.cos(ang), dist * np.sin(ang), 0.0])
        if rng.random() < 0.7:
            half = rng.uniform([0.2, 0.2, 0.2], [1.0, 1.0, 1.5])
            prims.append(Box(pos + _UP * half[2], half, rng.uniform(0, np.pi), len(prims)))
        else:
            r = rng.uniform(0.3, 0.9)
            prims.append(Sphere(pos + _UP * (r + rng.uniform(0, 0.8)), r, len(prims)))
    for p in prims:
        for name in ("centre", "axis_u", "axis_v", "half"):
            if hasattr(p, name):
                setattr(p, name, np.asarray(getattr(p, name), dtype=np.float32))
    textures = [_surface_texture(rng, p.surface_size) for p in prims]
    return World(prims, textures, centre=np.array([0.0, 0.0, 1.0]), sky=Sky.random(rng),
                 texels_per_metre=TEXELS_PER_METRE)


def _surface_texture(rng: np.random.Generator, size_metres: tuple[float, float]) -> np.ndarray:
    """A texture covering a (width, height) metre surface once at TEXELS_PER_METRE (capped)."""
    width, height = (min(MAX_TEXTURE_SIDE, int(np.ceil(m * TEXELS_PER_METRE))) for m in size_metres)
    return make_texture(rng, height, width)
