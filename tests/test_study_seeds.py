"""Seed-level inference checked against known truths on simulated data.

Every simulation draws from a seeded NumPy Generator, so each test is deterministic; the repetition counts
are chosen so that the Monte-Carlo standard error of a coverage or rejection rate, sqrt(p (1 - p) / reps),
is small against the band the test allows (each band's reasoning is stated beside it).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from mapfree.study import seeds
from mapfree.study.metrics import DepthMetrics
from mapfree.study.records import DepthSums, RunRecord
from mapfree.study.seeds import (
    failed,
    failure_threshold,
    median_interval,
    minimum_detectable_effect,
    proportion_interval,
    sd_interval,
    sd_ratio_interval,
    summarize_pairs,
    t_interval,
)
from mapfree.study.stats import Arm, compare_arms, effects_vs_control, stability

MEAN = DepthMetrics({"depth/delta1": ("sum", "count")})
"""A run's "depth/delta1" is the mean of its per-scene values (one frame per scene, count 1)."""
BOTH = DepthMetrics({"depth/delta1": ("sum", "count"), "depth/abs_rel": ("sum", "count")})
"""The same mean under a higher-is-better and a lower-is-better key."""


def _covered(intervals: list[tuple[float, float] | None], truth: float) -> float:
    assert all(ci is not None for ci in intervals)
    return float(np.mean([low <= truth <= high for low, high in intervals]))


# --- 1. the seed-level t-interval -------------------------------------------------------------------------------


def test_paired_t_interval_covers_the_true_mean_difference_95_percent(monkeypatch):
    """10 seeds, normal differences with mean 0.3: the interval is exact, so its coverage is 0.95.

    4000 repetitions: the Monte-Carlo sd of the coverage is sqrt(0.95 * 0.05 / 4000) = 0.0034, so the band
    0.95 +- 0.015 is +-4.4 sd; an interval using z (1.96) instead of t(9) (2.26) would cover 0.918, outside
    it. The median interval and the detectable effect, which the summary also computes, are replaced by stubs
    here only to keep the 4000 summaries fast."""
    monkeypatch.setattr(seeds, "minimum_detectable_effect", lambda sd, n: None)
    monkeypatch.setattr(seeds, "median_interval", lambda values: None)
    rng = np.random.default_rng(11)
    truth, reps = 0.3, 4000
    summaries = [summarize_pairs(d) for d in rng.normal(truth, 1.7, (reps, 10))]
    coverage = _covered([s.ci95 for s in summaries], truth)
    assert abs(coverage - 0.95) <= 0.015, coverage
    # the p-value is that of the same t-test: below 5% exactly when the interval excludes 0
    for s in summaries[:500]:
        assert (s.p_value < 0.05) == (not s.ci95[0] <= 0 <= s.ci95[1])


def test_summary_fields_on_a_small_case():
    d = np.array([1.0, 2.0, 4.0, 0.5, 3.0, 2.5, 1.5, 2.0, 3.5, 1.0])
    s = summarize_pairs(d)
    sd = float(np.std(d, ddof=1))
    half = sps.t.ppf(0.975, 9) * sd / math.sqrt(10)
    assert (s.n, s.mean, s.median, s.sd) == (10, pytest.approx(2.1), 2.0, pytest.approx(sd))
    assert s.ci95 == pytest.approx((2.1 - half, 2.1 + half))
    assert s.p_value == pytest.approx(sps.ttest_1samp(d, 0.0).pvalue)
    assert s.median_ci95 == (1.0, 3.5)  # x(2), x(9) of the sorted differences
    assert s.mde80 == pytest.approx(minimum_detectable_effect(sd, 10))
    assert summarize_pairs(np.array([])) == seeds.PairedSummary(0, None, None, None, None, None, None, None)
    one = summarize_pairs(np.array([0.7]))
    assert (one.n, one.mean, one.ci95, one.sd, one.p_value, one.median) == (1, 0.7, None, None, None, 0.7)
    assert t_interval(np.array([0.7])) is None


