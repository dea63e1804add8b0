"""The study's outputs: study.json (every number), report.md (tables and verdicts) and the forest plot.

study.json's schema (names fixed by the issue; more keys are allowed where noted):

    {"split": "test", "primary_metric": KEY,
     "teachers": {NAME: {"abs_rel": x, "delta1": x, "abs_rel_median_scaled": x, ...more}},
     "arms": [{"name": str, "description": str,
               "runs": [{"seed": int, "metrics": {KEY: number|null}}],       # each run scored alone
               "mean_std": {KEY: {"mean": x, "std": x|null}},                # over the arm's runs
               "effect_vs_none": {KEY: {"mean": x, "ci95": [lo, hi]|null, "verdict": word,
                                        "n_seeds": int, "method": str, ...more,
                                        "scenes_only": {"ci95": [lo, hi]|null, "verdict": word, "method": str}}},
               "stability": {...}|null}],
     "references": {ROW: {KEY: number|null}},
     "context": {"test_scenes": int, "headline": [KEY], "bootstrap": {...}, ...more}}

`effect_vs_none` is empty for the control arm `none`; `mean` is the mean over seeds of the paired
differences and `ci95` their t-interval, null only with the verdict "undefined" (fewer than two seeds).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mapfree.atomic import strict_json, write_json_atomic, write_text_atomic
from mapfree.errors import InputError
from mapfree.evaluation.aggregate import ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY, Thresholds
from mapfree.study.metrics import higher_is_better, metric_label
from mapfree.study.seeds import FAILURE_RULE, LEVEL, POWER
from mapfree.study.stats import CONTROL, MIN_DEFINED, VERDICTS, ArmResult, Effect, Stability
from mapfree.viz.forest import EffectPanel, plot_forest

DEPTH_HEADLINE = ("depth/abs_rel", "depth/delta1", "depth/abs_rel_scaled")
TEACHER_KEYS = ("abs_rel", "delta1", "abs_rel_median_scaled")
TOP_KEYS = ("split", "primary_metric", "teachers", "arms", "references", "context")
ARM_KEYS = ("name", "description", "runs", "mean_std", "effect_vs_none")
FOREST = "forest.png"


def headline(thresholds: Thresholds, depth_keys: Sequence[str] = DEPTH_HEADLINE) -> list[str]:
    """The metrics every table and the forest plot show, labelled with these thresholds: VCRE AUC and
    precision at each threshold (the primary metric first), pose AUC and precision, median errors, depth metrics."""
    vcre = [f"{kind} @ {thresholds.vcre_label(px)}" for px in thresholds.vcre_px for kind in ("AUC", "Precision")]
    pose = [f"{kind} @ {thresholds.pose_label}" for kind in ("AUC", "Precision")]
    return [*vcre, *pose, VCRE_KEY, TRANSLATION_KEY, ROTATION_KEY, *depth_keys]


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else list(interval)


def _effect_json(effect: Effect) -> dict[str, Any]:
    pairs, scenes = effect.pairs, effect.scenes_only
    return {"mean": pairs.mean, "ci95": _pair(pairs.ci95), "verdict": effect.verdict, "n_seeds": pairs.n,
            "method": effect.method, "sd": pairs.sd, "p_value": pairs.p_value, "median": pairs.median,
            "median_ci95": _pair(pairs.median_ci95), "mde80": pairs.mde80,
            "scenes_only": None if scenes is None else {"ci95": _pair(scenes.ci95), "verdict": scenes.verdict,
                                                        "method": scenes.method}}


def _stability_json(stable: Stability | None, primary: str) -> dict[str, Any] | None:
    if stable is None:
        return None
    return {"metric": primary, "threshold": stable.threshold, "rule": FAILURE_RULE, "sd": stable.sd,
            "sd_ci95": _pair(stable.sd_ci95), "failures": stable.failures, "runs": stable.runs,
            "failure_rate": stable.failures / stable.runs if stable.runs else None,
            "failure_rate_ci95": _pair(stable.failure_rate_ci95), "sd_ratio": stable.sd_ratio,
            "sd_ratio_ci95": _pair(stable.sd_ratio_ci95), "verdict": stable.verdict}


def build_study_json(primary: str, arms: Sequence[ArmResult], teachers: Mapping[str, Mapping[str, float | None]],
                     references: Mapping[str, Mapping[str, float | None]], context: Mapping[str, Any],
                     headline_keys: Sequence[str], n_resamples: int, bootstrap_seed: int) -> dict[str, Any]:
    """study.json's content (strict JSON: non-finite numbers become null).

    `context` should hold at least `test_scenes` (the report's verdict lines count them); this adds
    the headline keys and how the bootstrap ran.
    """
    bootstrap = {"resamples": n_resamples, "seed": bootstrap_seed, "unit": "test scene", "paired": True,
                 "interval": "percentile 2.5-97.5", "min_defined": MIN_DEFINED,
                 "role": "secondary: these trained models only (scenes_only)"}
    return strict_json({
        "split": "test",  # the held-out split's role; context.test_split names its folder (Map-free: val)
        "primary_metric": primary,
        "teachers": {name: dict(values) for name, values in teachers.items()},
        "arms": [{"name": arm.name, "description": arm.description,
                  "runs": [{"seed": seed, "metrics": metrics} for seed, metrics in arm.runs.items()],
                  "mean_std": {key: {"mean": mean, "std": std} for key, (mean, std) in arm.mean_std.items()},
                  "effect_vs_none": {key: _effect_json(e) for key, e in arm.effect_vs_none.items()},
                  "stability": _stability_json(arm.stability, primary)}
                 for arm in arms],
        "references": {name: dict(values) for name, values in references.items()},
        "context": {**context, "headline": list(headline_keys), "bootstrap": bootstrap},
    })


def _is_number(value: Any, nullable: bool = True) -> bool:
    if value is None:
        return nullable
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(d: Any, where: str) -> list[str]:
    """Problems of a {str: number|null} mapping."""
    if not isinstance(d, dict):
        return [f"{where}: not an object"]
    return [f"{where}[{key!r}]: not a number or null" for key, value in d.items() if not _is_number(value)]


def _missing(d: dict, keys: Sequence[str], where: str) -> list[str]:
    return [f"{where}: missing key {key!r}" for key in keys if key not in d]


def _effect_problems(effect: Any, where: str) -> list[str]:
    if not isinstance(effect, dict):
        return [f"{where}: not an object"]
    problems = _missing(effect, ("mean", "ci95", "verdict", "n_seeds", "method", "scenes_only"), where)
    if problems:
        return problems
    if not _is_number(effect["mean"]):
        problems.append(f"{where}.mean: not a number or null")
    if effect["verdict"] not in VERDICTS:
        problems.append(f"{where}.verdict: {effect['verdict']!r} is none of {VERDICTS}")
    ci = effect["ci95"]
    if ci is None:
        if effect["verdict"] != "undefined":
            problems.append(f"{where}.ci95: null with the verdict {effect['verdict']!r}")
    elif not (isinstance(ci, list) and len(ci) == 2 and all(_is_number(v, False) for v in ci) and ci[0] <= ci[1]):
        problems.append(f"{where}.ci95: not [low, high] with low <= high")
    return problems


def _arm_problems(arm: Any, primary: Any, where: str) -> list[str]:
    if not isinstance(arm, dict):
        return [f"{where}: not an object"]
    problems = _missing(arm, ARM_KEYS, where)
    if problems:
        return problems
    for key in ("name", "description"):
        if not isinstance(arm[key], str):
            problems.append(f"{where}.{key}: not a string")
    runs = arm["runs"]
    if not isinstance(runs, list) or not runs:
        return [*problems, f"{where}.runs: not a non-empty list"]
    for i, run in enumerate(runs):
        at = f"{where}.runs[{i}]"
        if not isinstance(run, dict) or _missing(run, ("seed", "metrics"), at):
            problems.append(f"{at}: not an object with 'seed' and 'metrics'")
            continue
        if not isinstance(run["seed"], int) or isinstance(run["seed"], bool):
            problems.append(f"{at}.seed: not an integer")
        problems += _numbers(run["metrics"], f"{at}.metrics")
        if isinstance(run["metrics"], dict) and primary not in run["metrics"]:
            problems.append(f"{at}.metrics: no primary metric {primary!r}")
    if not isinstance(arm["mean_std"], dict):
        problems.append(f"{where}.mean_std: not an object")
    else:
        for key, value in arm["mean_std"].items():
            if not (isinstance(value, dict) and not _missing(value, ("mean", "std"), "")
                    and all(map(_is_number, value.values()))):
                problems.append(f"{where}.mean_std[{key!r}]: not {{'mean': number|null, 'std': number|null}}")
    effects = arm["effect_vs_none"]
    if not isinstance(effects, dict):
        return [*problems, f"{where}.effect_vs_none: not an object"]
    if arm["name"] == CONTROL and effects:
        problems.append(f"{where}.effect_vs_none: not empty for the control arm {CONTROL!r}")
    if arm["name"] != CONTROL and primary not in effects:
        problems.append(f"{where}.effect_vs_none: no primary metric {primary!r}")
    for key, effect in effects.items():
        problems += _effect_problems(effect, f"{where}.effect_vs_none[{key!r}]")
    return problems


def validate_study_json(d: Any) -> list[str]:
    """Every way `d` departs from study.json's schema (see the module docstring); empty when it conforms."""
    if not isinstance(d, dict):
        return ["study: not an object"]
    problems = _missing(d, TOP_KEYS, "study")
    if problems:
        return problems
    if d["split"] != "test":
        problems.append(f"split: {d['split']!r}, not 'test'")
    if not isinstance(d["primary_metric"], str):
        problems.append("primary_metric: not a string")
    if not isinstance(d["teachers"], dict):
        problems.append("teachers: not an object")
    else:
        for name, values in d["teachers"].items():
            problems += _numbers(values, f"teachers[{name!r}]")
            if isinstance(values, dict):
                problems += _missing(values, TEACHER_KEYS, f"teachers[{name!r}]")
    arms = d["arms"]
    if not isinstance(arms, list) or not arms:
        problems.append("arms: not a non-empty list")
    else:
        for i, arm in enumerate(arms):
            problems += _arm_problems(arm, d["primary_metric"], f"arms[{i}]")
        names = [arm.get("name") for arm in arms if isinstance(arm, dict)]
        if len(set(names)) != len(names) or CONTROL not in names:
            problems.append(f"arms: names {names} are not unique or lack the control {CONTROL!r}")
    if not isinstance(d["references"], dict):
        problems.append("references: not an object")
    else:
        for name, values in d["references"].items():
            problems += _numbers(values, f"references[{name!r}]")
    context = d["context"]
    if not isinstance(context, dict):
        return [*problems, "context: not an object"]
    problems += _missing(context, ("test_scenes", "headline", "bootstrap"), "context")
    if "test_scenes" in context and not (isinstance(context["test_scenes"], int) and context["test_scenes"] > 0):
        problems.append("context.test_scenes: not a positive integer")
    if "headline" in context and not (isinstance(context["headline"], list)
                                      and all(isinstance(k, str) for k in context["headline"])):
        problems.append("context.headline: not a list of metric keys")
    return problems


DECIMALS = {VCRE_KEY: 1, ROTATION_KEY: 2}
"""Decimals of a metric in the tables: these, else 3 (fractions, metres, AbsRel)."""
SHORT_VERDICTS = {"better": "**better**", "worse": "*worse*", "no detectable difference": "n.d.d.",
                  "undefined": "undefined"}


def _value(key: str, value: float | None, sign: str = "") -> str:
    if value is None:
        return "n/a"
    return str(value) if isinstance(value, int) else f"{value:{sign}.{DECIMALS.get(key, 3)}f}"


def _interval(key: str, ci: Sequence[float] | None, sign: str = "+") -> str:
    return "[no interval]" if ci is None else f"[{_value(key, ci[0], sign)}, {_value(key, ci[1], sign)}]"


def _effect_text(key: str, effect: Mapping[str, Any], sep: str = " ", short: bool = False) -> str:
    """`+0.031 [-0.010, +0.070] no detectable difference` (`sep` before the verdict)."""
    word = SHORT_VERDICTS[effect["verdict"]] if short else effect["verdict"]
    return f"{_value(key, effect['mean'], '+')} {_interval(key, effect['ci95'])}{sep}{word}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(row) + " |" for row in rows], ""]


def _shown(study: Mapping[str, Any]) -> list[str]:
    """The headline keys some run has."""
    have = {key for arm in study["arms"] for run in arm["runs"] for key in run["metrics"]}
    return [key for key in study["context"]["headline"] if key in have]


CONTEXT_LABELS = {"test_scenes": "test scenes", "test_pairs": "test pairs (scored query frames)",
                  "seeds": "training seeds", "image_size": "image size (W x H)",
                  "wall_time_s": "wall time of this call (s; a resumed study reuses earlier work)",
                  "test_split": "held-out split (its folder)", "train_config": "training configuration",
                  "train_budget": "shared training budget", "teachers": "teachers",
                  "headline_arm": "headline comparison (named before the runs)", "placebo_check": "placebo check"}
HIDDEN_CONTEXT = ("headline", "bootstrap", "provenance")


def _data_section(context: Mapping[str, Any]) -> list[str]:
    shown = {**{k: context[k] for k in CONTEXT_LABELS if k in context},
             **{k: v for k, v in context.items() if k not in CONTEXT_LABELS and k not in HIDDEN_CONTEXT}}
    return [*[f"- {CONTEXT_LABELS.get(k, k)}: {v}" for k, v in shown.items()], ""]


def _provenance_section(context: Mapping[str, Any]) -> list[str]:
    facts = {**context.get("provenance", {}), "wall time (s)": context.get("wall_time_s")}
    return ["## Provenance", "", *[f"- {k}: {v}" for k, v in facts.items()], ""]


def verdict_line(study: Mapping[str, Any], arm: Mapping[str, Any]) -> str:
    """One sentence: the arm's seed-level effect on the primary metric, its interval and verdict, what it rests on."""
    key = study["primary_metric"]
    effect = arm["effect_vs_none"][key]
    line = (f"{arm['name']} vs {CONTROL} on {metric_label(key)}: {_effect_text(key, effect, ', ')} "
            f"({effect['n_seeds']} paired seeds, each run scored alone on {study['context']['test_scenes']} "
            f"test scenes)")
    scenes = effect["scenes_only"]
    if effect["ci95"] is None and scenes is not None:  # one seed: say what the scenes alone can say
        line += f"; these trained models only: {_interval(key, scenes['ci95'])}, {scenes['verdict']}"
    return line


def _power_text(key: str, effect: Mapping[str, Any]) -> str:
    return f"smallest effect detectable at {POWER:.0%} power {_value(key, effect['mde80'])}"


def summary_lines(study: Mapping[str, Any]) -> list[str]:
    """The report's opening: five lines a reader needs before any table."""
    arms, context, key = study["arms"], study["context"], study["primary_metric"]
    others = [a for a in arms if a["name"] != CONTROL]
    n_runs = sum(len(a["runs"]) for a in arms)
    lines = [f"1. Design: {len(arms)} arms, {n_runs} training runs (seeds {_seed_span(context.get('seeds', []))}), "
             f"each run scored alone as one submission on {context['test_scenes']} held-out test scenes; an effect "
             f"is the mean over seeds of the paired difference to `{CONTROL}`, with a {LEVEL:.0%} t-interval "
             f"over seeds. Primary metric: {metric_label(key)}."]
    head = next((a for a in others if a["name"] == context.get("headline_arm")), None)
    if head is not None:
        effect = head["effect_vs_none"][key]
        lines.append(f"2. Headline, `{head['name']}` vs `{CONTROL}`: {_effect_text(key, effect, ', ')} "
                     f"({effect['n_seeds']} seeds); on a typical seed (median difference) "
                     f"{_value(key, effect['median'], '+')} {_interval(key, effect['median_ci95'])}; "
                     f"{_power_text(key, effect)}.")
    else:
        lines.append("2. No headline comparison was named for this study.")
    failures = ", ".join(f"`{a['name']}` {a['stability']['failures']}/{a['stability']['runs']}" for a in arms
                         if a.get("stability"))
    lines.append(f"3. Failed runs ({FAILURE_RULE}): {failures or 'not computed'}.")
    lines.append("4. Every arm on the primary metric: " + "; ".join(
        f"`{a['name']}` {_effect_text(key, a['effect_vs_none'][key], ' ', short=True)}" for a in others))
    lines.append("5. Scope: these are figures of this benchmark and stand-in; a verdict is better or worse only "
                 "where the seed-level interval excludes 0, and no detectable difference is not evidence of no "
                 "effect.")
    return [*lines, ""]


def _seed_span(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def mean_std_table(study: Mapping[str, Any]) -> list[str]:
    keys = _shown(study)
    return _table(["arm", "runs", *[metric_label(k) for k in keys]],
                  [[f"`{a['name']}`", str(len(a["runs"])), *[_mean_std(k, a["mean_std"].get(k)) for k in keys]]
                   for a in study["arms"]])


def _metric_by_arm(study: Mapping[str, Any], cell: Callable[[str, Mapping[str, Any]], str]) -> list[str]:
    """A table with a row per headline metric and a column per compared arm, each cell from `cell(key, arm)`."""
    keys, others = _shown(study), [a for a in study["arms"] if a["name"] != CONTROL]
    return _table(["metric", *[f"`{a['name']}`" for a in others]],
                  [[metric_label(k), *[cell(k, a) for a in others]] for k in keys])


def effects_table(study: Mapping[str, Any], scenes_only: bool = False) -> list[str]:
    """Per metric and arm: the seed-level effect (or the scene-only interval) and its verdict."""

    def cell(key: str, arm: Mapping[str, Any]) -> str:
        effect = arm["effect_vs_none"].get(key)
        if effect is None:
            return "n/a"
        if not scenes_only:
            return _effect_text(key, effect, " ", short=True)
        scenes = effect["scenes_only"] or {"ci95": None, "verdict": "undefined"}
        return f"{_interval(key, scenes['ci95'])} {SHORT_VERDICTS[scenes['verdict']]}"

    return _metric_by_arm(study, cell)


def primary_table(study: Mapping[str, Any]) -> list[str]:
    """The primary metric arm by arm: seeds, mean effect, typical-seed effect, power, p-value."""
    key = study["primary_metric"]
    rows = []
    for arm in study["arms"]:
        if arm["name"] == CONTROL:
            continue
        e = arm["effect_vs_none"][key]
        p = "n/a" if e["p_value"] is None else "<0.001" if e["p_value"] < 0.001 else f"{e['p_value']:.3f}"
        rows.append([f"`{arm['name']}`", str(e["n_seeds"]), _effect_text(key, e, " ", short=True),
                     f"{_value(key, e['median'], '+')} {_interval(key, e['median_ci95'])}",
                     _value(key, e["sd"]), _value(key, e["mde80"]), p])
    return _table(["arm", "seeds", "mean effect [95% t-interval]", "median effect [95% order-statistic interval]",
                   "sd of differences", f"detectable at {POWER:.0%} power", "p (paired t)"], rows)


def power_table(study: Mapping[str, Any]) -> list[str]:
    """Per metric and arm: the smallest effect the seeds detect with 80% power, from the observed spread."""

    def cell(key: str, arm: Mapping[str, Any]) -> str:
        effect = arm["effect_vs_none"].get(key)
        return "n/a" if effect is None else _value(key, effect["mde80"])

    return _metric_by_arm(study, cell)


def stability_table(study: Mapping[str, Any]) -> list[str]:
    key = study["primary_metric"]
    rows = []
    for arm in study["arms"]:
        st = arm.get("stability")
        if not st:
            continue
        ratio = "-" if arm["name"] == CONTROL else (
            f"{_value('ratio', st['sd_ratio'])} {_interval('ratio', st['sd_ratio_ci95'], sign='')} {st['verdict']}"
            if st["sd_ratio"] is not None else st["verdict"] or "n/a")
        rate = "n/a" if st["failure_rate"] is None else \
            f"{st['failures']}/{st['runs']} {_interval('rate', st['failure_rate_ci95'], sign='')}"
        rows.append([f"`{arm['name']}`", f"{_value(key, st['sd'])} {_interval(key, st['sd_ci95'], sign='')}",
                     rate, ratio])
    return _table(["arm", "sd over seeds [95%]", "failed runs [95% Clopper-Pearson]",
                   f"sd ratio to `{CONTROL}` [95% Pitman-Morgan]"], rows)


def teachers_table(study: Mapping[str, Any]) -> list[str]:
    keys = list(dict.fromkeys(k for values in study["teachers"].values() for k in values))
    return _table(["teacher", *keys], [[name, *[_value(k, values.get(k)) for k in keys]]
                                       for name, values in study["teachers"].items()])


def study_tables(study: Mapping[str, Any]) -> str:
    """The README's study tables, generated from study.json alone (`mapfree study --tables STUDY_JSON`)."""
    key = study["primary_metric"]
    threshold = next((a["stability"]["threshold"] for a in study["arms"] if a.get("stability")), None)
    lines = ["Per arm, mean ± std over its runs (each run scored alone on the test split):", "",
             *mean_std_table(study),
             f"Effect against `{CONTROL}`: mean over seeds of the paired difference [95% t-interval over seeds], "
             "verdict (n.d.d.: no detectable difference):", "", *effects_table(study),
             f"The primary metric ({metric_label(key)}) in detail:", "", *primary_table(study),
             f"The smallest effect each comparison detects with {POWER:.0%} power (two-sided paired t at 5%, the "
             "observed sd of the per-seed differences; n/a below three seeds):", "", *power_table(study)]
    if threshold is not None:
        lines += [f"Stability on the primary metric (a run failed below {_value(key, threshold)}: {FAILURE_RULE}):",
                  "", *stability_table(study)]
    if study["teachers"]:
        lines += ["The teachers' own depth on the held-out frames (patch grid, per-frame means; crossview_error_corr: "
                  "the correlation of the error for one 3D point seen in two views, beside the value the earlier, "
                  "frame-keyed noise gave on the same frames):", "", *teachers_table(study)]
    return "\n".join(lines)


def render_report(study: Mapping[str, Any], figures: Mapping[str, str] | None = None) -> str:
    """report.md's text; `figures` are {title: path relative to the report} beyond the forest plot."""
    keys = _shown(study)
    labels = [metric_label(k) for k in keys]
    arms, context, primary = study["arms"], study["context"], study["primary_metric"]
    boot = context["bootstrap"]
    others = [arm for arm in arms if arm["name"] != CONTROL]
    ref_keys = [k for k in keys if any(k in row for row in study["references"].values())]
    lines = [
        "# mapfree study: does depth supervision improve MicKey?", "",
        "## Summary", "", *summary_lines(study),
        *_provenance_section(context),
        "## What was compared", "",
        f"The arms differ as their descriptions say; `{CONTROL}` is the control every effect is measured against.",
        "",
        *_table(["arm", "description", "seeds"],
                [[a["name"], a["description"], ", ".join(str(r["seed"]) for r in a["runs"])] for a in arms]),
        "## Data and budget", "", *_data_section(context),
        "## Primary metric", "",
        f"Fixed before the runs: **{metric_label(primary)}** (`{primary}`). Every other metric is secondary: "
        f"over {len(keys)} metrics x {len(others)} compared arm(s), some intervals exclude 0 by chance alone.", "",
    ]
    lines += ["## Per run", "", "Each run scored alone on the full test split, as the benchmark scores one "
              "submission.", "",
              *_table(["arm", "seed", *labels], [[a["name"], str(r["seed"]), *[_value(k, r["metrics"].get(k))
                                                                            for k in keys]]
                                                for a in arms for r in a["runs"]]),
              "## Results", "", study_tables(study), "",
              f"![Effects vs {CONTROL}]({FOREST})", "",
              "## These trained models only: test scenes resampled", "",
              f"A secondary interval: the trained models held fixed, percentiles 2.5 and 97.5 of {boot['resamples']} "
              "paired bootstrap resamples of the test scenes (every run scored alone on the same resampled scenes; "
              "the difference is the mean over seeds of the per-seed differences). It says whether these models "
              "would differ on other scenes, not whether other training runs would; undefined when fewer than "
              f"{boot['min_defined']:.0%} of the resamples define the metric.", "",
              *effects_table(study, scenes_only=True)]
    if study["references"] and ref_keys:
        lines += ["## Reference rows", "", "Pose metrics of other solutions on the same test split, the mean over "
                  "runs, each run scored alone (a trivial baseline; each arm's own matches solved with the "
                  "teacher's or the true depth).", "",
                  *_table(["row", *[metric_label(k) for k in ref_keys]],
                          [[name, *[_value(k, row.get(k)) for k in ref_keys]]
                           for name, row in study["references"].items()])]
    lines += [f"## Verdicts on the primary metric ({metric_label(primary)})", "",
              *[f"- {verdict_line(study, arm)}" for arm in others], ""]
    for title, path in (figures or {}).items():
        lines += [f"## {title}", "", f"![{title}]({path})", ""]
    return "\n".join(lines)


def _mean_std(key: str, value: Mapping[str, float | None] | None) -> str:
    if value is None or value["mean"] is None:
        return "n/a"
    std = value["std"]
    return _value(key, value["mean"]) + ("" if std is None else f" ± {_value(key, std)}")


def read_study_json(path: str | Path) -> dict[str, Any]:
    """A study.json, checked against the schema (one line naming the file and its first problem otherwise)."""
    path = Path(path)
    try:
        study = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: cannot read a study.json ({error})") from None
    problems = validate_study_json(study)
    if problems:
        raise InputError(f"{path}: not a study.json: {problems[0]}")
    return study


def effect_panels(study: Mapping[str, Any], keys: Sequence[str]) -> list[EffectPanel]:
    """The forest plot's panels: one per metric of `keys` that some arm has an effect on, a row per arm other
    than the control."""
    arms = [arm for arm in study["arms"] if arm["name"] != CONTROL]
    panels = []
    for key in keys:
        rows = [(arm["name"], arm["effect_vs_none"][key]) for arm in arms if key in arm["effect_vs_none"]]
        if rows:
            arrow = "higher is better →" if higher_is_better(key) else "← lower is better"
            panels.append(EffectPanel(metric_label(key), f"arm − {CONTROL}  ({arrow})", rows))
    return panels


def write_forest(study: Mapping[str, Any], keys: Sequence[str], path: str | Path) -> Path:
    """The forest plot of the effects on `keys` (ValueError when no arm has one)."""
    panels = effect_panels(study, keys)
    if not panels:
        raise ValueError(f"{path}: no effects to plot (arms: {[arm['name'] for arm in study['arms']]})")
    seeds = len(study["context"].get("seeds", []))
    return plot_forest(panels, path, f"Effect vs {CONTROL}: mean over training seeds of the paired difference, each "
                       f"run scored alone (dot), and its 95% t-interval over seeds (bar; up to {seeds} seeds per arm)")


def write_study(out_dir: str | Path, study: Mapping[str, Any],
                figures: Mapping[str, str | Path] | None = None) -> dict[str, Path]:
    """Writes study.json, the forest plot and report.md into `out_dir` (a study that fails validation is refused).

    `figures` are {title: PNG path} the report links (relative to `out_dir` when inside it).
    """
    out_dir = Path(out_dir)
    problems = validate_study_json(study)
    if problems:
        raise ValueError("study.json would not conform:\n" + "\n".join(problems))
    links = {title: _relative(Path(path), out_dir) for title, path in (figures or {}).items()}
    return {"study": write_json_atomic(out_dir / "study.json", study, indent=1),
            "forest": write_forest(study, study["context"]["headline"], out_dir / FOREST),
            "report": write_text_atomic(out_dir / "report.md", render_report(study, links))}


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
