"""A study on Slurm (`mapfree study --launcher slurm`): every shared stage and every (arm, seed) run is a Slurm job,
submitted through submitit, running the same functions as the local pipeline.

The stages, each submitted once and depending on the one before (`--dependency=afterok`):
the benchmark and the pretrained features; the priors as a job array (a shard of every store per task, from
`SLURM_ARRAY_TASK_ID`); their verification; then a job per run (one task per GPU under `srun`). What is done is
read from the study folder (a record per run, `priors/verified.json`, ...), and each submitted unit keeps its job id
in a small file (a run's in its run folder), so calling the study again on the folder collects what finished, keeps
waiting for what is queued or running, and resubmits what died, never a finished or live one. Job states come
from `squeue` while a job lives and from its files once it ended: no accounting database is needed.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import pickle
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapfree import logs
from mapfree.atomic import write_json_atomic
from mapfree.depth_prior.frames import Shard
from mapfree.depth_prior.verify import verify_store
from mapfree.errors import InputError, UserError
from mapfree.study.config import LauncherConfig, StudyConfig
from mapfree.study.heldout import benchmark_done
from mapfree.study.pipeline import (
    RunProgress,
    StudyData,
    compute_priors,
    make_benchmark_and_features,
    prior_stores,
    study_data,
    worker_setup,
)
from mapfree.study.records import RunRecord
from mapfree.study.runs import RunJob, load_record, run_dir, run_one, train_run
from mapfree.training.slurm import REQUEUE_SIGNAL

log = logging.getLogger(__name__)

JOBS_DIR = "slurm"
"""The study folder's submitit folder: job scripts, pickled calls, results and each job's log files."""
JOB_FILE = "slurm_job.json"
"""A run's job id, in its run folder."""
VERIFIED = "verified.json"
"""Written into `OUT/priors/` by the verification job once every store is complete."""
TAIL_LINES = 15
GONE_DEPENDENCY = "DependencyNeverSatisfied"


class StudyJobsError(UserError, RuntimeError):
    """Jobs of the study failed; the finished runs are kept, and calling the study again resubmits the others."""


# --- what the jobs run (module-level functions: submitit pickles them by reference) ---

def benchmark_job(config: StudyConfig, out: Path, verbosity: logs.Verbosity) -> None:
    logs.configure(verbosity)
    make_benchmark_and_features(config, out)


def priors_job(config: StudyConfig, out: Path, verbosity: logs.Verbosity) -> None:
    """One task of the priors' array: its shard (`SLURM_ARRAY_TASK_ID` of the array's tasks) of every store."""
    logs.configure(verbosity)
    compute_priors(config, study_data(config, out), Shard.from_env())


def verify_job(config: StudyConfig, out: Path, verbosity: logs.Verbosity) -> None:
    """Every prior store read back whole; `priors/verified.json` once all are complete, else InputError."""
    logs.configure(verbosity)
    data = study_data(config, out)
    summaries = {}
    for store in prior_stores(config, data):
        report = verify_store(data.data_root, store.split, store.root)
        log.info("%s (%s):\n%s", store.root, store.split, report.summary())
        if not report.complete:
            raise InputError(f"prior store {store.root} is incomplete; calling the study again recomputes what is "
                             "missing")
        summaries[str(store.root)] = report.valid
    write_json_atomic(out / "priors" / VERIFIED, summaries, indent=1)


def run_job(job: RunJob, verbosity: logs.Verbosity) -> dict | None:
    """One (arm, seed) run inside its job: the local worker's settings (one thread, quiet) and `run_one`; the
    other ranks of a multi-GPU run only train. Slurm's warning signal is ignored outside training (where
    `mapfree.training.slurm` checkpoints and requeues on it)."""
    worker_setup(verbosity)
    signal.signal(REQUEUE_SIGNAL, signal.SIG_IGN)
    if int(os.environ.get("SLURM_PROCID", "0")) > 0:
        train_run(job)
        return None
    return run_one(job)


# --- the submitting side ---

@dataclass
class Unit:
    """One thing the study submits as a Slurm job (a job array for `tasks` > 1), done when its files say so."""

    name: str
    job_file: Path
    done: Callable[[], bool]
    function: Callable[..., Any]
    args: tuple
    resources: dict[str, Any]
    after: list[Unit] = field(default_factory=list)
    tasks: int = 1
    run: RunJob | None = None
    job_id: str | None = None
    """The job of this call: recorded (and live) or submitted now."""

    def recorded(self) -> str | None:
        return json.loads(self.job_file.read_text())["job_id"] if self.job_file.is_file() else None


