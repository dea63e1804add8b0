"""Depth accuracy of predicted depths against true depths: the standard monocular-depth metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DepthAccuracy:
    """AbsRel = mean |d - d*| / d*, delta1 = share of max(d/d*, d*/d) < 1.25, over `count` valid values."""

    abs_rel: float
    delta1: float
    count: int


def depth_accuracy(predicted: np.ndarray, truth: np.ndarray) -> DepthAccuracy:
    """Compare metric depths where both are finite and the truth is positive.

    Predictions at or below zero are kept (a metric depth must be positive, and such values are
    errors); their ratio counts as a failure of delta1. NaN for both metrics if nothing is valid.
    """
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    truth = np.asarray(truth, dtype=np.float64).ravel()
    valid = np.isfinite(predicted) & np.isfinite(truth) & (truth > 0)
    if not valid.any():
        return DepthAccuracy(float("nan"), float("nan"), 0)
    d, t = predicted[valid], truth[valid]
    abs_rel = float(np.mean(np.abs(d - t) / t))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d > 0, np.maximum(d / t, t / d), np.inf)
    return DepthAccuracy(abs_rel, float(np.mean(ratio < 1.25)), int(valid.sum()))
