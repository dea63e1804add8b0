"""Depth accuracy of a trained MicKey at its own keypoints, against the true depth at the keypoint pixel.

The pose solver back-projects each keypoint with its predicted depth, so that is where depth
matters: the true depth is read at the keypoint's nearest pixel (integer-centred pixels, see
:func:`mapfree.baselines.depth_sources.sample_nearest`), never interpolated or averaged over a
patch, which would invent depths across occlusion edges. Every keypoint of a frame falls in
exactly one group:

- `sky`: no true depth at its pixel (0 in the depth PNG, or outside the image);
- `beyond_range`: true depth above the model's `max_depth` (only a model with `depth_sigmoid`
  bounds its depth): neither arm can reach it, so it is reported apart;
- `border`: in the `border` patches whose confidence MicKey zeroes, so the pose loss never
  samples them: reported apart;
- `interior`: the rest, where the headline metrics are measured.

Each frame gives *sums* (:data:`SUMS`) and every metric is a ratio of two totals
(:data:`DEPTH_RATIOS`), so a multiset of scenes (:meth:`mapfree.study.records.DepthSums.select`)
gives its metrics exactly as the whole split does. AbsRel and delta < 1.25 follow
:func:`mapfree.evaluation.depth_metrics.depth_accuracy`: a prediction <= 0 keeps its AbsRel
|d - t| / t and fails delta1. Weighted sums use the model's confidence `scr`; median-scaled
sums first multiply the frame's predictions by median(t / d) over its interior keypoints with
d > 0 (1 when there is none: nothing to align).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mapfree.baselines.depth_sources import sample_nearest
from mapfree.data.items import views
from mapfree.errors import InputError
from mapfree.inference.frames import FrameFeatures
from mapfree.models.config import HeadConfig
from mapfree.study.records import DepthSums

_METRICS: dict[str, tuple[str, str, str | None]] = {
    "depth/abs_rel": ("interior/abs_rel", "interior/count", "lower"),
    "depth/delta1": ("interior/delta1", "interior/count", "higher"),
    "depth/abs_rel_weighted": ("interior/abs_rel_weighted", "interior/confidence", "lower"),
    "depth/delta1_weighted": ("interior/delta1_weighted", "interior/confidence", "higher"),
    "depth/abs_rel_scaled": ("interior/abs_rel_scaled", "interior/count", "lower"),
    "depth/delta1_scaled": ("interior/delta1_scaled", "interior/count", "higher"),
    "depth/abs_rel_scaled_weighted": ("interior/abs_rel_scaled_weighted", "interior/confidence", "lower"),
    "depth/delta1_scaled_weighted": ("interior/delta1_scaled_weighted", "interior/confidence", "higher"),
    "depth/border_abs_rel": ("border/abs_rel", "border/count", "lower"),
    "depth/border_delta1": ("border/delta1", "border/count", "higher"),
    "depth/beyond_range_fraction": ("beyond_range/count", "all/count", None),
    "depth/sky_fraction": ("sky/count", "all/count", None),
    "depth/sky_confidence": ("sky/confidence", "all/confidence", "lower"),
}

DEPTH_RATIOS: dict[str, tuple[str, str]] = {key: (num, den) for key, (num, den, _) in _METRICS.items()}
"""{metric key: (numerator sum, denominator sum)}."""

DEPTH_BETTER: dict[str, str | None] = {key: better for key, (_, _, better) in _METRICS.items()}
"""{metric key: "lower" or "higher" is better, or None for a description of the keypoints' placement
(the share on sky or beyond range, which the scenes mostly set); confidence on sky is "lower":
no photograph supports a match there."""

SUMS: tuple[str, ...] = tuple(dict.fromkeys(name for num, den in DEPTH_RATIOS.values() for name in (num, den)))
"""The per-frame sums, in a fixed order."""


def depth_range(heads: HeadConfig) -> float:
    """The largest depth the model can predict: `max_depth` with a depth sigmoid, else unbounded."""
    return heads.max_depth if heads.depth_sigmoid else math.inf


def border_patches(grid: tuple[int, int], border: int) -> np.ndarray:
    """(h * w,) row-major mask of the patches within `border` of the grid's edge (MicKey zeroes their confidence)."""
    h, w = grid
    rows, cols = np.divmod(np.arange(h * w), w)
    return (rows < border) | (rows >= h - border) | (cols < border) | (cols >= w - border)


def _errors(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|d - t| / t and whether max(d / t, t / d) < 1.25 (a prediction <= 0 fails), per keypoint."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (pred > 0) & (np.maximum(pred / truth, truth / pred) < 1.25)
    return np.abs(pred - truth) / truth, ok.astype(np.float64)


def _median_scale(pred: np.ndarray, truth: np.ndarray) -> float:
    """median(t / d) over the predictions d > 0; 1 when there is none."""
    positive = pred > 0
    return float(np.median(truth[positive] / pred[positive])) if positive.any() else 1.0


def frame_depth_sums(kpts: np.ndarray, pred: np.ndarray, confidence: np.ndarray, truth: np.ndarray,
                     grid: tuple[int, int], border: int, max_depth: float) -> dict[str, float]:
    """The :data:`SUMS` of one frame.

    kpts (N, 2) keypoints in pixels of the (H, W) true depth map `truth` (metres, NaN unknown),
    pred (N,) predicted depths, confidence (N,), one per patch of the row-major (h, w) `grid`.
    """
    pred, confidence = np.asarray(pred, np.float64), np.asarray(confidence, np.float64)
    at = sample_nearest(truth, np.asarray(kpts, np.float64)).astype(np.float64)
    known = np.isfinite(at) & (at > 0)
    in_range = known & (at <= max_depth)
    edge = border_patches(grid, border)
    inner, rim = in_range & ~edge, in_range & edge
    sums = {"all/count": float(len(at)), "all/confidence": float(confidence.sum()),
            "sky/count": float(np.sum(~known)), "sky/confidence": float(confidence[~known].sum()),
            "beyond_range/count": float(np.sum(known & ~in_range)), "border/count": float(rim.sum()),
            "interior/count": float(inner.sum()), "interior/confidence": float(confidence[inner].sum())}
    abs_rel, delta1 = _errors(pred[rim], at[rim])
    sums["border/abs_rel"], sums["border/delta1"] = float(abs_rel.sum()), float(delta1.sum())
    d, t, w = pred[inner], at[inner], confidence[inner]
    for suffix, scaled in (("", d), ("_scaled", d * _median_scale(d, t))):
        abs_rel, delta1 = _errors(scaled, t)
        sums[f"interior/abs_rel{suffix}"], sums[f"interior/delta1{suffix}"] = float(abs_rel.sum()), float(delta1.sum())
        sums[f"interior/abs_rel{suffix}_weighted"] = float(np.sum(w * abs_rel))
        sums[f"interior/delta1{suffix}_weighted"] = float(np.sum(w * delta1))
    return sums


def ratios_of(totals: Mapping[str, float], ratios: Mapping[str, tuple[str, str]]) -> dict[str, float | None]:
    """{metric key: total of its numerator / total of its denominator}; None where the denominator is 0."""
    return {key: totals[num] / totals[den] if totals[den] > 0 else None for key, (num, den) in ratios.items()}


def depth_metrics_from_sums(totals: dict[str, float]) -> dict[str, float | None]:
    """The depth metrics (:data:`DEPTH_RATIOS`) of summed :data:`SUMS`; None where the denominator is 0."""
    missing = [name for name in SUMS if name not in totals]
    if missing:
        raise InputError(f"depth sums lack {missing}")
    return ratios_of(totals, DEPTH_RATIOS)


class KeypointDepthSums:
    """The :data:`SUMS` of every frame of a split's pair items, each frame once (a scene's reference is in
    all its pairs), from the features a :class:`FrameFeatures` extracted for them.

    Items must carry their true depth maps (`MapFreePairs(..., depth_suffix="depth")`: for the test
    split, the root holding its ground truth).
    """

    def __init__(self, heads: HeadConfig):
        self.border, self.max_depth = heads.border, depth_range(heads)
        self.seen: set[tuple[str, str]] = set()
        self.scenes: list[str] = []
        self.rows: list[dict[str, float]] = []

    def add(self, items: Sequence[Mapping[str, Any]], frames: FrameFeatures) -> None:
        """Sum the frames of `items` not seen before, reference first."""
        for item in items:
            for feats, frame in zip(frames.pairs([item])[:2], views(item)):
                key = (item["scene"], frame["frame"])
                if key in self.seen:
                    continue
                self.seen.add(key)
                kpts, depth, scr = (x[0].float().cpu().numpy() for x in (feats.kpts, feats.depth, feats.scr))
                self.rows.append(frame_depth_sums(kpts, depth, scr, frame["depth"].numpy(), feats.grid, self.border,
                                                  self.max_depth))
                self.scenes.append(item["scene"])

    def sums(self) -> DepthSums:
        return DepthSums(np.array(self.scenes, dtype=str),
                         {name: np.array([row[name] for row in self.rows], np.float64) for name in SUMS})
