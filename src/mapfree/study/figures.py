"""The study report's figures, drawn for the first seed of every arm from what the runs left.

- training curves: each run's validation history (`RUN/history.json`);
- precision-recall on the test split at the pose and the primary VCRE criterion, from the run records
  (the curves whose areas are the study's AUCs);
- one test pair of the held-out truth (so its true pose is known): each arm's matches and cameras, and
  the pair's patch depths: the truth, the metric teacher's prior and every arm's prediction.

They go to `OUT/figures/`; :func:`study_figures` returns {title: path} for `write_study`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from mapfree.api import estimate_poses
from mapfree.atomic import save_figure_atomic
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
from mapfree.viz.depth import DepthRow, plot_depth_panels
from mapfree.viz.pair import pair_cameras, pair_matches

FIGURES = "figures"
"""The figures' folder inside the study folder."""
PAIR_INDEX = 0
"""The test pair every arm's matches, cameras and depths are shown on."""


def plot_training_curves(histories: Mapping[str, list[dict[str, float]]], vcre_px: float, path: Path) -> Figure:
    """Validation VCRE AUC (at `vcre_px`, the run's first threshold), pose AUC and depth AbsRel
    after every validation, per run. An axis with nothing to draw says so; one with a single
    validation per run says that too."""
    keys = [(f"val/{vcre_metric(vcre_px)}", f"val VCRE AUC ({vcre_px:g} px)", (-0.02, 1.02)),
            (f"val/{POSE_AUC}", "val pose AUC", (-0.02, 1.02)), ("val/depth_abs_rel", "val depth AbsRel", None)]
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    for ax, (key, title, ylim) in zip(fig.subplots(1, len(keys)), keys):
        counts, last, top = [], 1.0, 1.0
        for k, (name, history) in enumerate(histories.items()):
            rows = [r for r in history if key in r]
            counts.append(len(rows))
            if rows:  # distinct, shrinking markers: equal values stay visible
                ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="os^D"[k % 4], ms=9 - 2 * (k % 4),
                        label=name)
                last, top = max(last, rows[-1]["step"]), max(top, *(r[key] for r in rows))
        ax.set(title=title, xlabel="training step", xlim=(0, 1.08 * last))
        ax.set_ylim(*(ylim or (0, 1.1 * top)))
        ax.grid(alpha=0.3)
        if max(counts, default=0) == 0:
            why = ("validation logged no finite value\nof this metric" if any(histories.values()) else
                   "no validation ran\n(training ended before the first\ntrainer.check_val_every_n_epoch)")
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
            continue
        ax.legend(fontsize=8, loc="best")
        if max(counts) == 1:
            ax.text(0.5, 0.04, "one validation per run (after the last epoch)", ha="center", va="bottom",
                    transform=ax.transAxes, fontsize=8, color="0.35")
    save_figure_atomic(fig, path, dpi=100)
    return fig


def run_curves(record: RunRecord, thresholds: Thresholds) -> dict[str, PRCurve]:
    """{criterion label: precision-recall curve} of a run over its whole test split, as the benchmark
    draws them: all scenes' estimates by confidence, frames without an estimate as failures."""
    scenes = list(record.poses.values())
    errors = FrameErrors(*(np.concatenate([getattr(p, name) for p in scenes])
                           for name in ("translation", "rotation", "vcre")))
    confidence = np.concatenate([p.confidence for p in scenes])
    missing = sum(p.missing for p in scenes)
    return {label: precision_recall(confidence, ok, missing) for label, ok in accepted(errors, thresholds).items()}


def plot_precision_recall(records: Sequence[RunRecord], thresholds: Thresholds, path: Path) -> Figure:
    """Pose and primary-VCRE precision-recall curves, one per run (labelled by arm), on one figure.

    Over a recall interval the step shows the precision the AUC multiplies it by.
    """
    labels = (thresholds.pose_label, thresholds.vcre_label(thresholds.vcre_px[0]))
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    curves = [run_curves(record, thresholds) for record in records]
    for ax, label in zip(axes, labels):
        for record, run, marker in zip(records, curves, itertools.cycle("os^Dv<>p")):
            curve = run[label]
            ax.step(np.r_[0.0, curve.recall], np.r_[curve.precision[:1], curve.precision], where="pre",
                    marker=marker, ms=4, label=f"{record.arm} (AUC {curve.auc:.3f})")
        ax.set(title=label, xlabel="recall (estimates kept / scored query frames)", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel("precision")
    frames = sum(len(p.translation) + p.missing for p in records[0].poses.values())
    fig.suptitle(f"Precision-recall by confidence on the test split: {frames} scored query frames in "
                 f"{len(records[0].poses)} scenes, seed {records[0].seed} (missing estimates count as failures)",
                 fontsize=10)
    save_figure_atomic(fig, path, dpi=100)
    return fig


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
    sizes = [(v["image"].shape[-1], v["image"].shape[-2]) for v in (view0, view1)]
    pair_cameras(result, view0["camera"].K.double().numpy(), view1["camera"].K.double().numpy(), *sizes, cameras,
                 (T[:3, :3], T[:3, 3]), title)
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
    plot_training_curves({job.arm: json.loads((run_dir(job) / "history.json").read_text()) for job in chosen},
                         test.thresholds.vcre_px[0], curves)
    plot_precision_recall([by_run[job.arm, seed] for job in chosen], test.thresholds, pr)
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
