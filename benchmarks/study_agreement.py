"""Whether two runs of a study agree within the seed noise (e.g. before and after a speed-up that changed
float round-off or the pretraining): per arm, the mean over its runs of a metric in each study and the
difference after - before with a 95% Welch t-interval (the runs of the two studies are independent
trainings), and the same for each arm's effect against `none` (per-seed paired differences in each study).
A difference "agrees" when its interval covers 0. `--identical` instead lists every value of the two files
that differs, apart from the context's provenance and wall time (a refactor must leave the rest as it was).

    python benchmarks/study_agreement.py docs/study/study.json outputs/study/study.json
    python benchmarks/study_agreement.py BEFORE.json AFTER.json --identical
    python benchmarks/study_agreement.py BEFORE.json AFTER.json --metrics "AUC @ VCRE < 40.0px" depth/abs_rel
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

CONTROL = "none"
RUN_SPECIFIC = ("provenance", "wall_time_s")
"""Context keys that differ between any two runs of a study: the code's commit and versions, and the time."""


def runs_by_arm(path: Path, metric: str) -> dict[str, dict[int, float]]:
    """{arm: {seed: the run's metric}} of a study.json (runs without the metric are left out)."""
    study = json.loads(path.read_text())
    return {arm["name"]: {run["seed"]: run["metrics"][metric] for run in arm["runs"]
                          if run["metrics"].get(metric) is not None} for arm in study["arms"]}


def welch(before: list[float], after: list[float]) -> tuple[float, float, float]:
    """mean(after) - mean(before) and its 95% Welch t-interval."""
    test = stats.ttest_ind(after, before, equal_var=False)
    low, high = test.confidence_interval(0.95)
    return float(np.mean(after) - np.mean(before)), float(low), float(high)


def effects(runs: dict[str, dict[int, float]], arm: str) -> list[float]:
    """The arm's per-seed differences against the control, on the seeds both ran."""
    return [value - runs[CONTROL][seed] for seed, value in runs[arm].items() if seed in runs[CONTROL]]


def row(name: str, before: list[float], after: list[float]) -> str:
    if len(before) < 2 or len(after) < 2:
        return f"  {name:<22} too few runs ({len(before)} before, {len(after)} after)"
    diff, low, high = welch(before, after)
    verdict = "agree" if low <= 0 <= high else "DIFFER"
    return (f"  {name:<22} {np.mean(before):+.3f} ± {np.std(before, ddof=1):.3f} (n={len(before)})  "
            f"{np.mean(after):+.3f} ± {np.std(after, ddof=1):.3f} (n={len(after)})  "
            f"diff {diff:+.3f} [{low:+.3f}, {high:+.3f}]  {verdict}")


def differences(before: Any, after: Any, where: str = "") -> list[str]:
    """Every place where two JSON values differ, as `path: before -> after`."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [line for key in {**before, **after}
                for line in (differences(before[key], after[key], f"{where}/{key}") if key in before and key in after
                             else [f"{where}/{key}: only in {'before' if key in before else 'after'}"])]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [line for i, (b, a) in enumerate(zip(before, after)) for line in differences(b, a, f"{where}[{i}]")]
    return [] if before == after and type(before) is type(after) else [f"{where}: {before!r} -> {after!r}"]


def without_run_specifics(path: Path) -> dict[str, Any]:
    study = json.loads(path.read_text())
    for key in RUN_SPECIFIC:
        study["context"].pop(key, None)
    return study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--metrics", nargs="+", help="default: the studies' primary metric")
    parser.add_argument("--identical", action="store_true",
                        help="list every differing value instead (context provenance and wall time aside)")
    args = parser.parse_args()
    if args.identical:
        found = differences(without_run_specifics(args.before), without_run_specifics(args.after))
        print("\n".join(found) if found else "identical apart from " + " and ".join(RUN_SPECIFIC))
        return
    metrics = args.metrics or [json.loads(args.before.read_text())["primary_metric"]]
    for metric in metrics:
        before, after = runs_by_arm(args.before, metric), runs_by_arm(args.after, metric)
        print(f"{metric}: before (mean ± sd over runs)  after  difference [95% Welch interval]")
        for arm in [a for a in before if a in after]:
            print(row(arm, list(before[arm].values()), list(after[arm].values())))
            if arm != CONTROL and CONTROL in before and CONTROL in after:
                print(row(f"  effect vs {CONTROL}", effects(before, arm), effects(after, arm)))
        print()


if __name__ == "__main__":
    main()
