"""Each arm against the control: seed-level effects (primary) and a scene bootstrap (secondary).

The primary effect of an arm on a metric is the mean over training seeds of the paired difference
between its run and the control's run at that seed, each run scored alone as one submission, with
the t-interval over seeds (:mod:`mapfree.study.seeds`); its verdict comes from that interval.

The secondary interval holds the trained models fixed and resamples the test scenes: a resample
draws S of the S test scenes with replacement, every run of every arm is scored alone on that same
multiset (paired), and the resample's difference is the mean over seeds of the per-seed differences.
It answers "would these trained models differ on other scenes?", not "would another training run
differ?", and is labelled so. Resamples where a metric is undefined for either run are dropped for that
metric; when fewer than :data:`MIN_DEFINED` of them remain, its interval is None and its verdict "undefined".

Verdicts come from an interval and the metric's direction alone: "better" or "worse" when it lies
entirely on one side of 0, else "no detectable difference" (which is not evidence of no effect).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np

from mapfree.errors import InputError
from mapfree.study import metrics, seeds
from mapfree.study.metrics import CountsTable
from mapfree.study.records import RunRecord
from mapfree.study.seeds import PairedSummary, paired_differences, summarize_pairs

CONTROL = "none"
"""The arm every other arm is compared with."""
VERDICTS = ("better", "worse", "no detectable difference", "undefined")
MIN_DEFINED = 0.9
"""The least share of resamples that must define a metric for its interval to be reported."""
RESAMPLE_CHUNK = 250
"""Resamples evaluated at once (bounds the (chunk, frames) arrays of the pose metrics)."""

MetricFn = Callable[[RunRecord, Sequence[str]], Mapping[str, float | None]]
"""metric_fn(run, scenes) -> {key: value}: one run's metrics on a multiset of scenes."""
Direction = Callable[[str], bool | None]


@runtime_checkable
class TabulatedMetric(Protocol):
    """A metric that also tabulates per-scene data once, to evaluate many scene multisets at once."""

    def __call__(self, run: RunRecord, scenes: Sequence[str]) -> Mapping[str, float | None]: ...

    def tabulate(self, run: RunRecord, scenes: Sequence[str]) -> CountsTable: ...


@dataclass(frozen=True)
class SceneEffect:
    """The secondary interval: these trained models only, test scenes resampled."""

    ci95: tuple[float, float] | None
    verdict: str
    method: str = "paired bootstrap over test scenes, trained models fixed (these trained models only)"


@dataclass(frozen=True)
class Effect:
    """arm - control on one metric at the level of training runs (:class:`mapfree.study.seeds.PairedSummary`
    of the per-seed differences), its verdict, and the scene-only interval beside it."""

    pairs: PairedSummary
    verdict: str
    scenes_only: SceneEffect | None = None
    method: str = seeds.METHOD

    @property
    def mean(self) -> float | None:
        return self.pairs.mean

    @property
    def ci95(self) -> tuple[float, float] | None:
        return self.pairs.ci95


@dataclass(frozen=True)
class Stability:
    """How an arm's runs spread on the primary metric, and how many failed (:data:`seeds.FAILURE_RULE`)."""

    threshold: float
    """A run below it (on the metric's worse side) failed."""
    sd: float | None
    sd_ci95: tuple[float, float] | None
    failures: int
    runs: int
    failure_rate_ci95: tuple[float, float] | None
    sd_ratio: float | None = None
    """sd(arm) / sd(control) over the seeds both have (None for the control or too few seeds)."""
    sd_ratio_ci95: tuple[float, float] | None = None
    verdict: str | None = None
    """"more stable" / "less stable" when the ratio's interval excludes 1, else "no detectable difference"."""


@dataclass(frozen=True)
class Arm:
    """One arm of the study: its name, what it changes, and its runs (one per training seed)."""

    name: str
    description: str
    runs: Sequence[RunRecord]


@dataclass(frozen=True)
class ArmResult:
    """What the report shows of an arm: per-seed metrics, their mean and std, its effects vs the control."""

    name: str
    description: str
    runs: dict[int, dict[str, float | None]]
    """{seed: metrics on the full test split, the run scored alone}."""
    mean_std: dict[str, tuple[float | None, float | None]]
    effect_vs_none: dict[str, Effect]
    """Empty for the control."""
    stability: Stability | None = None