class Queue:
    """The user's jobs Slurm still holds (pending, running, requeued, completing), from `squeue`."""

    def __init__(self) -> None:
        try:
            done = subprocess.run(["squeue", "-h", "-u", getpass.getuser(), "-o", "%i|%T|%r"], capture_output=True,
                                  text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UserError(f"cannot ask Slurm for the study's jobs (squeue: {e}); is this a Slurm login node?") \
                from None
        if done.returncode != 0:
            raise UserError(f"squeue failed: {done.stderr.strip() or done.stdout.strip()}")
        self.jobs = {}
        for line in done.stdout.splitlines():
            job_id, state, reason = line.split("|", 2)
            self.jobs[job_id] = (state, reason)

    def _entries(self, job_id: str) -> list[tuple[str, str]]:
        """The entries of a job, or of an array's tasks (`ID_N`, `ID_[0-3]`)."""
        return [entry for key, entry in self.jobs.items() if key == job_id or key.startswith(f"{job_id}_")]

    def live(self, job_id: str | None) -> bool:
        return job_id is not None and bool(self._entries(job_id))

    def stuck(self, job_id: str) -> bool:
        """Pending on a job that failed: it will never start."""
        return any(reason == GONE_DEPENDENCY for _, reason in self._entries(job_id))


def _common(launcher: LauncherConfig) -> dict[str, Any]:
    """sbatch parameters of every job: account, partition, time, setup, the requeue signal, the user's extras."""
    params: dict[str, Any] = {"time": launcher.time_min, "setup": list(launcher.setup),
                              "additional_parameters": {"signal": f"{REQUEUE_SIGNAL.name[3:]}@{launcher.signal_s}",
                                                        "requeue": True, **launcher.sbatch}}
    for key in ("partition", "account", "qos"):
        if getattr(launcher, key):
            params[key] = getattr(launcher, key)
    if launcher.mem_gb is not None:
        params["mem"] = f"{round(launcher.mem_gb * 1024)}M"
    return params


def run_resources(launcher: LauncherConfig, job: RunJob) -> dict[str, Any]:
    """A run's nodes and tasks: its training config's (`trainer.num_nodes`, `trainer.devices: N` on GPUs) or the
    launcher's; one task per GPU, one on CPU."""
    trainer = job.config.trainer
    named = isinstance(trainer.devices, int) and trainer.accelerator in ("gpu", "cuda")
    gpus = trainer.devices if named else launcher.gpus_per_node
    resources = {"nodes": trainer.num_nodes if trainer.num_nodes > 1 else launcher.nodes,
                 "ntasks_per_node": max(gpus, 1), "cpus_per_task": launcher.cpus_per_task}
    return {**resources, "gpus_per_node": gpus} if gpus else resources


def units(config: StudyConfig, out: Path, data: StudyData, jobs: list[RunJob]) -> list[Unit]:
    """The study's jobs in submission order: benchmark and features, priors, their verification, the runs."""
    launcher, verbosity = config.launcher, logs.verbosity()
    slurm = out / JOBS_DIR
    shared = {"cpus_per_task": config.pretrain_threads, "ntasks_per_node": 1}
    features = data.features or []
    benchmark = Unit("benchmark and features", slurm / "benchmark.json",
                     lambda: (config.synth is None or benchmark_done(out, config.synth))
                     and all((f / "pretrain_history.json").is_file() for f in features),
                     benchmark_job, (config, out, verbosity), shared)
    verified = out / "priors" / VERIFIED
    gpus = {"gpus_per_node": launcher.prior_gpus} if launcher.prior_gpus else {}
    priors = Unit(f"priors ({launcher.prior_shards} shards)", slurm / "priors.json", verified.is_file, priors_job,
                  (config, out, verbosity), {**shared, **gpus}, [benchmark], tasks=launcher.prior_shards)
    verify = Unit("priors verified", slurm / "verify.json", verified.is_file, verify_job, (config, out, verbosity),
                  shared, [priors])
    runs = [Unit(f"{job.arm} seed {job.seed}", run_dir(job) / JOB_FILE, Path(job.record_file).is_file, run_job,
                 (job, verbosity), run_resources(launcher, job), [benchmark, priors, verify], run=job)
            for job in jobs]
    return [benchmark, priors, verify, *runs]


def submit(units_: list[Unit], out: Path, launcher: LauncherConfig, queue: Queue) -> list[Unit]:
    """Submit every unit that is neither done nor live (after the live or new jobs it needs); the submitted."""
    import submitit

    submitted = []
    for unit in units_:
        if unit.done():
            continue
        recorded = unit.recorded()
        if queue.live(recorded):
            unit.job_id = recorded
            continue
        after = [u.job_id for u in unit.after if u.job_id is not None]
        executor = submitit.SlurmExecutor(folder=out / JOBS_DIR)  # a fresh one: parameters accumulate
        executor.update_parameters(**_common(launcher), **unit.resources, job_name=f"mapfree-{unit.name}",
                                   dependency=f"afterok:{':'.join(after)}" if after else None)
        if unit.tasks > 1:
            jobs = executor.map_array(unit.function, *([arg] * unit.tasks for arg in unit.args))
            unit.job_id = jobs[0].job_id.split("_")[0]
        else:
            unit.job_id = executor.submit(unit.function, *unit.args).job_id
        write_json_atomic(unit.job_file, {"job_id": unit.job_id, "name": unit.name, "submitted": time.time()})
        if recorded is not None:
            log.info("%s: job %s ended unfinished; resubmitted as job %s", unit.name, recorded, unit.job_id)
        submitted.append(unit)
    return submitted


def log_tail(out: Path, job_id: str, lines: int = TAIL_LINES) -> str:
    """The last lines of the job's error logs (every task of an array), each under its file's name."""
    found = sorted((out / JOBS_DIR).glob(f"{job_id}_*log.err"))
    if not found:
        return f"  (no log of job {job_id} in {out / JOBS_DIR})"
    parts = []
    for path in found:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"  {path}:\n" + "\n".join(f"    {line}" for line in tail))
    return "\n".join(parts)


