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
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mapfree import logs
from mapfree.baselines.depth_sources import TRUE_DEPTH_SUFFIX, sample_nearest
from mapfree.data.dataset import MapFreePairs
from mapfree.data.items import View, views
from mapfree.errors import InputError
from mapfree.models.config import HeadConfig
from mapfree.models.mickey import MicKey
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


def _unique_views(dataset: MapFreePairs) -> Iterator[tuple[str, View]]:
    """(scene, view) of every frame of the dataset's pairs once (the reference of a scene comes first)."""
    seen: set[tuple[str, str]] = set()
    for index in range(len(dataset)):
        item = dataset[index]
        for view in views(item):
            if (item["scene"], view["frame"]) not in seen:
                seen.add((item["scene"], view["frame"]))
                yield item["scene"], view


def _batches(frames: Iterator[tuple[str, View]], size: int) -> Iterator[list[tuple[str, View]]]:
    """Up to `size` consecutive frames whose images have the same shape (one network batch)."""
    batch: list[tuple[str, View]] = []
    for frame in frames:
        if batch and (len(batch) == size or batch[0][1]["image"].shape != frame[1]["image"].shape):
            yield batch
            batch = []
        batch.append(frame)
    if batch:
        yield batch


@torch.inference_mode()
def keypoint_depth_sums(model: MicKey, data_root: str | Path, split: str, resize: tuple[int, int] | None = None,
                        batch_size: int = 8) -> DepthSums:
    """The :data:`SUMS` of every frame (reference and scored queries) of every scene of a split, each once.

    `data_root` must hold the images and the true depth maps (`frame_NNNNN.depth.png`): for the
    test split, the root holding its ground truth. `resize` = (W, H) as the model was trained.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    dataset = MapFreePairs(data_root, split, resize=resize, depth_suffix=TRUE_DEPTH_SUFFIX)
    heads, max_depth = model.config.heads, depth_range(model.config.heads)
    total = len({(p.scene, f) for p in dataset.pairs for f in (p.frame0, p.frame1)})
    model.eval()
    scenes, rows = [], []
    with tqdm(total=total, desc="keypoint depth", unit="frame", disable=not logs.progress()) as bar:
        for batch in _batches(_unique_views(dataset), batch_size):
            feats = model.extract(torch.stack([view["image"] for _, view in batch]).to(model.device))
            kpts, depth, scr = (x.float().cpu().numpy() for x in (feats.kpts, feats.depth, feats.scr))
            for i, (scene, view) in enumerate(batch):
                rows.append(frame_depth_sums(kpts[i], depth[i], scr[i], view["depth"].numpy(), feats.grid,
                                             heads.border, max_depth))
                scenes.append(scene)
            bar.update(len(batch))
    return DepthSums(np.array(scenes, dtype=str), {name: np.array([r[name] for r in rows], np.float64)
                                                   for name in SUMS})
