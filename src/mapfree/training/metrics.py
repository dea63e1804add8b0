"""Validation metrics: benchmark pose metrics of MicKey's inference solver and patch-depth errors.

Per val pair the inference solver's pose is scored with :mod:`mapfree.evaluation.metrics`
(translation, rotation and VCRE errors at the query's native intrinsics and size); failed
solves count as missing frames. Aggregates follow the benchmark: AUCs and precisions over
all pairs, "average median" errors (median per scene, mean over scenes). Where the val split
has depth maps, predicted patch depths are compared with the patch means of the true depth.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from mapfree.evaluation.metrics import frame_errors, precision_recall
from mapfree.geometry.rotations import matrix_to_quaternion
from mapfree.models import Features, Matches
from mapfree.training.config import ValidationSolverConfig

POSE_THRESHOLDS = (0.25, 5.0)
"""Translation (m) and rotation (deg) below which a pose counts as accepted."""
VCRE_THRESHOLDS = (90.0, 45.0)
"""Pixels: the public benchmark's threshold and the seed paper's."""

Gather = Callable[[Tensor], Tensor]


def patch_depth_errors(pred: Tensor, true: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image mean absolute relative error and mean absolute error (m) over patches with a true depth.

    pred, true (B, N); images without a valid patch give NaN.
    """
    valid = torch.isfinite(true) & (true > 0)
    t = torch.where(valid, true, torch.ones_like(true))
    diff = torch.where(valid, (pred - t).abs(), torch.zeros_like(t))
    n = valid.sum(-1).float()
    n = torch.where(n > 0, n, torch.full_like(n, float("nan")))
    return (diff / t).sum(-1) / n, diff.sum(-1) / n


def solve_poses(feats0: Features, feats1: Features, matches: Matches, K0: Tensor, K1: Tensor,
                cfg: ValidationSolverConfig) -> tuple[Tensor, Tensor, Tensor]:
    """MicKey's inference solver on a batch: R (B, 3, 3), t (B, 3), confidence (B,) (0 = no estimate)."""
    from mapfree.robust.mickey import MicKeySolverConfig, solve_mickey

    solver = MicKeySolverConfig(rounds=cfg.rounds, hypotheses=cfg.hypotheses, samples=cfg.samples,
                                refinements=cfg.refinements, inlier_threshold=cfg.inlier_threshold,
                                soft_threshold=cfg.soft_threshold)
    out = solve_mickey(feats0.kps, feats0.depth, feats1.kps, feats1.depth, matches.scores, K0, K1, solver)
    return out.R, out.t, out.confidence


class ValidationAccumulator:
    """Collects per-pair results over a validation epoch; :meth:`compute` turns them into metrics."""

    def __init__(self, solver: ValidationSolverConfig):
        self.solver = solver
        self.reset()

    def reset(self) -> None:
        self.rows: dict[str, list[Tensor]] = {}

    def _append(self, **values: Tensor) -> None:
        for key, value in values.items():
            self.rows.setdefault(key, []).append(value.detach().float().cpu())

    @torch.no_grad()
    def add(self, batch: dict[str, Any], feats0: Features, feats1: Features, matches: Matches) -> None:
        scene = batch["scene_index"]
        if "true_depth0" in batch:
            pred = torch.cat([feats0.depth, feats1.depth]).float()
            rel, err = patch_depth_errors(pred, torch.cat([batch["true_depth0"], batch["true_depth1"]]).to(pred))
            self._append(depth_abs_rel=rel, depth_abs_err=err)
        if torch.isfinite(batch["T_0to1"]).all():
            R, t, conf = solve_poses(feats0, feats1, matches, batch["K0"], batch["K1"], self.solver)
            self._append(scene=scene, R=R, t=t, confidence=conf, T_gt=batch["T_0to1"],
                         K=batch["K_full1"], size=batch["size_full1"])

    def compute(self, gather: Gather | None = None) -> dict[str, float]:
        """Metrics over everything added (on every process, gathered when `gather` is given)."""
        data = {}
        for key, parts in self.rows.items():
            value = torch.cat(parts)
            if gather is not None:
                value = gather(value).flatten(0, 1).cpu()
            data[key] = value.numpy().astype(np.float64)
        metrics: dict[str, float] = {}
        if "depth_abs_rel" in data:
            metrics["depth_abs_rel"] = float(np.nanmean(data["depth_abs_rel"]))
            metrics["depth_abs_err"] = float(np.nanmean(data["depth_abs_err"]))
        if "confidence" in data:
            metrics.update(pose_metrics(data))
        return metrics


def pose_metrics(data: dict[str, np.ndarray]) -> dict[str, float]:
    """Benchmark aggregates from arrays R, t, confidence, T_gt, K, size, scene (one row per pair)."""
    estimated = data["confidence"] > 0
    n_missing = int((~estimated).sum())
    T_gt = data["T_gt"]
    errors = frame_errors(
        matrix_to_quaternion(T_gt[:, :3, :3]), T_gt[:, :3, 3], matrix_to_quaternion(data["R"]), data["t"],
        data["K"], data["size"][:, 0], data["size"][:, 1],
    )
    metrics = {"estimated_fraction": float(estimated.mean())}
    conf = data["confidence"][estimated]
    accepted_pose = (errors.translation < POSE_THRESHOLDS[0]) & (errors.rotation < POSE_THRESHOLDS[1])
    metrics["pose_auc"] = precision_recall(conf, accepted_pose[estimated], n_missing).auc
    metrics["pose_precision"] = float(accepted_pose[estimated].sum() / len(estimated))
    for px in VCRE_THRESHOLDS:
        accepted = errors.vcre[estimated] < px
        metrics[f"vcre_auc_{px:g}"] = precision_recall(conf, accepted, n_missing).auc
        metrics[f"vcre_precision_{px:g}"] = float(accepted.sum() / len(estimated))
    scenes = data["scene"][estimated]
    for name, values in (("trans_err", errors.translation), ("rot_err", errors.rotation), ("vcre", errors.vcre)):
        kept = values[estimated]
        medians = [np.median(kept[scenes == s]) for s in np.unique(scenes)]
        metrics[f"median_{name}"] = float(np.mean(medians)) if medians else float("nan")
    return metrics
