"""`run_study(config, out)`: the whole study, from an empty (or interrupted) folder to study.json and report.md."""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mapfree
from mapfree.configs.loader import as_overrides
from mapfree.errors import InputError
from mapfree.study.config import StudyConfig
from mapfree.study.depth_metrics import DEPTH_RATIOS
from mapfree.study.figures import FIGURES, study_figures
from mapfree.study.metrics import (
    CombinedMetrics,
    DepthMetrics,
    PoseMetrics,
    pose_metrics,
    primary_metric,
    reference_rows,
)
from mapfree.study.pipeline import (
    claim_folder,
    execute,
    prepare,
    run_jobs,
    study_data,
    thresholds,
    trivial_row,
)
from mapfree.study.records import RunRecord
from mapfree.study.report import build_study_json, headline, verdict_line, write_study
from mapfree.study.stats import CONTROL, Arm, compare_arms, seed_mean_std
from mapfree.study.teachers import teacher_accuracies

log = logging.getLogger(__name__)

BOOTSTRAP_SEED = 0
PLACEBO = "seed-published"
TRIVIAL_ROW = "trivial (R = I, mean train t)"


def _step(message: str, start: float) -> None:
    log.info("== [%5.0f s] %s", time.perf_counter() - start, message)


def placebo_check(records: list[RunRecord]) -> str | None:
    """Whether the placebo arm reproduced the control seed by seed (it must: it changes no weight)."""
    placebo = {r.seed: r for r in records if r.arm == PLACEBO}
    control = {r.seed: r for r in records if r.arm == CONTROL}
    if not placebo:
        return None
    same = [seed for seed in placebo if seed in control and _same_poses(placebo[seed], control[seed])]
    return (f"{PLACEBO} reproduced {CONTROL} exactly for {len(same)} of {len(placebo)} seeds "
            f"(identical per-frame errors and confidences)")


def _same_poses(a: RunRecord, b: RunRecord) -> bool:
    return a.poses.keys() == b.poses.keys() and all(
        np.array_equal(getattr(a.poses[s], f), getattr(b.poses[s], f))
        for s in a.poses for f in ("translation", "rotation", "vcre", "confidence"))


def reference_means(arms: dict[str, list[RunRecord]], scenes: list[str], thresholds) -> dict[str, dict]:
    """{"ARM: ROW": mean over the arm's runs of the row's pose metrics, each run scored alone}."""
    out = {}
    for arm, runs in arms.items():
        for row in reference_rows(runs):
            scored = [pose_metrics(run, scenes, thresholds, row) for run in runs if row in (run.references or {})]
            out[f"{arm}: {row}"] = {key: mean for key, (mean, _) in seed_mean_std(scored).items()}
    return out


def _commit() -> str | None:
    """The git commit of the installed source tree, `-dirty` when it has uncommitted changes (None outside a
    checkout)."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"],
                              cwd=Path(mapfree.__file__).parent, capture_output=True, text=True, timeout=10,
                              check=False)
    except OSError:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def provenance(config: StudyConfig) -> dict[str, Any]:
    """Where the numbers come from: versions, commit, machine, threads and the configuration's digest."""
    return {"mapfree": mapfree.__version__, "commit": _commit(), "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "device": "cpu",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "threads": f"1 per run, {config.workers} runs at once; pretraining and priors {config.pretrain_threads}",
            "config_sha256": hashlib.sha256(config.to_yaml().encode()).hexdigest()[:16]}


def run_study(config: StudyConfig, out_dir: str | Path, overwrite: bool = False,
              detach: bool = False) -> dict[str, Any] | None:
    """Run (or resume) the study into `out_dir`; returns study.json's content. On Slurm
    (`config.launcher.name == "slurm"`) the stages and runs are jobs; `detach` returns None once they are
    submitted, and a later call collects them."""
    start = time.perf_counter()
    out = Path(out_dir)
    on_slurm = config.launcher.name == "slurm"
    if detach and not on_slurm:
        raise InputError("--detach needs the Slurm launcher (--launcher slurm): local runs end with this process")
    claim_folder(out, config, overwrite)
    source = provenance(config)  # the code that runs now, whatever the checkout holds when the study ends
    if on_slurm:
        from mapfree.study.slurm import execute_on_slurm

        data = study_data(config, out)
        jobs = run_jobs(config, out, data)
        _step(f"1-3/5 the shared stages and {len(jobs)} runs as Slurm jobs", start)
        records = execute_on_slurm(config, out, data, jobs, detach)
        if records is None:
            print(f"submitted; `mapfree study` again with the same --out ({out}) and --launcher slurm collects "
                  "the runs")
            return None
        th = thresholds(config, data)
        teachers = teacher_accuracies(config, data) if config.synth is not None else {}
    else:
        _step("1/5 benchmark, shared feature pretraining and the teachers' priors", start)
        data = prepare(config, out)
        th = thresholds(config, data)
        log.info("primary metric, fixed before the runs: %s", primary_metric(th))

        _step("2/5 the teachers' own accuracy on the held-out frames", start)
        teachers = teacher_accuracies(config, data) if config.synth is not None else {}

        jobs = run_jobs(config, out, data)
        _step(f"3/5 {len(jobs)} runs ({len(config.arms)} arms x {len(config.seeds)} seeds), {config.workers} at a "
              "time", start)
        records = execute(jobs, config.workers)
    primary = primary_metric(th)

    _step("4/5 statistics: per-run scores, seed-level effects, scene bootstrap", start)
    scenes = sorted(records[0].poses)
    metric = PoseMetrics(th) if records[0].depth is None else CombinedMetrics(
        (PoseMetrics(th), DepthMetrics(DEPTH_RATIOS)))
    by_arm = {arm.name: [r for r in records if r.arm == arm.name] for arm in config.arms}
    trivial = pose_metrics(RunRecord("trivial", 0, trivial_row(config, data, th, out / "runs")), scenes, th)
    results = compare_arms([Arm(arm.name, arm.description, by_arm[arm.name]) for arm in config.arms], scenes,
                           metric, config.bootstrap, BOOTSTRAP_SEED, primary=primary, trivial=trivial[primary])
    references = {TRIVIAL_ROW: trivial, **reference_means(by_arm, scenes, th)}

    _step("5/5 report", start)
    n_pairs = sum(len(p.translation) + p.missing for p in records[0].poses.values())
    context = {"test_scenes": len(scenes), "test_pairs": n_pairs, "seeds": config.seeds,
               "image_size": "x".join(map(str, config.resize or (config.synth.size if config.synth else ("native",)))),
               "test_split": config.test_split, "train_config": config.train_config,
               "train_budget": ", ".join(as_overrides(config.train)),
               "teachers": f"relative {config.relative_teacher.name}, metric {config.metric_teacher.name}",
               "headline_arm": config.headline_arm, "provenance": source,
               "wall_time_s": round(time.perf_counter() - start)}
    placebo = placebo_check(records)
    if placebo is not None:
        context["placebo_check"] = placebo
    keys = [k for k in headline(th) if records[0].depth is not None or not k.startswith("depth/")]
    study = build_study_json(primary, results, teachers, references, context, keys, config.bootstrap,
                             BOOTSTRAP_SEED)
    paths = write_study(out, study, study_figures(jobs, records, out / FIGURES))
    for arm in study["arms"]:
        if arm["name"] != CONTROL:
            print(verdict_line(study, arm))
    print(f"\nreport: {paths['report']}   numbers: {paths['study']}   total {context['wall_time_s']} s")
    return study
