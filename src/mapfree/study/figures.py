"""The study report's figures, drawn for the first seed of every arm from what the runs left.

- training curves: each run's validation history (`RUN/history.json`);
- precision-recall on the test split at the pose and the primary VCRE criterion, from the run records
  (the curves whose areas are the study's AUCs);
- one test pair of the held-out truth (so its true pose is known): each arm's matches and cameras, and
  the pair's patch depths: the truth, the metric teacher's prior and every arm's prediction.

They go to `OUT/figures/`; :func:`study_figures` returns {title: path} for `write_study`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from mapfree.api import estimate_poses
from mapfree.baselines.depth_sources import TRUE_DEPTH_SUFFIX
from mapfree.data.dataset import MapFreePairs
from mapfree.data.items import PairItem, View, views
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.store import PriorStore
from mapfree.evaluation.aggregate import Thresholds, accepted
from mapfree.evaluation.metrics import FrameErrors, PRCurve, precision_recall
from mapfree.models.mickey import Features
from mapfree.models.pose import MicKeyPose
from mapfree.study.records import RunRecord
from mapfree.study.runs import RunJob, final_model, run_dir
from mapfree.training.metric_names import POSE_AUC, vcre_metric
from mapfree.viz.curves import plot_precision_recall, plot_training_curves
from mapfree.viz.depth import DepthRow, plot_depth_panels
from mapfree.viz.pair import pair_cameras, pair_matches

FIGURES = "figures"
"""The figures' folder inside the study folder."""
PAIR_INDEX = 0
"""The test pair every arm's matches, cameras and depths are shown on."""


def training_curves_figure(histories: Mapping[str, list[dict[str, float]]], vcre_px: float, path: Path) -> Figure:
    """Validation VCRE AUC (at `vcre_px`, the run's first threshold), pose AUC and depth AbsRel after every
    validation, per run."""
    panels = [(f"val/{vcre_metric(vcre_px)}", f"val VCRE AUC ({vcre_px:g} px)", (-0.02, 1.02)),
              (f"val/{POSE_AUC}", "val pose AUC", (-0.02, 1.02)), ("val/depth_abs_rel", "val depth AbsRel", None)]
    return plot_training_curves(histories, panels, path)


def run_curves(record: RunRecord, thresholds: Thresholds) -> dict[str, PRCurve]:
    """{criterion label: precision-recall curve} of a run over its whole test split, as the benchmark
    draws them: all scenes' estimates by confidence, frames without an estimate as failures."""
    scenes = list(record.poses.values())
    errors = FrameErrors(*(np.concatenate([getattr(p, name) for p in scenes])
                           for name in ("translation", "rotation", "vcre")))
    confidence = np.concatenate([p.confidence for p in scenes])
    missing = sum(p.missing for p in scenes)
    return {label: precision_recall(confidence, ok, missing) for label, ok in accepted(errors, thresholds).items()}


def precision_recall_figure(records: Sequence[RunRecord], thresholds: Thresholds, path: Path) -> Figure:
    """Pose and primary-VCRE precision-recall curves, one per run (labelled by arm), on one figure."""
    curves = [run_curves(record, thresholds) for record in records]
    panels = {label: {record.arm: run[label] for record, run in zip(records, curves)}
              for label in (thresholds.pose_label, thresholds.vcre_label(thresholds.vcre_px[0]))}
    frames = sum(len(p.translation) + p.missing for p in records[0].poses.values())
    return plot_precision_recall(panels, path, f"Precision-recall by confidence on the test split: {frames} scored "
                                 f"query frames in {len(records[0].poses)} scenes, seed {records[0].seed} (missing "
                                 "estimates count as failures)")


def _rgb(view: View) -> np.ndarray:
    return (view["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _depth_grid(features: Features) -> np.ndarray:
    """(h, w) predicted patch depth of a one-image batch."""
    return features.depth[0].float().reshape(features.grid).cpu().numpy()


def estimate_pair(job: RunJob, item: PairItem) -> MicKeyPose:
    """The run's final model on one pair, with the run's solver and its seed (as its test submission)."""
    model, solver = final_model(job, job.config), job.config.solver
    view0, view1 = views(item)
    return estimate_poses(model, view0["image"][None], view1["image"][None], view0["camera"], view1["camera"], solver,
                          torch.Generator().manual_seed(job.seed))[0]


def plot_pair(job: RunJob, item: PairItem, result: MicKeyPose, out: Path) -> dict[str, Path]:
    """The arm's matches (inliers by probability) and its cameras in 3D: reference, truth, estimate."""
    view0, view1 = views(item)
    T = item["T_0to1"].double().numpy()
    title = f"{job.arm}, seed {job.seed}: test pair {item['scene']}, {view0['frame']} -> {view1['frame']}"
    matches, cameras = out / f"matches_{job.arm}.png", out / f"cameras_{job.arm}.png"
    pair_matches(result, _rgb(view0), _rgb(view1), matches, title)
    pair_cameras(result, view0["camera"], view1["camera"], cameras, (T[:3, :3], T[:3, 3]), title)
    return {f"Matches, {job.arm} (seed {job.seed})": matches, f"Cameras, {job.arm} (seed {job.seed})": cameras}


def plot_pair_depths(item: PairItem, results: Mapping[str, MicKeyPose], teacher_store: str | None, split: str,
                     path: Path) -> Figure:
    """Both frames of the pair: true patch depth, the metric teacher's prior (if stored) and each arm's
    prediction on one metre scale, with their relative errors against the truth."""
    rows = []
    for side, view in enumerate(views(item)):
        depths = {"true depth": patch_average(view["depth"]).numpy()}
        prior = PriorStore(teacher_store, split).get(item["scene"], view["frame"]) if teacher_store else None
        if prior is not None:
            depths["metric teacher"] = prior.values
        for arm, result in results.items():
            depths[arm] = _depth_grid(result.features1 if side else result.features0)
        rows.append(DepthRow(_rgb(view), depths, "true depth", label=f"{item['scene']}/{view['frame']}"))
    return plot_depth_panels(rows, path, "Patch depth of the test pair (patch means of the rendered depth as truth)")


def study_figures(jobs: Sequence[RunJob], records: Sequence[RunRecord], out: str | Path) -> dict[str, Path]:
    """Every figure of the first seed's runs (`jobs` come seed by seed) into `out`; {report title: path}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed = jobs[0].seed
    chosen = [job for job in jobs if job.seed == seed]
    test = chosen[0].test
    by_run = {(r.arm, r.seed): r for r in records}
    curves, pr = out / "training_curves.png", out / "precision_recall.png"
    training_curves_figure({job.arm: json.loads((run_dir(job) / "history.json").read_text()) for job in chosen},
                           test.thresholds.vcre_px[0], curves)
    precision_recall_figure([by_run[job.arm, seed] for job in chosen], test.thresholds, pr)
    figures = {f"Validation during training (seed {seed})": curves,
               f"Precision-recall on the test split (seed {seed})": pr}
    item = MapFreePairs(test.truth_root, test.split, resize=test.resize,
                        depth_suffix=TRUE_DEPTH_SUFFIX if test.has_depth else None)[PAIR_INDEX]
    results = {job.arm: estimate_pair(job, item) for job in chosen}
    for job in chosen:
        figures.update(plot_pair(job, item, results[job.arm], out))
    if test.has_depth:
        depth = out / "pair_depth.png"
        plot_pair_depths(item, results, test.teacher_store, test.split, depth)
        figures[f"Patch depth of the test pair (seed {seed})"] = depth
    return figures
