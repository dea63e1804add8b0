"""Paired bootstrap over test scenes: each arm's effect against the control, with a 95% interval.

The test scenes are the unit of resampling (frames of one scene are not independent). A resample
draws S of the S test scenes with replacement; every arm is scored on that same multiset of
scenes (paired), its seeds pooled, so scene difficulty, shared by the arms, cancels out of the
difference. The effect reported is the difference on the full test split (not the mean of the
bootstrap differences); its 95% interval is the percentile interval of the resampled differences.

Verdicts come from the interval and the metric's direction alone: "better" or "worse" when it
lies entirely on one side of 0, else "no detectable difference" (which is not evidence of no
effect). Resamples where a metric is undefined (None or NaN) for either arm are dropped for that
metric; when fewer than :data:`MIN_DEFINED` of them remain, the interval is None and the
verdict "undefined".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from mapfree.errors import InputError
from mapfree.study import metrics
from mapfree.study.metrics import CountsTable
from mapfree.study.records import RunRecord

CONTROL = "none"
"""The arm every other arm is compared with."""
VERDICTS = ("better", "worse", "no detectable difference", "undefined")
MIN_DEFINED = 0.9
"""The least share of resamples that must define a metric for its interval to be reported."""
RESAMPLE_CHUNK = 250
"""Resamples evaluated at once (bounds the (chunk, frames) arrays of the pose metrics)."""

MetricFn = Callable[[Sequence[RunRecord], Sequence[str]], Mapping[str, float | None]]
"""metric_fn(runs, scenes) -> {key: value}: the runs' metrics on a multiset of scenes, seeds pooled."""
Direction = Callable[[str], bool | None]


@runtime_checkable
class TabulatedMetric(Protocol):
    """A metric that also tabulates per-scene data once, to evaluate many scene multisets at once."""

    def __call__(self, runs: Sequence[RunRecord], scenes: Sequence[str]) -> Mapping[str, float | None]: ...

    def tabulate(self, runs: Sequence[RunRecord], scenes: Sequence[str]) -> CountsTable: ...


@dataclass(frozen=True)
class Effect:
    """treatment - control on one metric.

    `mean` is the difference on the full test split (None where either arm leaves it undefined),
    not the bootstrap mean; `ci95` the 2.5 and 97.5 percentiles of the resampled differences.
    """

    mean: float | None
    ci95: tuple[float, float] | None
    verdict: str


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
    """{seed: metrics on the full test split}."""
    mean_std: dict[str, tuple[float | None, float | None]]
    effect_vs_none: dict[str, Effect]
    """Empty for the control."""


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


def _called(metric_fn: MetricFn, runs: Sequence[RunRecord], scenes: Sequence[str]) -> CountsTable:
    """A counts table that calls a plain metric function once per multiset (no tabulated data)."""

    def table(counts: np.ndarray) -> dict[str, np.ndarray]:
        rows = [metric_fn(runs, [scenes[i] for i in np.repeat(np.arange(len(scenes)), row)]) for row in counts]
        return {key: np.array([_number(row[key]) for row in rows]) for key in rows[0]}

    return table


def resampled_metrics(runs: Sequence[RunRecord], scenes: Sequence[str], metric_fn: MetricFn,
                      indices: np.ndarray) -> dict[str, np.ndarray]:
    """{key: (B,) the runs' metric on each resample (a row of scene `indices`)}, NaN where undefined."""
    table = metric_fn.tabulate(runs, scenes) if isinstance(metric_fn, TabulatedMetric) else \
        _called(metric_fn, runs, scenes)
    counts = scene_counts(indices, len(scenes))
    chunks = [table(counts[a:a + RESAMPLE_CHUNK]) for a in range(0, len(counts), RESAMPLE_CHUNK)]
    return {key: np.concatenate([chunk[key] for chunk in chunks]) for key in chunks[0]}


def verdict(ci95: tuple[float, float], higher_is_better: bool) -> str:
    """"better" / "worse" when the interval lies strictly on one side of 0, else "no detectable difference"."""
    low, high = ci95
    if low > 0 or high < 0:
        return "better" if (low > 0) == higher_is_better else "worse"
    return "no detectable difference"


