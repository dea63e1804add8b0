"""The study's per-run metrics, seed-level effects and scene bootstrap, on cases whose answers are known."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from mapfree.evaluation.aggregate import COVERAGE_KEY, ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY, Thresholds
from mapfree.study.metrics import (
    CombinedMetrics,
    DepthMetrics,
    PoseMetrics,
    depth_metrics,
    higher_is_better,
    pose_metrics,
    primary_metric,
)
from mapfree.study.records import DepthSums, RunRecord, ScenePoseErrors
from mapfree.study.stats import (
    Arm,
    compare_arms,
    effects_vs_control,
    resample_scenes,
    resampled_metrics,
    seed_mean_std,
    verdict,
)
from study_fakes import DEPTH_RATIOS, fake_run

SCENES = [f"s{i:05d}" for i in range(6)]
THRESHOLDS = Thresholds.for_image_width(240)
PRIMARY = primary_metric(THRESHOLDS)
METRICS = CombinedMetrics((PoseMetrics(THRESHOLDS), DepthMetrics(DEPTH_RATIOS)))


def runs(arm: str, seeds: int = 2, **kwargs) -> list[RunRecord]:
    return [fake_run(arm, seed, SCENES, **kwargs) for seed in range(seeds)]


def test_resampling_is_seeded_with_replacement():
    a = resample_scenes(5, 400, seed=3)
    assert a.shape == (400, 5) and a.min() == 0 and a.max() == 4
    assert np.array_equal(a, resample_scenes(5, 400, seed=3))
    assert not np.array_equal(a, resample_scenes(5, 400, seed=4))
    assert any(len(set(row)) < 5 for row in a)  # some scene drawn twice


def test_tabulated_metrics_equal_the_benchmark_aggregation_on_every_resample():
    """Duplicated scenes, ties in confidence, missing frames, a scene without estimates, a reference row."""
    arm = runs("a", seeds=3, references=("true depth",))
    empty = ScenePoseErrors(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), missing=3)
    arm[1].poses[SCENES[2]] = empty
    indices = np.vstack([resample_scenes(len(SCENES), 40, seed=1), [[2] * len(SCENES)]])
    for metric in (METRICS, PoseMetrics(THRESHOLDS, which="true depth")):
        for run in arm:
            fast = resampled_metrics(run, SCENES, metric, indices)
            plain = resampled_metrics(run, SCENES, lambda r, s, m=metric: m(r, s), indices)
            assert fast.keys() == plain.keys()
            for key in fast:
                np.testing.assert_allclose(fast[key], plain[key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_pose_metrics_score_one_run_and_count_a_listed_twice_scene_twice():
    run = fake_run("a", 0, SCENES, frames=5)
    metrics = pose_metrics(run, SCENES[:2], THRESHOLDS)
    key = f"Precision @ {THRESHOLDS.vcre_label(THRESHOLDS.vcre_px[0])}"
    px = THRESHOLDS.vcre_px[0]
    hits = sum(int(np.sum(run.poses[s].vcre < px)) for s in SCENES[:2])
    assert metrics[key] == pytest.approx(hits / (2 * 5 + 2))  # two scenes of 5 estimates, 2 missing in the first
    medians = [np.median(run.poses[s].vcre) for s in (*SCENES[:2], SCENES[1])]
    assert pose_metrics(run, [*SCENES[:2], SCENES[1]], THRESHOLDS)[VCRE_KEY] == pytest.approx(np.mean(medians))
    assert metrics[COVERAGE_KEY] == pytest.approx(10 / 12)


def monotone(run: RunRecord) -> RunRecord:
    """The run with its confidences mapped by a strictly increasing function (its submission's ranking kept)."""
    poses = {s: dataclasses.replace(p, confidence=np.exp(p.confidence / 3.0) + 7.0) for s, p in run.poses.items()}
    return dataclasses.replace(run, poses=poses)


def test_a_monotone_map_of_one_runs_confidences_changes_no_reported_number():
    """Each run is scored alone, as the benchmark scores a submission: no number ranks two models' estimates
    together, so rescaling one model's confidences (which leaves its own ranking) changes nothing."""
    arms = [Arm("none", "", runs("none", seeds=3)), Arm("b", "", runs("b", seeds=3, scale=0.7))]
    changed = [arms[0], Arm("b", "", [monotone(arms[1].runs[0]), *arms[1].runs[1:]])]
    before, after = (compare_arms(a, SCENES, METRICS, n_resamples=200, primary=PRIMARY, trivial=0.0)
                     for a in (arms, changed))
    assert before == after
    assert METRICS(changed[1].runs[0], SCENES) == METRICS(arms[1].runs[0], SCENES)


def test_depth_metrics_are_ratios_of_sums_and_none_without_a_denominator():
    record = RunRecord("a", 0, {}, DepthSums(np.array(["x", "x", "y"]), {"num": np.array([1.0, 2.0, 5.0]),
                                                                            "den": np.array([2.0, 2.0, 0.0])}))
    # x twice (num 3, den 4 each) and y (num 5, den 0): 11 / 8
    assert depth_metrics(record, ["x", "y", "x"], {"r": ("num", "den")}) == {"r": 11 / 8}
    assert depth_metrics(record, ["y"], {"r": ("num", "den")}) == {"r": None}
    with pytest.raises(KeyError, match="'missing'"):
        depth_metrics(record, ["x"], {"r": ("num", "missing")})


def test_missing_scene_reference_row_or_depth_is_an_error_naming_it():
    run = fake_run("a", 0, SCENES)
    with pytest.raises(KeyError, match="s99999"):
        pose_metrics(run, ["s99999"], THRESHOLDS)
    with pytest.raises(KeyError, match="true depth"):
        pose_metrics(run, SCENES, THRESHOLDS, which="true depth")
    with pytest.raises(KeyError, match="no depth sums"):
        depth_metrics(dataclasses.replace(run, depth=None), SCENES, DEPTH_RATIOS)


def test_directions_of_benchmark_and_depth_keys_and_unknown_keys_raise():
    assert higher_is_better(primary_metric(THRESHOLDS)) and higher_is_better(COVERAGE_KEY)
    assert higher_is_better(f"Precision @ {THRESHOLDS.pose_label}")
    assert not any(map(higher_is_better, (TRANSLATION_KEY, ROTATION_KEY, VCRE_KEY)))
    assert not higher_is_better("depth/abs_rel_scaled") and higher_is_better("depth/delta1_weighted")
    assert higher_is_better("depth/sky_fraction") is None
    with pytest.raises(KeyError, match="sq_rel"):
        higher_is_better("sq_rel")


def test_verdict_follows_the_interval_and_the_direction():
    assert verdict((0.1, 0.3), True) == "better" and verdict((0.1, 0.3), False) == "worse"
    assert verdict((-0.3, -0.1), True) == "worse" and verdict((-0.3, -0.1), False) == "better"
    assert verdict((0.0, 0.0), True) == verdict((-1.0, 0.0), False) == "no detectable difference"


def paired_effects(treatment: list[RunRecord], control: list[RunRecord], scenes: list[str], metric,
                   n_resamples: int = 300, seed: int = 0) -> dict:
    return effects_vs_control({"t": treatment, "none": control}, scenes, metric, "none", n_resamples, seed)["t"]


def test_identical_arms_have_zero_effects():
    arm = runs("a")
    effects = paired_effects(arm, arm, SCENES, METRICS)
    assert effects.keys() == METRICS(arm[0], SCENES).keys()
    for key, effect in effects.items():
        assert (effect.mean, effect.ci95, effect.verdict) == (0.0, (0.0, 0.0), "no detectable difference"), key
        assert effect.pairs.n == 2 and effect.scenes_only.ci95 == (0.0, 0.0)


def shifted(run: RunRecord, c: float) -> RunRecord:
    """Every error of `run` minus `c`."""
    poses = {s: dataclasses.replace(p, translation=p.translation - c, rotation=p.rotation - c, vcre=p.vcre - c)
             for s, p in run.poses.items()}
    return dataclasses.replace(run, poses=poses)


def test_errors_lowered_by_a_constant_lower_every_median_error_by_it():
    c = 0.5
    control = [shifted(run, -c) for run in runs("a", seeds=3)]
    effects = paired_effects([shifted(run, c) for run in control], control, SCENES, METRICS, n_resamples=500)
    for key in (TRANSLATION_KEY, ROTATION_KEY, VCRE_KEY):
        assert effects[key].mean == pytest.approx(-c, abs=1e-12), key
        assert effects[key].ci95 == pytest.approx((-c, -c), abs=1e-12), key
        assert effects[key].scenes_only.ci95 == pytest.approx((-c, -c), abs=1e-12), key
        assert effects[key].verdict == "better", key


def test_the_effect_is_the_mean_of_per_seed_differences_with_a_t_interval():
    control = runs("none", seeds=4)
    treatment = runs("t", seeds=4, scale=0.8)
    effect = paired_effects(treatment, control, SCENES, METRICS)[PRIMARY]
    diffs = np.array([METRICS(t, SCENES)[PRIMARY] - METRICS(c, SCENES)[PRIMARY] for t, c in zip(treatment, control)])
    half = stats.t.ppf(0.975, 3) * diffs.std(ddof=1) / 2
    assert effect.mean == pytest.approx(diffs.mean()) and effect.pairs.n == 4
    assert effect.ci95 == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    assert effect.pairs.median == pytest.approx(np.median(diffs)) and effect.method.startswith("paired t")


def test_seeds_pair_by_seed_and_one_seed_leaves_the_effect_undefined():
    control = runs("none", seeds=3)
    treatment = [fake_run("t", seed, SCENES, scale=0.8) for seed in (2, 1)]
    effect = paired_effects(treatment, control, SCENES, METRICS)[PRIMARY]
    expected = np.mean([METRICS(t, SCENES)[PRIMARY] - METRICS(control[t.seed], SCENES)[PRIMARY] for t in treatment])
    assert effect.pairs.n == 2 and effect.mean == pytest.approx(expected)
    one = paired_effects(treatment[:1], control, SCENES, METRICS)[PRIMARY]
    assert (one.pairs.n, one.ci95, one.verdict) == (1, None, "undefined")
    assert one.scenes_only.verdict != "undefined"  # the scene interval still exists for these trained models


def mean_metric_runs(rng: np.random.Generator, scenes: list[str], delta: float, frames: int = 4,
                     spread: float = 3.0, noise: float = 0.3) -> tuple[RunRecord, RunRecord]:
    """(treatment, control) whose depth metric "depth/delta1" is a mean over frames; scene levels (sd `spread`)
    are shared, the treatment's per-scene difference is `delta` plus noise (sd `noise`)."""
    level = np.repeat(rng.normal(0.0, spread, len(scenes)), frames)
    gain = np.repeat(rng.normal(delta, noise, len(scenes)), frames)
    control = level + rng.normal(0.0, 0.1, level.size)
    treatment = control + gain

    def record(arm: str, values: np.ndarray) -> RunRecord:
        sums = DepthSums(np.repeat(scenes, frames), {"sum": values, "count": np.ones(values.size)})
        return RunRecord(arm, 0, {}, sums)

    return record("t", treatment), record("c", control)


MEAN = DepthMetrics({"depth/delta1": ("sum", "count")})


def test_the_scene_interval_covers_a_known_difference_of_fixed_models_about_95_percent_of_the_time():
    rng = np.random.default_rng(2024)
    scenes = [f"s{i}" for i in range(40)]
    delta, covered = 0.4, 0
    for repetition in range(200):
        treatment, control = mean_metric_runs(rng, scenes, delta)
        low, high = paired_effects([treatment], [control], scenes, MEAN, n_resamples=1000, seed=repetition)[
            "depth/delta1"].scenes_only.ci95
        covered += low <= delta <= high
    assert 0.90 <= covered / 200 <= 0.99


def test_both_arms_are_scored_on_the_same_resampled_scenes():
    """Scene levels shared by the arms cancel: the paired interval is far narrower than an unpaired one."""
    scenes = [f"s{i}" for i in range(30)]
    treatment, control = mean_metric_runs(np.random.default_rng(0), scenes, 0.4, spread=3.0, noise=0.1)
    effect = paired_effects([treatment], [control], scenes, MEAN, n_resamples=2000, seed=5)["depth/delta1"]
    same = resample_scenes(len(scenes), 2000, seed=5)
    paired = (resampled_metrics(treatment, scenes, MEAN, same)["depth/delta1"]
              - resampled_metrics(control, scenes, MEAN, same)["depth/delta1"])
    assert effect.scenes_only.ci95 == tuple(np.percentile(paired, [2.5, 97.5]))
    unpaired = (resampled_metrics(treatment, scenes, MEAN, same)["depth/delta1"]
                - resampled_metrics(control, scenes, MEAN, resample_scenes(len(scenes), 2000, seed=6))["depth/delta1"])
    low, high = np.percentile(unpaired, [2.5, 97.5])
    ci = effect.scenes_only.ci95
    assert ci[1] - ci[0] < 0.2 * (high - low)
    assert effect.scenes_only.verdict == "better" and low < 0 < high


def test_metric_undefined_on_too_many_resamples_has_no_scene_interval():
    """Defined only when a `key` scene is drawn: with 1 of 10 scenes in 1 - 0.9^10 = 65% of the resamples,
    with 4 of 10 in 1 - 0.6^10 = 99.4%."""

    def needs_key(run: RunRecord, scenes: list[str]) -> dict[str, float | None]:
        return {"depth/delta1": float(len(scenes)) if any(s.startswith("key") for s in scenes) else None}

    run = [RunRecord("a", 0, {})]
    for keys, expected in ((1, (None, "undefined")), (4, ((0.0, 0.0), "no detectable difference"))):
        scenes = [f"key{i}" if i < keys else f"s{i}" for i in range(10)]
        effect = paired_effects(run, run, scenes, needs_key, n_resamples=300)["depth/delta1"]
        assert (effect.scenes_only.ci95, effect.scenes_only.verdict) == expected


def test_mean_and_std_over_seeds():
    per_run = [{"depth/delta1": float(seed), "depth/abs_rel": None if seed == 3 else 1.0} for seed in (1, 2, 3)]
    assert seed_mean_std(per_run) == {"depth/delta1": (2.0, 1.0), "depth/abs_rel": (1.0, 0.0)}
    assert seed_mean_std(per_run[:1]) == {"depth/delta1": (1.0, None), "depth/abs_rel": (1.0, None)}
    assert seed_mean_std(per_run[2:])["depth/abs_rel"] == (None, None)


def test_compare_arms_gives_each_arm_its_seeds_effects_and_stability():
    arms = [Arm("none", "no depth loss", runs("none", seeds=3)),
            Arm("oracle", "true depth", runs("oracle", seeds=3, scale=0.5))]
    none, oracle = compare_arms(arms, SCENES, METRICS, n_resamples=200, primary=PRIMARY, trivial=0.0)
    assert none.effect_vs_none == {} and sorted(oracle.runs) == [0, 1, 2]
    assert oracle.runs[1] == METRICS(arms[1].runs[1], SCENES)
    assert oracle.effect_vs_none[VCRE_KEY].mean == pytest.approx(
        np.mean([METRICS(t, SCENES)[VCRE_KEY] - METRICS(c, SCENES)[VCRE_KEY] for c, t in zip(*(a.runs for a in arms))]))
    assert oracle.effect_vs_none[VCRE_KEY].scenes_only.verdict == "better"  # half the errors on every frame
    threshold = 0.5 * np.median([m[PRIMARY] for m in none.runs.values()])
    assert none.stability.threshold == pytest.approx(threshold) and none.stability.runs == 3
    assert none.stability.sd_ratio is None and oracle.stability.sd_ratio is not None
