"""Metrics of ONE run over a multiset of test scenes, and which way each one improves.

A run is scored as the benchmark scores one submission: its own estimates, ranked by its own
confidences. Estimates of two models are never ranked together (MicKey's confidence is a soft
inlier count whose scale follows each model's depth scale, so a curve over two models' estimates
would measure their cross-model calibration, not either model). An arm's figure is then a
statistic over its runs (:mod:`mapfree.study.seeds`).

A scene listed twice in the multiset (as a bootstrap resample lists it) counts twice, and for the
"Average Median" metrics each listed scene is one block. Pose metrics come from the benchmark's own
aggregation (:func:`mapfree.evaluation.aggregate.summarize`), depth metrics are ratios of summed
per-frame sums. Each metric class also tabulates per-scene data once, so that the scene bootstrap
(:mod:`mapfree.study.stats`) evaluates thousands of scene multisets as a few matrix products.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mapfree.evaluation.aggregate import (
    COVERAGE_KEY,
    ROTATION_KEY,
    TRANSLATION_KEY,
    VCRE_KEY,
    Thresholds,
    accepted,
    summarize,
)
from mapfree.evaluation.metrics import FrameErrors
from mapfree.study.depth_metrics import DEPTH_BETTER, ratios_of
from mapfree.study.records import RunRecord, ScenePoseErrors

DEPTH_PREFIX = "depth/"

Metrics = dict[str, float | None]
CountsTable = Callable[[np.ndarray], dict[str, np.ndarray]]
"""Scene counts (B, S) of B multisets of the S tabulated scenes -> {key: (B,) values, NaN where undefined}."""

LOWER_IS_BETTER = (TRANSLATION_KEY, ROTATION_KEY, VCRE_KEY)
HIGHER_IS_BETTER_PREFIXES = ("AUC @ ", "Precision @ ")
_ERROR_NAMES = {TRANSLATION_KEY: "translation", ROTATION_KEY: "rotation", VCRE_KEY: "vcre"}


def primary_metric(thresholds: Thresholds) -> str:
    """The study's primary metric, fixed before any run: VCRE AUC at the first (benchmark) threshold."""
    return f"AUC @ {thresholds.vcre_label(thresholds.vcre_px[0])}"


def higher_is_better(key: str) -> bool | None:
    """The direction of a benchmark or depth key (None: a description with no better side, such as the share
    of keypoints on sky); KeyError for anything else."""
    if key.startswith(HIGHER_IS_BETTER_PREFIXES) or key == COVERAGE_KEY:
        return True
    if key in LOWER_IS_BETTER:
        return False
    if key not in DEPTH_BETTER:
        raise KeyError(f"metric {key!r}: no direction declared (benchmark keys, or mapfree.study.depth_metrics)")
    better = DEPTH_BETTER[key]
    return None if better is None else better == "higher"


def metric_label(key: str) -> str:
    """A short name with its unit for tables and plots (`AUC @ VCRE < 40.0px` -> `VCRE AUC @ 40.0px`)."""
    fixed = {TRANSLATION_KEY: "median translation error (m)", ROTATION_KEY: "median rotation error (deg)",
             VCRE_KEY: "median reprojection error (px)", COVERAGE_KEY: "estimated fraction of frames",
             }
    if key in fixed:
        return fixed[key]
    if key.startswith(DEPTH_PREFIX):
        return "keypoint depth " + key.removeprefix(DEPTH_PREFIX).replace("_", " ").replace("delta1", "δ<1.25")
    match = re.fullmatch(r"(AUC|Precision) @ (VCRE < (?P<px>.+)px|Pose Error < \((?P<pose>.+)\))", key)
    if match is None:
        return key
    kind = "AUC" if match[1] == "AUC" else "precision"
    return f"VCRE {kind} @ {match['px']}px" if match["px"] else f"pose {kind} @ {match['pose']}"


def _poses(run: RunRecord, which: str | None) -> dict[str, ScenePoseErrors]:
    if which is None:
        return run.poses
    if not run.references or which not in run.references:
        rows = sorted(run.references or {})
        raise KeyError(f"run {run.arm!r} seed {run.seed}: no reference row {which!r} (it has {rows})")
    return run.references[which]


