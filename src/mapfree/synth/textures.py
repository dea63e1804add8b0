"""Procedural textures rich in corners and blobs, so that learned and classical matchers find features."""

from __future__ import annotations

import cv2
import numpy as np


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(size, size, 3) low-frequency colour noise in [0, 1]: random cells upsampled bicubically."""
    small = rng.random((cells, cells, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC), 0, 1)


def make_texture(rng: np.random.Generator, size: int = 256, n_shapes: int = 60) -> np.ndarray:
    """(size, size, 3) float32 RGB in [0, 1]: a tinted noise base covered with random shapes."""
    base_colour = rng.random(3).astype(np.float32)
    tex = 0.55 * base_colour + 0.45 * _smooth_noise(rng, size, int(rng.integers(4, 12)))
    tex = np.ascontiguousarray(tex)
    for _ in range(n_shapes):
        colour = tuple(float(c) for c in rng.random(3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        extent = int(rng.integers(3, size // 6))
        kind = rng.integers(0, 4)
        if kind == 0:
            cv2.circle(tex, (x, y), extent, colour, -1, lineType=cv2.LINE_AA)
        elif kind == 1:
            w, h = (int(v) for v in rng.integers(3, size // 5, 2))
            cv2.rectangle(tex, (x, y), (x + w, y + h), colour, -1)
        elif kind == 2:
            x2, y2 = (int(v) for v in rng.integers(0, size, 2))
            cv2.line(tex, (x, y), (x2, y2), colour, int(rng.integers(1, 5)), lineType=cv2.LINE_AA)
        else:
            pts = rng.integers(-extent, extent, (3, 2)) + np.array([x, y])
            cv2.fillPoly(tex, [pts.astype(np.int32)], colour, lineType=cv2.LINE_AA)
    grain = rng.normal(0, 0.03, tex.shape).astype(np.float32)
    return np.clip(cv2.GaussianBlur(tex, (3, 3), 0.6) + grain, 0, 1)
