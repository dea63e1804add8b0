"""Correspondences between the two images of a pair, the currency of every baseline matcher."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np


@dataclass(frozen=True)
class Matches:
    """M correspondences: pixels (M, 2) in each image and a score (M,), higher is better.

    Pixel centres sit at integer coordinates (OpenCV convention), the same as the intrinsics.
    """

    kpts0: np.ndarray
    kpts1: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        m = len(self.kpts0)
        if self.kpts0.shape != (m, 2) or self.kpts1.shape != (m, 2) or self.scores.shape != (m,):
            raise ValueError(
                "matches need kpts0/kpts1 (M, 2) and scores (M,), "
                f"got {self.kpts0.shape}, {self.kpts1.shape}, {self.scores.shape}"
            )

    def __len__(self) -> int:
        return len(self.kpts0)

    @classmethod
    def create(cls, kpts0: Any, kpts1: Any, scores: Any = None) -> Matches:
        """Matches from arrays or tensors (any float type), as float64 NumPy."""
        k0 = to_numpy(kpts0).reshape(-1, 2)
        k1 = to_numpy(kpts1).reshape(-1, 2)
        s = np.ones(len(k0)) if scores is None else to_numpy(scores).reshape(-1)
        return cls(k0, k1, s)


class Matcher(Protocol):
    """Finds correspondences for a pair item (its views' `image`: (3, H, W) floats in [0, 1])."""

    name: str

    def __call__(self, item: Mapping[str, Any]) -> Matches: ...


def to_numpy(x: Any) -> np.ndarray:
    """A tensor or array as a float64 NumPy array."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def to_uint8_rgb(image: Any) -> np.ndarray:
    """(3, H, W) float RGB in [0, 1] (tensor or array) to (H, W, 3) uint8."""
    return np.ascontiguousarray(np.clip(np.moveaxis(to_numpy(image), 0, -1) * 255.0 + 0.5, 0, 255).astype(np.uint8))


def to_uint8_gray(image: Any) -> np.ndarray:
    """(3, H, W) float RGB in [0, 1] (tensor or array) to (H, W) uint8 grayscale."""
    return cv2.cvtColor(to_uint8_rgb(image), cv2.COLOR_RGB2GRAY)