def _blocks(run: RunRecord, scenes: Sequence[str], which: str | None) -> list[ScenePoseErrors]:
    """The run's scene blocks in the order of `scenes`; a scene the run has no poses for is an error naming both."""
    poses = _poses(run, which)
    missing = [s for s in scenes if s not in poses]
    if missing:
        raise KeyError(f"run {run.arm!r} seed {run.seed}: no poses for test scene(s) {missing}")
    return [poses[s] for s in scenes]


def pose_metrics(run: RunRecord, scenes: Sequence[str], thresholds: Thresholds,
                 which: str | None = None) -> dict[str, float]:
    """The benchmark metrics (official keys) of one run's poses over `scenes`: what `mapfree evaluate` gives
    its submission on those scenes.

    `which` names a reference row (`run.references[which]`) to score instead of the model's own
    poses. Average Median metrics are NaN when no block has an estimate.
    """
    blocks = _blocks(run, scenes, which)
    errors = FrameErrors(*(np.concatenate([getattr(b, name) for b in blocks]) for name in _ERROR_NAMES.values()))
    confidence = np.concatenate([b.confidence for b in blocks])
    sizes = np.array([len(b.confidence) for b in blocks])
    metrics, _ = summarize(errors, confidence, sizes, sum(b.missing for b in blocks), thresholds)
    return metrics


def _check_depth_sums(run: RunRecord, names: set[str]) -> None:
    """Checks that the run has depth sums and every sum name a ratio needs."""
    if run.depth is None:
        raise KeyError(f"run {run.arm!r} seed {run.seed}: no depth sums")
    unknown = sorted(names - set(run.depth.values))
    if unknown:
        have = sorted(run.depth.values)
        raise KeyError(f"run {run.arm!r} seed {run.seed}: no depth sum(s) {unknown} (it has {have})")


def depth_metrics(run: RunRecord, scenes: Sequence[str], ratios: Mapping[str, tuple[str, str]]) -> Metrics:
    """{key: sum of its numerator / sum of its denominator} over one run's frames of `scenes`; None for 0 / 0."""
    names = {name for pair in ratios.values() for name in pair}
    _check_depth_sums(run, names)
    totals = {name: value for name, value in run.depth.select(list(scenes)).items() if name in names}
    return ratios_of(totals, ratios)


def reference_rows(runs: Sequence[RunRecord]) -> list[str]:
    """The reference rows the runs carry, in first-seen order."""
    return list(dict.fromkeys(row for run in runs for row in (run.references or {})))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / np.where(denominator != 0, denominator, 1.0), np.nan)


def _block_median(values: np.ndarray) -> float:
    """A block's median; 0 for a block without estimates, which the Average Median does not count."""
    return float(np.median(values)) if values.size else 0.0


