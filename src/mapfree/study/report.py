"""The study's outputs: study.json (every number), report.md (tables and verdicts) and the forest plot.

study.json's schema (names fixed by the issue; more keys are allowed where noted):

    {"split": "test", "primary_metric": KEY,
     "teachers": {NAME: {"abs_rel": x, "delta1": x, "abs_rel_median_scaled": x, ...more}},
     "arms": [{"name": str, "description": str,
               "runs": [{"seed": int, "metrics": {KEY: number|null}}],
               "mean_std": {KEY: {"mean": x, "std": x|null}},
               "effect_vs_none": {KEY: {"mean": x, "ci95": [lo, hi]|null, "verdict": word}}}],
     "references": {ROW: {KEY: number|null}},
     "context": {"test_scenes": int, "headline": [KEY], "bootstrap": {...}, ...more}}

`effect_vs_none` is empty for the control arm `none`; `ci95` is null only with the verdict "undefined".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mapfree.atomic import strict_json, write_json_atomic, write_text_atomic
from mapfree.evaluation.aggregate import ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY, Thresholds
from mapfree.study.forest import plot_forest
from mapfree.study.metrics import metric_label
from mapfree.study.stats import CONTROL, MIN_DEFINED, VERDICTS, ArmResult, Effect

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


def _effect_json(effect: Effect) -> dict[str, Any]:
    return {"mean": effect.mean, "ci95": None if effect.ci95 is None else list(effect.ci95),
            "verdict": effect.verdict}


def build_study_json(primary: str, arms: Sequence[ArmResult], teachers: Mapping[str, Mapping[str, float | None]],
                     references: Mapping[str, Mapping[str, float | None]], context: Mapping[str, Any],
                     headline_keys: Sequence[str], n_resamples: int, bootstrap_seed: int) -> dict[str, Any]:
    """study.json's content (strict JSON: non-finite numbers become null).

    `context` should hold at least `test_scenes` (the report's verdict lines count them); this adds
    the headline keys and how the bootstrap ran.
    """
    bootstrap = {"resamples": n_resamples, "seed": bootstrap_seed, "unit": "test scene", "paired": True,
                 "interval": "percentile 2.5-97.5", "min_defined": MIN_DEFINED}
    return strict_json({
        "split": "test",  # the held-out split's role; context.test_split names its folder (Map-free: val)
        "primary_metric": primary,
        "teachers": {name: dict(values) for name, values in teachers.items()},
        "arms": [{"name": arm.name, "description": arm.description,
                  "runs": [{"seed": seed, "metrics": metrics} for seed, metrics in arm.runs.items()],
                  "mean_std": {key: {"mean": mean, "std": std} for key, (mean, std) in arm.mean_std.items()},
                  "effect_vs_none": {key: _effect_json(e) for key, e in arm.effect_vs_none.items()}}
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
    problems = _missing(effect, ("mean", "ci95", "verdict"), where)
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


def _value(key: str, value: float | None, sign: str = "") -> str:
    if value is None:
        return "n/a"
    return str(value) if isinstance(value, int) else f"{value:{sign}.{DECIMALS.get(key, 3)}f}"


def _effect_text(key: str, effect: Mapping[str, Any], sep: str = " ") -> str:
    """`+0.031 [-0.010, +0.070] no detectable difference` (`sep` before the verdict)."""
    ci = effect["ci95"]
    interval = "[no interval]" if ci is None else f"[{_value(key, ci[0], '+')}, {_value(key, ci[1], '+')}]"
    return f"{_value(key, effect['mean'], '+')} {interval}{sep}{effect['verdict']}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(row) + " |" for row in rows], ""]


def _shown(study: Mapping[str, Any]) -> list[str]:
    """The headline keys some run has."""
    have = {key for arm in study["arms"] for run in arm["runs"] for key in run["metrics"]}
    return [key for key in study["context"]["headline"] if key in have]


CONTEXT_LABELS = {"test_scenes": "test scenes", "test_pairs": "test pairs (scored query frames)",
                  "seeds": "training seeds per arm", "image_size": "image size (W x H)",
                  "wall_time_s": "wall time of this call (s; a resumed study reuses earlier work)",
                  "test_split": "held-out split (its folder)", "train_config": "training configuration",
                  "train_budget": "shared training budget", "teachers": "teachers",
                  "placebo_check": "placebo check"}


def _data_section(context: Mapping[str, Any]) -> list[str]:
    shown = {**{k: context[k] for k in CONTEXT_LABELS if k in context},
             **{k: v for k, v in context.items() if k not in CONTEXT_LABELS and k not in ("headline", "bootstrap")}}
    return [*[f"- {CONTEXT_LABELS.get(k, k)}: {v}" for k, v in shown.items()], ""]


def verdict_line(study: Mapping[str, Any], arm: Mapping[str, Any]) -> str:
    """One sentence: the arm's effect on the primary metric, its interval and verdict, and what it rests on."""
    key = study["primary_metric"]
    return (f"{arm['name']} vs {CONTROL} on {metric_label(key)}: {_effect_text(key, arm['effect_vs_none'][key], ', ')} "
            f"({study['context']['test_scenes']} test scenes x {len(arm['runs'])} seeds)")


def render_report(study: Mapping[str, Any], figures: Mapping[str, str] | None = None) -> str:
    """report.md's text; `figures` are {title: path relative to the report} beyond the forest plot."""
    keys = _shown(study)
    labels = [metric_label(k) for k in keys]
    arms, context, primary = study["arms"], study["context"], study["primary_metric"]
    boot = context["bootstrap"]
    others = [arm for arm in arms if arm["name"] != CONTROL]
    teacher_keys = list(dict.fromkeys(k for values in study["teachers"].values() for k in values))
    ref_keys = [k for k in keys if any(k in row for row in study["references"].values())]
    lines = [
        "# mapfree study: does depth supervision improve MicKey?", "",
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
    if study["teachers"]:
        lines += ["## Teachers' depth accuracy", "",
                  "Each teacher's depth against the true depth: raw, after median scaling, and (relative "
                  "teachers) after an affine fit, as the keys say.", "",
                  *_table(["teacher", *teacher_keys],
                          [[name, *[_value(k, values.get(k)) for k in teacher_keys]]
                           for name, values in study["teachers"].items()])]
    lines += ["## Per seed", "", "Each run on the full test split.", "",
              *_table(["arm", "seed", *labels], [[a["name"], str(r["seed"]), *[_value(k, r["metrics"].get(k))
                                                                            for k in keys]]
                                                for a in arms for r in a["runs"]]),
              "## Mean ± std over seeds", "", "Standard deviation with ddof=1 over the seeds (none for one seed).", "",
              *_table(["arm", *labels], [[a["name"], *[_mean_std(k, a["mean_std"].get(k)) for k in keys]]
                                         for a in arms]),
              f"## Effects vs {CONTROL}", "",
              f"Effect = arm − `{CONTROL}` on the full test split, seeds pooled within each arm. 95% interval: "
              f"percentiles 2.5 and 97.5 of {boot['resamples']} paired bootstrap resamples of the test scenes (both "
              "arms scored on the same resampled scenes). Verdict from the interval and the metric's direction: "
              "better or worse when it excludes 0, else no detectable difference; undefined when fewer than "
              f"{boot['min_defined']:.0%} of the resamples define the metric.", "",
              *_table(["metric", *[a["name"] for a in others]],
                      [[label, *[_effect_text(k, a["effect_vs_none"][k]) if k in a["effect_vs_none"] else "n/a"
                                 for a in others]] for k, label in zip(keys, labels)]),
              f"![Effects vs {CONTROL}]({FOREST})", ""]
    if study["references"] and ref_keys:
        lines += ["## Reference rows", "", "Pose metrics of other solutions on the same test split, seeds pooled "
                  "(e.g. a trivial baseline, each arm's matches solved with the teacher's or the true depth).", "",
                  *_table(["row", *[metric_label(k) for k in ref_keys]],
                          [[name, *[_value(k, row.get(k)) for k in ref_keys]]
                           for name, row in study["references"].items()])]
    lines += [f"## Verdicts on the primary metric ({metric_label(primary)})", "",
              *[f"- {verdict_line(study, arm)}" for arm in others], "",
              "A verdict is better or worse only where the 95% interval excludes 0; no detectable difference means "
              "this test split and these seeds cannot tell the arm from the control, not that they are equal. "
              "The interval resamples test scenes with each arm's trained models fixed: it does not cover the "
              "variation a different draw of training seeds would bring (the per-seed tables show that spread).", ""]
    for title, path in (figures or {}).items():
        lines += [f"## {title}", "", f"![{title}]({path})", ""]
    return "\n".join(lines)


def _mean_std(key: str, value: Mapping[str, float | None] | None) -> str:
    if value is None or value["mean"] is None:
        return "n/a"
    std = value["std"]
    return _value(key, value["mean"]) + ("" if std is None else f" ± {_value(key, std)}")


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
            "forest": plot_forest(study, study["context"]["headline"], out_dir / FOREST),
            "report": write_text_atomic(out_dir / "report.md", render_report(study, links))}


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
