"""OpenCV SIFT with Lowe's ratio test: the matcher that needs no weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from mapfree.baselines.matches import Matches, to_uint8_gray
from mapfree.data.items import views
from mapfree.errors import InputError


class SiftMatcher:
    """SIFT (RootSIFT descriptors), exact nearest neighbours, ratio test.

    RootSIFT (L1-normalise, square root) compares histograms with the Hellinger kernel, which
    matches better than raw SIFT at no cost; the Map-free SIFT baseline uses it too. The
    score of a match is 1 - d1/d2, so distinctive matches rank first.
    """

    name = "sift"

    def __init__(self, num_features: int = 4096, ratio: float = 0.8, root_sift: bool = True):
        if not 0 < ratio <= 1:
            raise InputError(f"ratio must lie in (0, 1], got {ratio}")
        self.sift = cv2.SIFT_create(nfeatures=num_features)
        self.ratio = ratio
        self.root_sift = root_sift
        self.matcher = cv2.BFMatcher(cv2.NORM_L2)

    def describe(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (K, 2) and descriptors (K, 128) float32 of one grayscale image."""
        keypoints, desc = self.sift.detectAndCompute(gray, None)
        if desc is None or len(keypoints) == 0:
            return np.zeros((0, 2)), np.zeros((0, 128), np.float32)
        if self.root_sift:
            desc = np.sqrt(desc / (desc.sum(axis=1, keepdims=True) + 1e-7))
        return np.array([k.pt for k in keypoints], dtype=np.float64), desc.astype(np.float32)

    def __call__(self, item: Mapping[str, Any]) -> Matches:
        (kpts0, desc0), (kpts1, desc1) = (self.describe(to_uint8_gray(view["image"])) for view in views(item))
        if len(desc0) == 0 or len(desc1) < 2:
            return Matches.create(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))
        pairs = [p for p in self.matcher.knnMatch(desc0, desc1, k=2) if len(p) == 2]
        best = np.array([(m.queryIdx, m.trainIdx, m.distance, n.distance) for m, n in pairs]).reshape(-1, 4)
        keep = best[:, 2] < self.ratio * best[:, 3]
        i0, i1 = best[keep, 0].astype(int), best[keep, 1].astype(int)
        scores = 1.0 - best[keep, 2] / np.maximum(best[keep, 3], 1e-12)
        return Matches.create(kpts0[i0], kpts1[i1], scores)
