"""The study report's figures, drawn for the first seed of every arm from what the runs left.

- training curves: each run's validation history (`RUN/history.json`);
- precision-recall on the test split at the pose and the primary VCRE criterion, from the run records
  (the curves whose areas are the study's AUCs);
- each arm's representative test pairs of the held-out truth (so their true poses are known), chosen by the
  VCRE of its submission: the median pair and a typical failure (the best pair when the median fails),
  their matches and cameras;
- the patch depths of one pair (the first arm's median pair), a row per source: the truth, the metric
  teacher's prior and every arm's prediction.

They go to `OUT/figures/`; :func:`study_figures` returns {title: path} for `write_study`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from mapfree.api import estimate_poses
from mapfree.baselines.depth_sources import TRUE_DEPTH_SUFFIX
from mapfree.data.dataset import MapFreePairs
from mapfree.data.items import PairItem, View, views
from mapfree.data.scenes import Pair, split_pairs
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.store import PriorStore
from mapfree.evaluation.aggregate import Thresholds, accepted
from mapfree.evaluation.evaluate import Evaluation, evaluate_submission
from mapfree.evaluation.metrics import FrameErrors, PRCurve, precision_recall
from mapfree.evaluation.submission import SubmissionError
from mapfree.inference.submission import SUBMISSION_FILE
from mapfree.models.mickey import Features, MicKey
from mapfree.models.pose import MicKeyPose
from mapfree.study.records import RunRecord
from mapfree.study.runs import RunJob, TestSplit, final_model, run_dir
from mapfree.training.metric_names import POSE_AUC, vcre_metric
from mapfree.viz.cameras import plot_camera_panels
from mapfree.viz.curves import plot_precision_recall, plot_training_curves
from mapfree.viz.depth import DepthRow, plot_depth_sources
from mapfree.viz.matches import plot_match_panels
from mapfree.viz.pair import camera_panel, match_panel

FIGURES = "figures"
"""The figures' folder inside the study folder."""


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


@dataclass(frozen=True)
class Example:
    """A test pair a run's figures show, and why (its place among the run's test errors)."""

    pair: Pair
    caption: str