class _PoseTable:
    """Per-scene data of one run from which any scene multiset's pose metrics follow.

    With c (S,) the multiplicity of each scene: an Average Median is c @ (sum of block medians) /
    c @ (blocks with estimates); a precision c @ accepted / c @ (estimates + missing); the AUC's
    curve has, at each distinct confidence (descending), c @ (estimates at or above it) estimates
    and c @ (accepted ones at or above it) hits. Recall is rounded to float32 as the benchmark does.
    """

    def __init__(self, run: RunRecord, scenes: Sequence[str], thresholds: Thresholds, which: str | None):
        blocks = _blocks(run, scenes, which)
        self.thresholds = thresholds
        sizes = np.array([len(b.confidence) for b in blocks])
        self.estimates = sizes.astype(np.float64)
        self.missing = np.array([b.missing for b in blocks], dtype=np.float64)
        self.present = (sizes > 0).astype(np.float64)
        self.median_sums = {key: np.array([_block_median(getattr(b, name)) for b in blocks])
                            for key, name in _ERROR_NAMES.items()}
        scene = np.repeat(np.arange(len(blocks)), sizes)
        confidence = np.concatenate([b.confidence for b in blocks]).astype(np.float64)
        errors = FrameErrors(*(np.concatenate([getattr(b, name) for b in blocks]) for name in _ERROR_NAMES.values()))
        order = np.argsort(-confidence, kind="stable")
        ends = np.flatnonzero(np.r_[confidence[order][1:] != confidence[order][:-1], True]) if order.size else order
        onehot = np.zeros((len(order), len(scenes)))
        onehot[np.arange(len(order)), scene[order]] = 1.0
        self.cum_estimates = np.cumsum(onehot, axis=0)[ends]
        self.accepted = {}
        self.cum_hits = {}
        for label, ok in accepted(errors, thresholds).items():
            hits = onehot * ok[order, None]
            self.accepted[label] = hits.sum(0)
            self.cum_hits[label] = np.cumsum(hits, axis=0)[ends]

    def __call__(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        counts = np.asarray(counts, dtype=np.float64)
        estimates = counts @ self.estimates
        total = estimates + counts @ self.missing
        out = {key: _ratio(counts @ sums, counts @ self.present) for key, sums in self.median_sums.items()}
        kept = counts @ self.cum_estimates.T
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = kept.astype(np.float32) / total.astype(np.float32)[:, None]
        steps = np.diff(recall, axis=1, prepend=np.float32(0))
        t = self.thresholds
        for label in (t.pose_label, *map(t.vcre_label, t.vcre_px)):
            hits = counts @ self.cum_hits[label].T
            precision = np.divide(hits, kept, out=np.zeros_like(hits), where=kept > 0)
            out[f"Precision @ {label}"] = _ratio(counts @ self.accepted[label], total)
            out[f"AUC @ {label}"] = np.sum(steps * precision, axis=1)
        out[COVERAGE_KEY] = _ratio(estimates, total)
        return out


@dataclass(frozen=True)
class PoseMetrics:
    """:func:`pose_metrics` as a metric of (run, scenes), tabulated for the bootstrap."""

    thresholds: Thresholds
    which: str | None = None

    def __call__(self, run: RunRecord, scenes: Sequence[str]) -> dict[str, float]:
        return pose_metrics(run, scenes, self.thresholds, self.which)

    def tabulate(self, run: RunRecord, scenes: Sequence[str]) -> CountsTable:
        return _PoseTable(run, scenes, self.thresholds, self.which)


@dataclass(frozen=True)
class DepthMetrics:
    """:func:`depth_metrics` as a metric of (run, scenes), tabulated for the bootstrap."""

    ratios: Mapping[str, tuple[str, str]]

    def __call__(self, run: RunRecord, scenes: Sequence[str]) -> Metrics:
        return depth_metrics(run, scenes, self.ratios)

    def tabulate(self, run: RunRecord, scenes: Sequence[str]) -> CountsTable:
        names = {name for pair in self.ratios.values() for name in pair}
        _check_depth_sums(run, names)
        sums = [run.depth.select([scene]) for scene in scenes]
        per_scene = {name: np.array([s[name] for s in sums]) for name in names}

        def table(counts: np.ndarray) -> dict[str, np.ndarray]:
            counts = np.asarray(counts, dtype=np.float64)
            return {key: _ratio(counts @ per_scene[num], counts @ per_scene[den])
                    for key, (num, den) in self.ratios.items()}

        return table


@dataclass(frozen=True)
class CombinedMetrics:
    """Several metrics of (run, scenes) as one (e.g. pose and depth); their keys must not collide."""

    parts: tuple[PoseMetrics | DepthMetrics, ...]

    def __call__(self, run: RunRecord, scenes: Sequence[str]) -> Metrics:
        return _merge([part(run, scenes) for part in self.parts])

    def tabulate(self, run: RunRecord, scenes: Sequence[str]) -> CountsTable:
        tables = [part.tabulate(run, scenes) for part in self.parts]
        return lambda counts: _merge([table(counts) for table in tables])


def _merge(dicts: list[dict]) -> dict:
    out: dict = {}
    for d in dicts:
        clash = sorted(out.keys() & d.keys())
        if clash:
            raise ValueError(f"metric key(s) {clash} computed twice")
        out.update(d)
    return out