def _effect(full: tuple[float, float], samples: tuple[np.ndarray, np.ndarray], higher: bool) -> Effect:
    """The effect of (treatment, control) full-split values and resampled values."""
    mean = full[0] - full[1]
    diff = samples[0] - samples[1]
    defined = diff[np.isfinite(diff)]
    mean_out = float(mean) if np.isfinite(mean) else None
    if defined.size < MIN_DEFINED * diff.size:
        return Effect(mean_out, None, "undefined")
    low, high = (float(v) for v in np.percentile(defined, [2.5, 97.5]))
    return Effect(mean_out, (low, high), verdict((low, high), higher))


def effects_vs_control(arms: Mapping[str, Sequence[RunRecord]], scenes: Sequence[str], metric_fn: MetricFn,
                       control: str = CONTROL, n_resamples: int = 2000, seed: int = 0,
                       higher_is_better: Direction = metrics.higher_is_better) -> dict[str, dict[str, Effect]]:
    """{arm: {key: Effect}} of every arm but `control` against it, all on the same resamples.

    Each arm's metrics are computed once per resample (the control's too), then differenced.
    """
    if control not in arms:
        raise InputError(f"no control arm {control!r} among the arms {sorted(arms)}")
    empty = sorted(name for name, runs in arms.items() if not runs)
    if empty:
        raise InputError(f"arm(s) {empty} have no runs")
    indices = resample_scenes(len(scenes), n_resamples, seed)
    values = {name: ({k: _number(v) for k, v in metric_fn(runs, scenes).items()},
                     resampled_metrics(runs, scenes, metric_fn, indices)) for name, runs in arms.items()}
    full_c, samples_c = values[control]
    out = {}
    for name, (full, samples) in values.items():
        if name == control:
            continue
        absent = sorted(full_c.keys() - full.keys())
        if absent:
            raise KeyError(f"arm {name!r} lacks metric(s) {absent} that {control!r} has")
        # descriptions without a better side (e.g. the share of keypoints on sky) get no effect
        out[name] = {key: _effect((full[key], full_c[key]), (samples[key], samples_c[key]), higher)
                     for key in full_c if (higher := higher_is_better(key)) is not None}
    return out


def paired_effects(treatment: Sequence[RunRecord], control: Sequence[RunRecord], scenes: Sequence[str],
                   metric_fn: MetricFn, n_resamples: int = 2000, seed: int = 0,
                   higher_is_better: Direction = metrics.higher_is_better) -> dict[str, Effect]:
    """{key: Effect} of treatment - control, both scored on the same resampled scene multisets."""
    arms = {"treatment": treatment, "control": control}
    return effects_vs_control(arms, scenes, metric_fn, "control", n_resamples, seed, higher_is_better)["treatment"]


def seed_mean_std(per_run: Sequence[Mapping[str, float | None]]) -> dict[str, tuple[float | None, float | None]]:
    """{key: (mean, std with ddof=1)} over the runs where the metric is defined; std None below two such runs."""
    out = {}
    for key in per_run[0]:
        values = np.array([_number(run.get(key)) for run in per_run])
        values = values[np.isfinite(values)]
        out[key] = (float(values.mean()) if values.size else None,
                    float(values.std(ddof=1)) if values.size > 1 else None)
    return out


def mean_std_over_seeds(runs: Sequence[RunRecord], metric_fn: MetricFn,
                        scenes: Sequence[str]) -> dict[str, tuple[float | None, float | None]]:
    """{key: (mean, std)} of each run's own metrics on `scenes` (see :func:`seed_mean_std`)."""
    return seed_mean_std([metric_fn([run], scenes) for run in runs])


def compare_arms(arms: Sequence[Arm], scenes: Sequence[str], metric_fn: MetricFn, n_resamples: int = 2000,
                 seed: int = 0, higher_is_better: Direction = metrics.higher_is_better) -> list[ArmResult]:
    """Per-seed metrics, mean and std over seeds, and paired effects vs :data:`CONTROL` of every arm."""
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise InputError(f"repeated arm names {names}")
    for arm in arms:
        seeds = [run.seed for run in arm.runs]
        if len(set(seeds)) != len(seeds):
            raise InputError(f"arm {arm.name!r}: repeated seeds {seeds}")
    effects = effects_vs_control({arm.name: arm.runs for arm in arms}, scenes, metric_fn, CONTROL, n_resamples,
                                 seed, higher_is_better)
    out = []
    for arm in arms:
        per_run = {run.seed: dict(metric_fn([run], scenes)) for run in arm.runs}
        out.append(ArmResult(arm.name, arm.description, per_run, seed_mean_std(list(per_run.values())),
                             effects.get(arm.name, {})))
    return out
