"""Validation metrics: benchmark pose metrics of MicKey's inference solver and patch-depth errors.

Per val pair the inference solver's pose is scored with :mod:`mapfree.evaluation.metrics`
(translation, rotation and VCRE errors at the query's native intrinsics and size); failed
solves count as missing frames. Aggregates follow the benchmark: AUCs and precisions over
all pairs, "average median" errors (median per scene, mean over scenes). Where the val split
has depth maps, predicted patch depths are compared with the patch means of the true depth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mapfree.data.items import views
from mapfree.evaluation.aggregate import COVERAGE_KEY, ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY, Thresholds, summarize
from mapfree.evaluation.depth_metrics import depth_accuracy
from mapfree.evaluation.metrics import frame_errors
from mapfree.geometry.camera import Camera
from mapfree.geometry.rotations import matrix_to_quaternion
from mapfree.models import Features, MatchMatrix
from mapfree.models.pose import solve_mickey_poses
from mapfree.robust import ProcrustesRansacConfig
from mapfree.training.metric_names import POSE_AUC, vcre_metric

Gather = Callable[[Tensor], Tensor]
SHORT_NAMES = {
    TRANSLATION_KEY: "median_trans_err",
    ROTATION_KEY: "median_rot_err",
    VCRE_KEY: "median_vcre",
    COVERAGE_KEY: "estimated_fraction",
}


def short_name(key: str, thresholds: Thresholds) -> str:
    """Official metric names to TensorBoard-friendly ones (`AUC @ VCRE < 90px` -> `vcre_auc_90`)."""
    if key in SHORT_NAMES:
        return SHORT_NAMES[key]
    kind = "auc" if key.startswith("AUC") else "precision"
    if thresholds.pose_label in key:
        return f"pose_{kind}"
    for px in thresholds.vcre_px:
        if thresholds.vcre_label(px) in key:
            return vcre_metric(px, kind)
    raise KeyError(key)


def gather_rows(value: Tensor, gather: Gather) -> Tensor:
    """Concatenate every process's rows (processes may hold different numbers of rows)."""
    count = torch.tensor([len(value)], device=value.device)
    counts = gather(count).flatten().tolist()
    padded = value.new_full((max(counts), *value.shape[1:]), float("nan"))
    padded[: len(value)] = value
    everything = gather(padded.to(count.device)).cpu()
    return torch.cat([rows[:n] for rows, n in zip(everything, counts)])


class ValidationAccumulator:
    """Collects per-pair results over a validation epoch; :meth:`compute` turns them into metrics."""

    def __init__(self, solver: ProcrustesRansacConfig, thresholds: Thresholds):
        self.solver = solver
        self.thresholds = thresholds
        self.reset()

    def reset(self) -> None:
        self.rows: dict[str, list[Tensor]] = {}

    def _append(self, **values: Tensor) -> None:
        for key, value in values.items():
            self.rows.setdefault(key, []).append(value.detach().float().cpu())

    def add_loss(self, expected_loss: Tensor) -> None:
        """Per-pair expected VCRE loss of the training objective (NaN = not computable), logged as `vcre_loss`."""
        self._append(vcre_loss=expected_loss)

    @torch.no_grad()
    def add(self, batch: dict[str, Any], feats0: Features, feats1: Features, matches: MatchMatrix) -> None:
        scene = batch["scene_index"]
        view0, view1 = views(batch)
        if "true_depth" in view0:
            self._append(depth_pred=torch.cat([feats0.depth, feats1.depth]),
                         depth_true=torch.cat([view0["true_depth"], view1["true_depth"]]))
        if torch.isfinite(batch["T_0to1"]).all():
            fit = solve_mickey_poses(feats0, feats1, matches, view0["camera"], view1["camera"], self.solver)
            query = view1["camera_full"]
            self._append(scene=scene, R=fit.R, t=fit.t, confidence=fit.confidence, T_gt=batch["T_0to1"],
                         K=query.K, size=query.size)

    def compute(self, gather: Gather | None = None) -> dict[str, float]:
        """Metrics over everything added (on every process, gathered when `gather` is given)."""
        data = {key: (gather_rows(torch.cat(parts), gather) if gather else torch.cat(parts)).numpy().astype(np.float64)
                for key, parts in self.rows.items()}
        metrics: dict[str, float] = {}
        if "vcre_loss" in data and np.isfinite(data["vcre_loss"]).any():
            metrics["vcre_loss"] = float(np.nanmean(data["vcre_loss"]))
        if "depth_pred" in data:
            accuracy = depth_accuracy(data["depth_pred"], data["depth_true"])
            metrics["depth_abs_rel"], metrics["depth_delta1"] = accuracy.abs_rel, accuracy.delta1
        if "confidence" in data:
            metrics.update(pose_metrics(data, self.thresholds))
        return metrics


def pose_metrics(data: dict[str, np.ndarray], thresholds: Thresholds) -> dict[str, float]:
    """Benchmark aggregates from arrays R, t, confidence, T_gt, K, size (the query's native camera), scene
    (one row per pair)."""
    estimated = data["confidence"] > 0
    if not estimated.any():  # nothing to rank: every frame is a failure
        zero = {key: 0.0 for key in (POSE_AUC, "pose_precision", "estimated_fraction")}
        for px in thresholds.vcre_px:
            zero.update({vcre_metric(px): 0.0, vcre_metric(px, "precision"): 0.0})
        return zero
    order = np.argsort(data["scene"][estimated], kind="stable")  # the aggregator wants scenes contiguous

    def pick(key: str) -> np.ndarray:
        return data[key][estimated][order]

    T_gt = pick("T_gt")
    errors = frame_errors(matrix_to_quaternion(T_gt[:, :3, :3]), T_gt[:, :3, 3], matrix_to_quaternion(pick("R")),
                          pick("t"), Camera(pick("K"), pick("size")))
    _, scene_sizes = np.unique(pick("scene"), return_counts=True)
    metrics, _ = summarize(errors, pick("confidence"), scene_sizes, int((~estimated).sum()), thresholds)
    return {short_name(key, thresholds): value for key, value in metrics.items()}