def resample_scenes(n_scenes: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_scenes) scene indices drawn with replacement by a seeded NumPy Generator."""
    if n_scenes < 1 or n_resamples < 1:
        raise InputError(f"resampling needs scenes and resamples (got {n_scenes} scenes, {n_resamples} resamples)")
    return np.random.default_rng(seed).integers(0, n_scenes, size=(n_resamples, n_scenes))


def scene_counts(indices: np.ndarray, n_scenes: int) -> np.ndarray:
    """(B, n_scenes) how many times each scene appears in each row of `indices` (B, n)."""
    rows = np.arange(len(indices))[:, None] * n_scenes
    return np.bincount((indices + rows).ravel(), minlength=len(indices) * n_scenes).reshape(len(indices), n_scenes)


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _called(metric_fn: MetricFn, run: RunRecord, scenes: Sequence[str]) -> CountsTable:
    """A counts table that calls a plain metric function once per multiset (no tabulated data)."""

    def table(counts: np.ndarray) -> dict[str, np.ndarray]:
        rows = [metric_fn(run, [scenes[i] for i in np.repeat(np.arange(len(scenes)), row)]) for row in counts]
        return {key: np.array([_number(row[key]) for row in rows]) for key in rows[0]}

    return table


def resampled_metrics(run: RunRecord, scenes: Sequence[str], metric_fn: MetricFn,
                      indices: np.ndarray) -> dict[str, np.ndarray]:
    """{key: (B,) the run's metric on each resample (a row of scene `indices`)}, NaN where undefined."""
    table = metric_fn.tabulate(run, scenes) if isinstance(metric_fn, TabulatedMetric) else \
        _called(metric_fn, run, scenes)
    counts = scene_counts(indices, len(scenes))
    chunks = [table(counts[a:a + RESAMPLE_CHUNK]) for a in range(0, len(counts), RESAMPLE_CHUNK)]
    return {key: np.concatenate([chunk[key] for chunk in chunks]) for key in chunks[0]}


def verdict(ci95: tuple[float, float], higher_is_better: bool) -> str:
    """"better" / "worse" when the interval lies strictly on one side of 0, else "no detectable difference"."""
    low, high = ci95
    if low > 0 or high < 0:
        return "better" if (low > 0) == higher_is_better else "worse"
    return "no detectable difference"


def _scene_effect(treatment: Sequence[np.ndarray], control: Sequence[np.ndarray], higher: bool) -> SceneEffect:
    """The percentile interval of the resamples' mean over seeds of the per-seed differences."""
    diff = np.mean([t - c for t, c in zip(treatment, control)], axis=0)
    defined = diff[np.isfinite(diff)]
    if defined.size < MIN_DEFINED * diff.size:
        return SceneEffect(None, "undefined")
    low, high = (float(v) for v in np.percentile(defined, [2.5, 97.5]))
    return SceneEffect((low, high), verdict((low, high), higher))


def _seed_effect(pairs: PairedSummary, higher: bool, scenes_only: SceneEffect | None) -> Effect:
    return Effect(pairs, "undefined" if pairs.ci95 is None else verdict(pairs.ci95, higher), scenes_only)


def effects_vs_control(arms: Mapping[str, Sequence[RunRecord]], scenes: Sequence[str], metric_fn: MetricFn,
                       control: str = CONTROL, n_resamples: int = 2000, seed: int = 0,
                       higher_is_better: Direction = metrics.higher_is_better,
                       scored: Mapping[str, Mapping[int, Mapping]] | None = None) -> dict[str, dict[str, Effect]]:
    """{arm: {key: Effect}} of every arm but `control` against it, paired by training seed.

    Every run is scored alone on the full split (the seed-level effect; `scored` {arm: {seed: metrics}} when
    the caller has scored them already) and on the same scene resamples (the scene-only interval, over the
    seeds both arms have; `n_resamples` 0 skips it).
    """
    if control not in arms:
        raise InputError(f"no control arm {control!r} among the arms {sorted(arms)}")
    empty = sorted(name for name, runs in arms.items() if not runs)
    if empty:
        raise InputError(f"arm(s) {empty} have no runs")
    if scored is None:
        scored = {name: {run.seed: metric_fn(run, scenes) for run in runs} for name, runs in arms.items()}
    indices = resample_scenes(len(scenes), n_resamples, seed) if n_resamples else None
    full = {name: {s: {k: _number(v) for k, v in m.items()} for s, m in runs.items()} for name, runs in scored.items()}
    resampled = {name: {run.seed: resampled_metrics(run, scenes, metric_fn, indices) for run in runs}
                 for name, runs in arms.items()} if indices is not None else None
    keys = next(iter(full[control].values())).keys()
    out = {}
    for name in arms:
        if name == control:
            continue
        some = next(iter(full[name].values()))
        absent = sorted(keys - some.keys())
        if absent:
            raise KeyError(f"arm {name!r} lacks metric(s) {absent} that {control!r} has")
        shared = sorted(full[name].keys() & full[control].keys())
        out[name] = {}
        for key in keys:
            higher = higher_is_better(key)
            if higher is None:  # descriptions without a better side (e.g. the share of keypoints on sky)
                continue
            pairs = summarize_pairs(paired_differences({s: full[name][s][key] for s in full[name]},
                                                       {s: full[control][s][key] for s in full[control]}))
            scene = None if resampled is None or not shared else _scene_effect(
                [resampled[name][s][key] for s in shared], [resampled[control][s][key] for s in shared], higher)
            out[name][key] = _seed_effect(pairs, higher, scene)
    return out


def seed_mean_std(per_run: Sequence[Mapping[str, float | None]]) -> dict[str, tuple[float | None, float | None]]:
    """{key: (mean, std with ddof=1)} over the runs where the metric is defined; std None below two such runs."""
    out = {}
    for key in per_run[0]:
        values = np.array([_number(run.get(key)) for run in per_run])
        values = values[np.isfinite(values)]
        out[key] = (float(values.mean()) if values.size else None,
                    float(values.std(ddof=1)) if values.size > 1 else None)
    return out


def stability(per_seed: Mapping[int, float | None], control: Mapping[int, float | None] | None, threshold: float,
              higher: bool) -> Stability:
    """An arm's spread and failures on one metric (`per_seed`: {seed: value}), against the control's runs when
    given (the sd ratio over the seeds both have)."""
    values = np.array([_number(v) for v in per_seed.values()])
    finite = values[np.isfinite(values)]
    failures = sum(seeds.failed(v, threshold, higher) for v in per_seed.values())
    sd = float(finite.std(ddof=1)) if finite.size > 1 else None
    out = Stability(threshold, sd, seeds.sd_interval(finite), failures, len(values),
                    seeds.proportion_interval(failures, len(values)))
    if control is None:
        return out
    shared = sorted(s for s in per_seed.keys() & control.keys()
                    if np.isfinite(_number(per_seed[s])) and np.isfinite(_number(control[s])))
    ratio = seeds.sd_ratio_interval(np.array([per_seed[s] for s in shared]), np.array([control[s] for s in shared]))
    if ratio is None:
        return replace(out, verdict="undefined")
    value, (low, high) = ratio
    word = "more stable" if high < 1 else "less stable" if low > 1 else "no detectable difference"
    return replace(out, sd_ratio=value, sd_ratio_ci95=(low, high), verdict=word)


def compare_arms(arms: Sequence[Arm], scenes: Sequence[str], metric_fn: MetricFn, n_resamples: int = 2000,
                 seed: int = 0, higher_is_better: Direction = metrics.higher_is_better,
                 primary: str | None = None, trivial: float | None = None) -> list[ArmResult]:
    """Per-run metrics, mean and std over seeds, seed-level effects vs :data:`CONTROL` of every arm, and (given
    the `primary` metric and the `trivial` baseline's value of it) each arm's stability."""
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise InputError(f"repeated arm names {names}")
    for arm in arms:
        arm_seeds = [run.seed for run in arm.runs]
        if len(set(arm_seeds)) != len(arm_seeds):
            raise InputError(f"arm {arm.name!r}: repeated seeds {arm_seeds}")
    per_run = {arm.name: {run.seed: dict(metric_fn(run, scenes)) for run in arm.runs} for arm in arms}
    effects = effects_vs_control({arm.name: arm.runs for arm in arms}, scenes, metric_fn, CONTROL, n_resamples,
                                 seed, higher_is_better, scored=per_run)
    threshold = None
    if primary is not None and trivial is not None and CONTROL in per_run:
        control_values = [_number(m[primary]) for m in per_run[CONTROL].values()]
        finite = [v for v in control_values if np.isfinite(v)]
        threshold = seeds.failure_threshold(trivial, finite) if finite else None
    out = []
    for arm in arms:
        runs = per_run[arm.name]
        stable = None
        if threshold is not None:
            control = None if arm.name == CONTROL else {s: m[primary] for s, m in per_run[CONTROL].items()}
            stable = stability({s: m[primary] for s, m in runs.items()}, control, threshold,
                               bool(higher_is_better(primary)))
        out.append(ArmResult(arm.name, arm.description, runs, seed_mean_std(list(runs.values())),
                             effects.get(arm.name, {}), stable))
    return out