def hierarchical_arms(rng: np.random.Generator, delta: float, n_seeds: int = 10, n_scenes: int = 20,
                      seed_sd: float = 2.0, effect_sd: float = 0.5, scene_sd: float = 0.5,
                      level_sd: float = 3.0) -> tuple[list[str], dict[str, list[RunRecord]]]:
    """Runs of a control ("none") and a treatment ("t") over `n_seeds` shared seeds on `n_scenes` test scenes.

    A scene's value in a run is its difficulty (sd `level_sd`, the same in every run: the test split is fixed)
    + the seed's effect (sd `seed_sd`, shared by both arms at that seed) + for the treatment, `delta` + a
    seed-level deviation of the effect (sd `effect_sd`) + run-by-scene noise (sd `scene_sd`). A run's metric is
    the mean over the scenes, so the per-seed difference is delta + deviation + scene noise: iid normal with
    mean `delta`, the true effect.
    """
    scenes = [f"s{i:03d}" for i in range(n_scenes)]
    levels = rng.normal(0.0, level_sd, n_scenes)
    arms: dict[str, list[RunRecord]] = {"none": [], "t": []}
    for seed in range(n_seeds):
        shared = levels + rng.normal(0.0, seed_sd)
        effect = delta + rng.normal(0.0, effect_sd)
        for arm, values in (("none", shared), ("t", shared + effect)):
            values = values + rng.normal(0.0, scene_sd, n_scenes)
            sums = DepthSums(np.array(scenes), {"sum": values, "count": np.ones(n_scenes)})
            arms[arm].append(RunRecord(arm, seed, {}, sums))
    return scenes, arms


def test_seed_level_interval_covers_the_true_effect_end_to_end():
    """Runs built from scenes, scored alone, paired by seed (n_resamples=0: no scene bootstrap).

    The per-seed differences are normal with mean delta and sd sqrt(0.5^2 + 2 * 0.5^2 / 20) = 0.52, so the
    t-interval's coverage is 0.95; 300 repetitions give a Monte-Carlo sd of 0.0126, and the band 0.90-0.99 is
    -4 / +3 sd. delta = 1 is 6 sd-of-the-mean (noncentrality 1 / 0.52 * sqrt(10) = 6.1), so the power is
    ~1 and the verdict must be "better" in at least 95% of repetitions; were the runs not paired by seed the
    shared seed effect (sd 2) would stay in the differences (sd 2.9) and the power would drop to ~0.2."""
    rng = np.random.default_rng(7)
    delta, reps = 1.0, 300
    effects = []
    for repetition in range(reps):
        scenes, arms = hierarchical_arms(rng, delta)
        metric = BOTH if repetition < 30 else MEAN  # the second key only where it is checked (speed)
        effects.append(effects_vs_control(arms, scenes, metric, n_resamples=0)["t"])
    coverage = _covered([e["depth/delta1"].ci95 for e in effects], delta)
    assert 0.90 <= coverage <= 0.99, coverage
    better = np.mean([e["depth/delta1"].verdict == "better" for e in effects])
    assert better >= 0.95, better
    # the same difference on a lower-is-better key is "worse", with the same interval
    for e in effects[:30]:
        assert e["depth/abs_rel"].ci95 == e["depth/delta1"].ci95
        assert e["depth/abs_rel"].verdict == {"better": "worse", "worse": "better"}.get(
            e["depth/delta1"].verdict, e["depth/delta1"].verdict)
        assert e["depth/delta1"].scenes_only is None and e["depth/delta1"].pairs.n == 10


# --- 2. a scene bootstrap alone under-covers when seeds vary ------------------------------------------------------


def test_scene_bootstrap_alone_undercovers_when_seeds_vary():
    """Seed-level deviation of the effect sd 1.0, run-by-scene noise sd 0.5 over 20 scenes.

    The mean over 10 seeds of the differences has sd sqrt(1 / 10 + 2 * 0.25 / 20 / 10) = 0.32, of which the
    scene resampling sees only the scene part (0.05): its 95% interval, about +-0.1, covers the true delta with
    probability ~P(|Z| < 0.31) = 0.24. 60 repetitions give a Monte-Carlo sd of at most 0.065, so < 0.8 is far
    from the expected value yet would fail for an interval that carried the seed variation; the seed-level
    interval's coverage (0.95, sd 0.028) must stay >= 0.85 (3.6 sd below)."""
    rng = np.random.default_rng(3)
    delta, reps = 0.4, 60
    seed_level, scene_only, widths = [], [], []
    for repetition in range(reps):
        scenes, arms = hierarchical_arms(rng, delta, effect_sd=1.0)
        effect = effects_vs_control(arms, scenes, MEAN, n_resamples=200, seed=repetition)["t"]["depth/delta1"]
        seed_level.append(effect.ci95)
        scene_only.append(effect.scenes_only.ci95)
        widths.append((effect.scenes_only.ci95[1] - effect.scenes_only.ci95[0]) / (effect.ci95[1] - effect.ci95[0]))
    seed_coverage, scene_coverage = _covered(seed_level, delta), _covered(scene_only, delta)
    assert scene_coverage < 0.8, scene_coverage
    assert seed_coverage >= 0.85, seed_coverage
    assert np.median(widths) < 0.5  # the scene-only interval is much the narrower