def _results(out: Path, unit: Unit) -> list[tuple[str, Any] | None]:
    """(outcome, value) of each task of the unit's job as submitit pickled it at the end; None where it did not."""
    from submitit.core.utils import JobPaths

    ids = [unit.job_id] if unit.tasks == 1 else [f"{unit.job_id}_{k}" for k in range(unit.tasks)]
    results = []
    for job_id in ids:
        try:
            with JobPaths(out / JOBS_DIR, job_id).result_pickle.open("rb") as f:
                results.append(pickle.load(f))
        except (OSError, pickle.UnpicklingError, EOFError, ValueError):
            results.append(None)
    return results


def _succeeded(out: Path, unit: Unit) -> bool:
    """A run left its record; a stage's every task ended with its function's result."""
    if unit.run is not None:
        return unit.done()
    return unit.done() or all(r is not None and r[0] == "success" for r in _results(out, unit))


def _ending(out: Path, unit: Unit) -> str:
    """How an unfinished unit's job ended: the exception its function raised, or none (killed)."""
    errors = [r[1] for r in _results(out, unit) if r is not None and r[0] == "error"]
    if errors:
        return f"failed: {str(errors[0]).strip().splitlines()[-1]}"
    return "ended without a result (killed: time limit, memory, node failure or scancel)"


def _summary(out: Path, unit: Unit) -> dict:
    """What `run_one` returned in the job, or a summary without the seconds."""
    result = _results(out, unit)[0]
    if result is not None and result[0] == "success" and isinstance(result[1], dict):
        return result[1]
    return {"arm": unit.run.arm, "seed": unit.run.seed, "reused": False, "seconds": float("nan")}


def wait(units_: list[Unit], out: Path, jobs: list[RunJob], poll_s: float) -> list[str]:
    """Until no unit is live: a line per finished run or stage, the log's last lines of each that failed (its
    dependents cancelled). Returns the failures, one line each."""
    progress = RunProgress(jobs)
    waiting = [u for u in units_ if not u.done() and u.job_id is not None]
    failures = []
    while waiting:
        time.sleep(poll_s)
        queue = Queue()
        for unit in list(waiting):
            if queue.live(unit.job_id) and not queue.stuck(unit.job_id):
                continue
            waiting.remove(unit)
            if _succeeded(out, unit):
                if unit.run is not None:
                    progress.finished(_summary(out, unit), f" in job {unit.job_id}")
                else:
                    log.info("%s: done in job %s", unit.name, unit.job_id)
                continue
            if queue.live(unit.job_id):  # waits on a failed job
                subprocess.run(["scancel", unit.job_id], capture_output=True, check=False)
                failures.append(f"{unit.name}: job {unit.job_id} cancelled, a job it needs failed")
                continue
            failures.append(f"{unit.name}: job {unit.job_id} {_ending(out, unit)}")
            log.error("%s: job %s %s; its log ends:\n%s", unit.name, unit.job_id, _ending(out, unit),
                      log_tail(out, unit.job_id))
    return failures


def execute_on_slurm(config: StudyConfig, out: Path, data: StudyData, jobs: list[RunJob],
                     detach: bool = False) -> list[RunRecord] | None:
    """Every stage and run not done yet as Slurm jobs; then either return at once (`detach`, None) or wait and
    return every run's record. StudyJobsError, after every live job ended, if any failed."""
    all_units = units(config, out, data, jobs)
    queue = Queue()
    submitted = submit(all_units, out, config.launcher, queue)
    live = [u for u in all_units if u.job_id is not None]
    log.info("Slurm: %d jobs submitted, %d already queued or running, %d of %d runs finished",
             len(submitted), len(live) - len(submitted), sum(u.done() for u in all_units if u.run), len(jobs))
    for unit in submitted:
        log.info("  job %s: %s", unit.job_id, unit.name)
    if detach:
        return None
    failures = wait(all_units, out, jobs, config.launcher.poll_s)
    if failures:
        finished = sum(load_record(job.record_file) is not None for job in jobs)
        raise StudyJobsError(f"{len(failures)} jobs failed ({'; '.join(failures)}); {finished} of {len(jobs)} runs "
                             "finished and are kept; calling the study again resubmits the rest")
    return [load_record(job.record_file) for job in jobs]