def example_pairs(evaluation: Evaluation, pairs: Sequence[Pair], vcre_px: float) -> list[Example]:
    """A run's representative test pairs by the VCRE of its estimates in `evaluation`: the pair at their
    median, then the contrast: when the median passes `vcre_px`, the median failure (a typical one, not
    the worst), when it fails, the best pair. `pairs` are the split's pairs, which name each query's
    reference."""
    vcre, frames = evaluation.frames.errors.vcre, evaluation.frames
    by_query = {(pair.scene, pair.frame1): pair for pair in pairs}
    order = [int(i) for i in np.argsort(vcre, kind="stable")]
    median = order[(len(order) - 1) // 2]
    failures = [i for i in order if vcre[i] > vcre_px]
    chosen = [(median, f"median pair: VCRE {vcre[median]:.1f} px, the median of {len(vcre)} estimates"
                       + (" (a failure)" if vcre[median] > vcre_px else ""))]
    share = f"{len(failures)} of {len(vcre)} estimates fail {vcre_px:g} px"
    if vcre[median] <= vcre_px and failures:
        failure = failures[(len(failures) - 1) // 2]
        chosen.append((failure, f"failure: VCRE {vcre[failure]:.1f} px > {vcre_px:g} px, a typical one ({share})"))
    elif vcre[median] > vcre_px and order[0] != median:
        best = order[0]
        chosen.append((best, f"best pair: VCRE {vcre[best]:.1f} px, "
                             + ("also a failure" if vcre[best] > vcre_px else "a success") + f" ({share})"))
    return [Example(by_query[frames.scene[i], frames.frame[i]], caption) for i, caption in chosen]


def run_examples(job: RunJob, pairs: Sequence[Pair]) -> list[Example]:
    """:func:`example_pairs` of the run's test submission (none when it holds no estimate)."""
    test = job.test
    try:
        evaluation = evaluate_submission(run_dir(job) / "test" / SUBMISSION_FILE, test.truth_root, test.split,
                                         test.thresholds)
    except SubmissionError:  # not a single estimate: no pair to show
        return []
    return example_pairs(evaluation, pairs, test.thresholds.vcre_px[0])


def held_out_item(test: TestSplit, pair: Pair) -> PairItem:
    """One pair of the held-out truth (true pose, and depth where the benchmark has it)."""
    return MapFreePairs(test.truth_root, test.split, resize=test.resize, pairs=[pair],
                        depth_suffix=TRUE_DEPTH_SUFFIX if test.has_depth else None)[0]


def estimate_pair(job: RunJob, model: MicKey, item: PairItem) -> MicKeyPose:
    """The run's final `model` on one pair, with the run's solver and its seed (as its test submission)."""
    view0, view1 = views(item)
    return estimate_poses(model, view0["image"][None], view1["image"][None], view0["camera"], view1["camera"],
                          job.config.solver, torch.Generator().manual_seed(job.seed))[0]


def plot_examples(job: RunJob, model: MicKey, examples: Sequence[Example], out: Path) -> dict[str, Path]:
    """The run's matches (inliers by probability) and cameras in 3D (reference, truth, estimate) on its
    example pairs, one figure each; the estimates are drawn anew with the run's seed, so their RANSAC
    draws (and errors) may differ from the submission's."""
    match_panels, camera_panels = [], []
    for example in examples:
        item = held_out_item(job.test, example.pair)
        result = estimate_pair(job, model, item)
        view0, view1 = views(item)
        T = item["T_0to1"].double().numpy()
        heading = f"{example.caption}\n{item['scene']}, {view0['frame']} -> {view1['frame']}"
        match_panels.append(match_panel(result, _rgb(view0), _rgb(view1), heading))
        camera_panels.append(camera_panel(result, view0["camera"], view1["camera"], (T[:3, :3], T[:3, 3]), heading))
    title = (f"{job.arm}, seed {job.seed}: test pairs chosen by the VCRE of its submission "
             "(drawn from a new estimate with the run's seed)")
    matches, cameras = out / f"matches_{job.arm}.png", out / f"cameras_{job.arm}.png"
    plot_match_panels(match_panels, matches, title)
    plot_camera_panels(camera_panels, cameras, title)
    return {f"Matches, {job.arm} (seed {job.seed}): its median test pair and a contrast": matches,
            f"Cameras, {job.arm} (seed {job.seed}): its median test pair and a contrast": cameras}


def plot_pair_depths(item: PairItem, results: Mapping[str, MicKeyPose], teacher_store: str | None, split: str,
                     path: Path, why: str) -> Figure:
    """Both frames of the pair (chosen `why`), a row per depth source: true patch depth, the metric teacher's
    prior (if stored) and each arm's prediction on one metre scale, with their relative errors against
    the truth."""
    rows = []
    for side, view in enumerate(views(item)):
        depths = {"true depth": patch_average(view["depth"]).numpy()}
        prior = PriorStore(teacher_store, split).get(item["scene"], view["frame"]) if teacher_store else None
        if prior is not None:
            depths["metric teacher"] = prior.values
        for arm, result in results.items():
            depths[arm] = _depth_grid(result.features1 if side else result.features0)
        rows.append(DepthRow(_rgb(view), depths, "true depth", label=("reference", "query")[side]))
    frames = " -> ".join(view["frame"] for view in views(item))
    return plot_depth_sources(rows, path, f"Patch depth on test pair {item['scene']}, {frames}\n({why}; truth: "
                              "patch means of the rendered depth)")


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
    pairs = split_pairs(test.truth_root, test.split)
    examples = {job.arm: run_examples(job, pairs) for job in chosen}
    arm = next((arm for arm, shown in examples.items() if shown), None)
    pair, why = (examples[arm][0].pair, f"the median pair of {arm}") if arm else (pairs[0], "the first pair")
    depth_item = held_out_item(test, pair) if test.has_depth else None
    depths = {}
    for job in chosen:  # one model in memory at a time
        model = final_model(job, job.config)
        if examples[job.arm]:
            figures.update(plot_examples(job, model, examples[job.arm], out))
        if depth_item is not None:
            depths[job.arm] = estimate_pair(job, model, depth_item)
    if depth_item is not None:
        path = out / "pair_depth.png"
        plot_pair_depths(depth_item, depths, test.teacher_store, test.split, path, why)
        figures[f"Patch depth on a test pair (seed {seed})"] = path
    return figures
