"""Seed-level inference: the training run is the unit of replication.

Each run is scored alone on the whole test split (:mod:`mapfree.study.metrics`); an arm's figure is
a statistic of its runs' scores, and an effect compares runs that share a seed (the same data
order, initialisation and feature-pretraining draw), so the effect of an arm is the mean over seeds
of the paired difference `arm(seed) - control(seed)`.

Why a t-interval over seeds and not a hierarchical bootstrap over seeds and scenes: each run's score
already averages over the test scenes, so the per-seed differences carry the scene variation and the
seed-by-scene interaction as well as the seed variation; what remains to be modelled is a mean of a
handful of independent differences. The t-interval is exact for normal differences and its coverage
at 3-10 seeds is checked on simulated data (tests/test_study_seeds.py), while percentile bootstraps
over so few units are known to under-cover (a resample of 10 values has at most 10 distinct ones).

Beside the mean effect: the effect on a typical seed (the median of the paired differences, with a
distribution-free order-statistic interval), the smallest effect the design detects with 80% power
at the observed spread (exact, through the noncentral t), and the stability of the runs: each arm's
between-seed standard deviation (chi-square interval), its paired ratio to the control's
(Pitman-Morgan interval, which allows for the correlation that shared seeds bring) and its rate of
failed runs (Clopper-Pearson interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

LEVEL = 0.95
"""Every interval's coverage."""
POWER = 0.8
"""The power at which the smallest detectable effect is reported."""
METHOD = "paired t-interval over training seeds (mean of per-seed differences, each run scored alone)"
FAILURE_RULE = "a run fails when its primary metric is on the trivial side of halfway between the trivial " \
               "baseline and the control's median run"
"""Fixed in code before any run: what makes a run a failure."""

Interval = tuple[float, float]


@dataclass(frozen=True)
class PairedSummary:
    """The paired differences of one metric over the seeds both arms have.

    `ci95` is the t-interval of the mean (None below two seeds), `median_ci95` the order-statistic
    interval of the median (None where the seeds are too few for 95%), `mde80` the smallest true mean
    difference a two-sided paired t-test at 5% detects with 80% power given the observed `sd`.
    """

    n: int
    mean: float | None
    ci95: Interval | None
    sd: float | None
    p_value: float | None
    median: float | None
    median_ci95: Interval | None
    mde80: float | None


def paired_differences(treatment: dict[int, float | None], control: dict[int, float | None]) -> np.ndarray:
    """treatment[s] - control[s] over the seeds both define (finite on both sides), in seed order."""
    seeds = sorted(s for s in treatment.keys() & control.keys() if _finite(treatment[s]) and _finite(control[s]))
    return np.array([treatment[s] - control[s] for s in seeds], dtype=np.float64)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def t_interval(values: np.ndarray, level: float = LEVEL) -> Interval | None:
    """The t-interval of the mean of `values` (None below two values)."""
    n = len(values)
    if n < 2:
        return None
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    mean = float(values.mean())
    return mean - half, mean + half


def median_interval(values: np.ndarray, level: float = LEVEL) -> Interval | None:
    """Distribution-free interval of the median: order statistics (k, n + 1 - k) with the largest k whose
    coverage 1 - 2 P(Binomial(n, 1/2) < k) is at least `level`; None when even (1, n) falls short."""
    n = len(values)
    ordered = np.sort(values)
    best = None
    for k in range(1, n // 2 + 1):
        if 1 - 2 * stats.binom.cdf(k - 1, n, 0.5) >= level:
            best = k
    return None if best is None else (float(ordered[best - 1]), float(ordered[n - best]))


def minimum_detectable_effect(sd: float, n: int, level: float = LEVEL, power: float = POWER) -> float | None:
    """The smallest |mean difference| a two-sided paired t-test at 1 - `level` detects with `power`, for `n`
    seeds whose differences have standard deviation `sd` (exact: the noncentral t); None below three seeds, where
    the noncentral t is not evaluated reliably and no design has useful power anyway."""
    if n < 3 or not math.isfinite(sd):
        return None
    if sd == 0:
        return 0.0
    df = n - 1
    critical = stats.t.ppf(0.5 + level / 2, df)

    def shortfall(noncentrality: float) -> float:
        reject = stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(-critical, df, noncentrality)
        return reject - power

    high = 1.0
    while shortfall(high) < 0:  # bracket the root by doubling (the noncentral t is unreliable far out)
        high *= 2
    noncentrality = optimize.brentq(shortfall, 0.0, high)
    return float(noncentrality * sd / math.sqrt(n))


def paired_t_p_value(mean: float, sd: float, n: int) -> float:
    """Two-sided p-value of the paired t-test of a zero mean difference (1 for no difference at all, 0 for a
    constant non-zero one)."""
    if sd == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))


def summarize_pairs(differences: np.ndarray) -> PairedSummary:
    """Everything the report says of one metric's paired differences."""
    n = len(differences)
    if n == 0:
        return PairedSummary(0, None, None, None, None, None, None, None)
    mean, median = float(differences.mean()), float(np.median(differences))
    if n < 2:
        return PairedSummary(n, mean, None, None, None, median, None, None)
    sd = float(differences.std(ddof=1))
    p_value = paired_t_p_value(mean, sd, n)
    return PairedSummary(n, mean, t_interval(differences), sd, p_value, median, median_interval(differences),
                         minimum_detectable_effect(sd, n))


def sd_interval(values: np.ndarray, level: float = LEVEL) -> Interval | None:
    """Chi-square interval of the standard deviation of normal `values` (None below two values)."""
    n = len(values)
    if n < 2:
        return None
    ss = float(values.var(ddof=1)) * (n - 1)
    tail = (1 - level) / 2
    return math.sqrt(ss / stats.chi2.ppf(1 - tail, n - 1)), math.sqrt(ss / stats.chi2.ppf(tail, n - 1))


def sd_ratio_interval(treatment: np.ndarray, control: np.ndarray,
                      level: float = LEVEL) -> tuple[float, Interval] | None:
    """sd(treatment) / sd(control) of paired samples with its Pitman-Morgan interval (correlated pairs: the
    variance ratio is F (K -+ sqrt(K^2 - 1)) with K = 1 + 2 (1 - r^2) t^2 / (n - 2)); None below three pairs
    or when either side is constant."""
    n = len(treatment)
    if n < 3 or treatment.std() == 0 or control.std() == 0:
        return None
    f = float(treatment.var(ddof=1) / control.var(ddof=1))
    r = float(np.corrcoef(treatment, control)[0, 1])
    t = stats.t.ppf(0.5 + level / 2, n - 2)
    k = 1 + 2 * (1 - r * r) * t * t / (n - 2)
    spread = math.sqrt(k * k - 1)
    return math.sqrt(f), (math.sqrt(f * (k - spread)), math.sqrt(f * (k + spread)))


def proportion_interval(successes: int, trials: int, level: float = LEVEL) -> Interval | None:
    """Clopper-Pearson (exact) interval of a binomial proportion (None without trials)."""
    if trials == 0:
        return None
    ci = stats.binomtest(successes, trials).proportion_ci(level, method="exact")
    return float(ci.low), float(ci.high)


def failure_threshold(trivial: float, control_runs: Sequence[float]) -> float:
    """See :data:`FAILURE_RULE`: halfway between the trivial baseline and the control's median run."""
    return 0.5 * (trivial + float(np.median(control_runs)))


def failed(value: float | None, threshold: float, higher_is_better: bool) -> bool:
    """Whether a run's primary metric makes it a failure (an undefined metric is one)."""
    if not _finite(value):
        return True
    return value < threshold if higher_is_better else value > threshold