# --- 3. the minimum detectable effect -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 10])
def test_minimum_detectable_effect_has_80_percent_power(n):
    """Paired t-tests at 5% on normal differences with true mean = MDE: rejection rate 0.80.

    10000 simulated studies: Monte-Carlo sd sqrt(0.8 * 0.2 / 10000) = 0.004, the band +-0.03 is 7.5 sd; the
    normal approximation (1.96 + 0.84) sd / sqrt(n) would give 0.56 at n = 5 and 0.70 at n = 10."""
    sd = 0.37
    mde = minimum_detectable_effect(sd, n)
    rng = np.random.default_rng(n)
    samples = rng.normal(mde, sd, (10000, n))
    rate = float(np.mean(sps.ttest_1samp(samples, 0.0, axis=1).pvalue < 0.05))
    assert abs(rate - 0.80) <= 0.03, rate


def test_minimum_detectable_effect_shrinks_with_seeds_and_scales_with_sd():
    values = [minimum_detectable_effect(1.0, n) for n in range(3, 31)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert minimum_detectable_effect(2.5, 10) == pytest.approx(2.5 * minimum_detectable_effect(1.0, 10))
    # many seeds: the normal approximation (z_0.975 + z_0.8) sd / sqrt(n)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert minimum_detectable_effect(1.0, 400) == pytest.approx(z / 20, rel=0.01)
    assert minimum_detectable_effect(1.0, 2) is None and minimum_detectable_effect(1.0, 0) is None
    assert minimum_detectable_effect(0.0, 10) == 0.0
    assert minimum_detectable_effect(float("nan"), 10) is None


# --- 4. the median interval ---------------------------------------------------------------------------------------


def _binomial_coverage(n: int, k: int) -> float:
    """P(x(k) <= median <= x(n + 1 - k)) = 1 - 2 P(Binomial(n, 1/2) <= k - 1), by counting."""
    return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n


def test_median_interval_uses_the_right_order_statistics():
    """n = 10: k = 2 covers 1 - 2 * 11/1024 = 0.979, k = 3 only 1 - 2 * 56/1024 = 0.891, so (x(2), x(9))."""
    assert _binomial_coverage(10, 2) == pytest.approx(1002 / 1024) and _binomial_coverage(10, 3) < 0.95
    x = np.array([7.0, 3.0, 9.0, 1.0, 5.0, 10.0, 2.0, 8.0, 4.0, 6.0])
    assert median_interval(x) == (2.0, 9.0)
    for n in range(6, 41):
        k = max(k for k in range(1, n // 2 + 1) if _binomial_coverage(n, k) >= 0.95)
        assert median_interval(np.arange(1.0, n + 1)) == (float(k), float(n + 1 - k)), n
    # n = 5: even (x(1), x(5)) covers only 1 - 2/32 = 0.9375; n = 6 reaches 1 - 2/64 = 0.969 with (x(1), x(6))
    assert _binomial_coverage(5, 1) < 0.95 <= _binomial_coverage(6, 1)
    for n in range(6):
        assert median_interval(np.arange(1.0, n + 1)) is None, n
    assert median_interval(np.arange(1.0, 7.0)) == (1.0, 6.0)


def test_median_interval_covers_the_median_of_skewed_data():
    """Lognormal(0, 1), median 1, n = 10: the exact coverage is 0.979 whatever the distribution.

    3000 repetitions: Monte-Carlo sd sqrt(0.979 * 0.021 / 3000) = 0.0026; the test asks >= 0.95 and within
    +-0.012 (4.6 sd) of 0.979; (x(3), x(8)) would cover 0.89."""
    rng = np.random.default_rng(5)
    intervals = [median_interval(x) for x in rng.lognormal(0.0, 1.0, (3000, 10))]
    coverage = _covered(intervals, 1.0)
    assert coverage >= 0.95 and abs(coverage - _binomial_coverage(10, 2)) <= 0.012, coverage


# --- 5. the spread: chi-square sd interval and Pitman-Morgan sd ratio ---------------------------------------------


def test_sd_ratio_interval_covers_the_true_ratio_of_correlated_pairs():
    """Bivariate normal pairs, rho 0.6, sd 2 and 1 (true ratio 2), n = 10: the Pitman-Morgan interval is exact.

    4000 repetitions: Monte-Carlo sd 0.0034, band 0.95 +-0.015 (4.4 sd). Ignoring the correlation (r = 0 in K,
    an unpaired F-like interval) would over-cover (0.98) and fail the band."""
    rng = np.random.default_rng(17)
    rho, sds, n, reps = 0.6, (2.0, 1.0), 10, 4000
    cov = np.array([[sds[0] ** 2, rho * sds[0] * sds[1]], [rho * sds[0] * sds[1], sds[1] ** 2]])
    pairs = rng.multivariate_normal([5.0, 3.0], cov, (reps, n))
    results = [sd_ratio_interval(p[:, 0], p[:, 1]) for p in pairs]
    coverage = _covered([ci for _, ci in results], 2.0)
    assert abs(coverage - 0.95) <= 0.015, coverage
    for p, (ratio, (low, high)) in zip(pairs[:50], results):
        assert ratio == pytest.approx(np.std(p[:, 0], ddof=1) / np.std(p[:, 1], ddof=1))
        assert low < ratio < high


def test_sd_ratio_interval_needs_three_pairs_and_spread():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([0.0, 3.0, 1.0])
    assert sd_ratio_interval(a[:2], b[:2]) is None
    assert sd_ratio_interval(a, b) is not None
    assert sd_ratio_interval(a, np.ones(3)) is None and sd_ratio_interval(np.ones(3), b) is None


def test_sd_interval_covers_the_true_sd_of_normal_data():
    """Normal, sd 0.8, n = 10: the chi-square interval is exact; 4000 repetitions, band 0.95 +-0.015 (4.4 sd)."""
    rng = np.random.default_rng(23)
    coverage = _covered([sd_interval(x) for x in rng.normal(2.0, 0.8, (4000, 10))], 0.8)
    assert abs(coverage - 0.95) <= 0.015, coverage
    assert sd_interval(np.array([1.0])) is None
    assert sd_interval(np.array([3.0, 3.0, 3.0])) == (0.0, 0.0)


# --- 6. failures: the Clopper-Pearson interval and the failure rule -----------------------------------------------


def test_proportion_interval_is_clopper_pearson():
    """Against the beta-quantile form of the exact interval, and its coverage >= 95% at every p (computed)."""
    for trials in (1, 3, 10, 25):
        for k in range(trials + 1):
            low, high = proportion_interval(k, trials)
            assert low <= k / trials <= high
            expect_low = 0.0 if k == 0 else sps.beta.ppf(0.025, k, trials - k + 1)
            expect_high = 1.0 if k == trials else sps.beta.ppf(0.975, k + 1, trials - k)
            assert (low, high) == pytest.approx((expect_low, expect_high), abs=1e-9), (k, trials)
    assert proportion_interval(0, 10)[0] == 0.0 and proportion_interval(10, 10)[1] == 1.0
    assert proportion_interval(0, 10)[1] == pytest.approx(1 - 0.025 ** (1 / 10))  # the rule of 3.7 / n
    intervals = [proportion_interval(k, 10) for k in range(11)]
    for p in np.linspace(0.01, 0.99, 99):
        coverage = sum(sps.binom.pmf(k, 10, p) for k, (low, high) in enumerate(intervals) if low <= p <= high)
        assert coverage >= 0.95 - 1e-9, p
    assert proportion_interval(0, 0) is None


def test_failure_rule_is_halfway_to_the_control_median_in_the_metric_direction():
    # higher is better: trivial 0.1, control median (0.7 + 0.9) / 2 = 0.8, threshold 0.45
    threshold = failure_threshold(0.1, [0.5, 0.9, 0.7, 100.0])
    assert threshold == pytest.approx(0.45)
    assert failed(0.44, threshold, True) and not failed(0.46, threshold, True) and not failed(0.45, threshold, True)
    # lower is better (an error): trivial 10, control median 2, threshold 6
    threshold = failure_threshold(10.0, [2.0, 1.0, 3.0])
    assert threshold == 6.0
    assert failed(6.5, threshold, False) and not failed(5.5, threshold, False)
    for undefined in (None, float("nan"), float("inf"), float("-inf")):
        assert failed(undefined, threshold, False) and failed(undefined, 0.45, True)


# --- 7. stability --------------------------------------------------------------------------------------------------


def _stable_pair(rng: np.random.Generator) -> tuple[dict[int, float], dict[int, float]]:
    """10 seeds: the control's runs spread with sd 0.1 around 0.6, the treatment's with sd 0.01 (true ratio 0.1,
    partly correlated through a shared seed term), so the Pitman-Morgan interval (at n = 10 about x/÷ 2.5 around
    the observed ratio) lies far below 1."""
    common = rng.normal(0.0, 1.0, 10)
    control = 0.6 + 0.1 * common
    treatment = 0.65 + 0.01 * (0.5 * common + math.sqrt(0.75) * rng.normal(0.0, 1.0, 10))
    return dict(enumerate(treatment.tolist())), dict(enumerate(control.tolist()))


def test_stability_counts_failures_and_finds_the_steadier_arm():
    treatment, control = _stable_pair(np.random.default_rng(1))
    threshold = failure_threshold(0.0, list(control.values()))  # ~0.3
    control[8], control[9] = 0.2, None  # two failed control runs (one undefined)
    mine = stability(treatment, control, threshold, higher=True)
    assert mine.verdict == "more stable" and mine.sd_ratio_ci95[1] < 1, mine
    assert mine.failures == 0 and mine.runs == 10
    assert mine.failure_rate_ci95 == pytest.approx(proportion_interval(0, 10))
    shared = range(9)  # the seeds whose runs both arms have a value for (not 9: None)
    t, c = np.array([treatment[s] for s in shared]), np.array([control[s] for s in shared])
    ratio, (low, high) = sd_ratio_interval(t, c)
    assert (mine.sd_ratio, *mine.sd_ratio_ci95) == pytest.approx((ratio, low, high))
    assert mine.sd == pytest.approx(np.std(list(treatment.values()), ddof=1))
    assert mine.sd_ci95 == pytest.approx(sd_interval(np.array(list(treatment.values()))))

    theirs = stability(control, treatment, threshold, higher=True)
    assert theirs.verdict == "less stable" and theirs.sd_ratio_ci95[0] > 1, theirs
    assert (theirs.failures, theirs.runs) == (2, 10)  # 0.2 below ~0.3, and None
    assert theirs.failure_rate_ci95 == pytest.approx(proportion_interval(2, 10))
    assert theirs.sd == pytest.approx(np.std([v for v in control.values() if v is not None], ddof=1))

    alone = stability(control, None, threshold, higher=True)
    assert (alone.verdict, alone.sd_ratio, alone.sd_ratio_ci95, alone.failures) == (None, None, None, 2)
    # lower is better: the same values now fail above the threshold
    assert stability(control, None, 0.55, higher=False).failures == sum(
        v is None or v > 0.55 for v in control.values())


def test_stability_is_undefined_with_too_few_seeds_and_no_detectable_for_equal_spread():
    treatment, control = _stable_pair(np.random.default_rng(2))
    two = stability({0: treatment[0], 1: treatment[1]}, control, 0.3, higher=True)
    assert two.verdict == "undefined" and two.sd_ratio is None
    rng = np.random.default_rng(4)
    same = stability(dict(enumerate(rng.normal(0.6, 0.1, 10))), dict(enumerate(rng.normal(0.6, 0.1, 10))),
                     0.3, higher=True)
    assert same.verdict == "no detectable difference" and same.sd_ratio_ci95[0] < 1 < same.sd_ratio_ci95[1]


def test_compare_arms_reports_stability_with_the_failure_threshold():
    """Through compare_arms: the threshold is halfway between the trivial value and the control's median run."""
    treatment, control = _stable_pair(np.random.default_rng(1))
    scenes = ["a", "b"]

    def run(arm: str, seed: int, value: float) -> RunRecord:  # both scenes at `value`: the run's mean is `value`
        return RunRecord(arm, seed, {}, DepthSums(np.array(scenes), {"sum": np.full(2, value),
                                                                     "count": np.ones(2)}))

    arms = [Arm("none", "control", [run("none", s, v) for s, v in control.items()]),
            Arm("steady", "treatment", [run("steady", s, v) for s, v in treatment.items()])]
    none, steady = compare_arms(arms, scenes, MEAN, n_resamples=0, primary="depth/delta1", trivial=0.1)
    expected = 0.5 * (0.1 + float(np.median(list(control.values()))))
    assert none.stability.threshold == pytest.approx(expected) == steady.stability.threshold
    assert none.stability.verdict is None and steady.stability.verdict == "more stable"
    assert steady.effect_vs_none["depth/delta1"].mean == pytest.approx(
        np.mean(list(treatment.values())) - np.mean(list(control.values())))
