"""`run_study`: benchmark -> shared pretraining -> teachers' priors -> arms x seeds -> statistics -> report.

Every stage reuses what an earlier, interrupted call of the same study left in the folder: the
benchmark, the pretrained features, the stored priors and the finished runs; the run that was
interrupted resumes from its last checkpoint.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import as_completed
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from mapfree import logs
from mapfree.atomic import OutputExistsError, write_text_atomic
from mapfree.baselines.table1 import StudyArm
from mapfree.children import process_pool
from mapfree.depth_prior.frames import Shard
from mapfree.depth_prior.runner import RunReport, compute_store
from mapfree.depth_prior.teacher import Teacher
from mapfree.depth_prior.teachers import build_teacher
from mapfree.errors import InputError
from mapfree.evaluation.aggregate import Thresholds
from mapfree.evaluation.evaluate import evaluate_submission
from mapfree.study.config import ArmConfig, StudyConfig, TeacherConfig
from mapfree.study.heldout import benchmark_roots, synthesise_study_benchmark
from mapfree.study.records import RunRecord, ScenePoseErrors, pose_records
from mapfree.study.runs import RunJob, TestSplit, arm_runs_dir, load_record, run_one, seed_dir
from mapfree.study.trivial import mean_training_translation, write_trivial_submission
from mapfree.training import TrainConfig
from mapfree.training.pretrain import pretrain_model
from mapfree.training.run import LAST_MODEL

log = logging.getLogger(__name__)

CONFIG_FILE = "study_config.yaml"
"""The study's configuration as run; a later call into the same folder must ask for the same study."""
SEED_ENCODING = "seed-8bit"


@dataclass
class StudyData:
    """Where the study's inputs are: the dataset, the test truth, the pretrained features and the priors."""

    data_root: Path
    truth_root: Path
    features: list[Path] | None
    """The feature-pretraining draws (:meth:`StudyConfig.pretrain_draw` picks a seed's), or None."""
    priors: dict[str, Path]
    """Training-split stores by target (`relative`, `metric`, `seed-8bit`)."""
    teacher_test_store: Path | None


def claim_folder(out: Path, config: StudyConfig, overwrite: bool) -> None:
    """The folder holds this study (resumed), nothing, or, with `overwrite`, anything (then replaced)."""
    path = out / CONFIG_FILE
    text = config.to_yaml()
    if path.is_file() and path.read_text() != text and not overwrite:
        raise OutputExistsError(f"{out} holds a different study ({path}); choose another --out, or pass "
                                "--overwrite to replace it")
    if not path.is_file() and out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out} is not empty and holds no study; choose another --out or pass --overwrite")
    if overwrite and out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def _data_delta(config: StudyConfig, data_root: Path) -> dict[str, Any]:
    """Where every run reads its frames, and their size."""
    return {"data": {"root": str(data_root), "resize": list(config.resize) if config.resize else None}}


def _shared_deltas(config: StudyConfig, data: StudyData) -> list[dict[str, Any]]:
    """What the study fixes for every run below its `train` budget: the data, and on a synthesised benchmark the
    width VCRE is measured at (the frames' own pixels)."""
    deltas = [_data_delta(config, data.data_root)]
    if config.synth:
        deltas.append({"validation": {"image_width": config.synth.size[0]}})
    return deltas


def _run_deltas(config: StudyConfig, arm: ArmConfig, seed: int, data: StudyData) -> list[dict[str, Any]]:
    """What a run fixes beyond the shared budget: the pretraining draw its seed starts from, the arm's priors."""
    deltas = []
    if data.features is not None:
        deltas.append({"init": {"checkpoint": str(data.features[config.pretrain_draw(seed)])}})
    if arm.target in data.priors:
        deltas.append({"depth": {"prior_root": str(data.priors[arm.target])}})
    return deltas


def study_teacher(spec: TeacherConfig, truth_root: Path | None = None) -> Teacher:
    """A study's teacher; on held-out frames (`truth_root`) a synthetic one reads the rendered depth kept there,
    as a network would read the image."""
    depth_root = truth_root if spec.name.startswith("synthetic") else None
    return build_teacher(spec.name, spec.weights, spec.device, spec.precision, depth_root=depth_root)


@dataclass(frozen=True)
class PriorStore:
    """One store the study computes: a split's frames through a teacher (and encoding) into `root`."""

    root: Path
    split: str
    teacher: TeacherConfig
    encoding: str | None = None
    truth_root: Path | None = None
    """Where a synthetic teacher reads rendered depth on held-out frames (see :func:`study_teacher`)."""


def study_data(config: StudyConfig, out: Path) -> StudyData:
    """Where the study's inputs are, or will be once made (:func:`prepare`; on a cluster its jobs)."""
    if config.synth is not None:
        data_root, truth_root = benchmark_roots(out)
    else:
        data_root, truth_root = Path(config.data_root), Path(config.truth_root or config.data_root)
    features = None
    if config.pretrain is not None:
        features = [out / "pretrained_features" / f"draw{k}" for k in range(config.pretrain_draws)]
    targets = {arm.target for arm in config.arms}
    priors = {target: out / "priors" / target for target in ("relative", "metric", SEED_ENCODING) if target in targets}
    return StudyData(data_root, truth_root, features, priors, out / "priors" / f"metric-{config.test_split}")


def prior_stores(config: StudyConfig, data: StudyData) -> list[PriorStore]:
    """The teachers' priors of the train frames each arm needs, and the metric teacher's of the test frames."""
    teachers = {"relative": (config.relative_teacher, None), "metric": (config.metric_teacher, None),
                SEED_ENCODING: (config.relative_teacher, SEED_ENCODING)}
    stores = [PriorStore(root, "train", *teachers[target]) for target, root in data.priors.items()]
    return [*stores, PriorStore(data.teacher_test_store, config.test_split, config.metric_teacher,
                                truth_root=data.truth_root)]


def compute_priors(config: StudyConfig, data: StudyData, shard: Shard | None = None) -> None:
    """This shard's frames (all without one) of every prior store, at the study's fixed thread count (the stores
    must not depend on the shell's); InputError naming the failures file if a frame failed."""
    with torch_threads(config.pretrain_threads):
        for store in prior_stores(config, data):
            teacher = study_teacher(store.teacher, store.truth_root)
            _check(compute_store(data.data_root, store.split, store.root, teacher, config.resize,
                                 batch_size=store.teacher.batch_size, workers=0, encoding=store.encoding, shard=shard))


def _check(report: RunReport) -> None:
    log.info(report.summary())
    if report.failures:
        raise InputError(f"{len(report.failures)} depth priors failed; see {report.failures_file}")


def make_benchmark_and_features(config: StudyConfig, out: Path) -> StudyData:
    """The benchmark (synthesised) and the pretrained features, each made once and reused."""
    data = study_data(config, out)
    if config.synth is not None:
        synthesise_study_benchmark(out, config.synth)
    if data.features is not None:
        base = TrainConfig.load(config.train_config, deltas=[_data_delta(config, data.data_root)])
        for k, folder in enumerate(data.features):
            if not (folder / "pretrain_history.json").is_file():
                log.info("feature pretraining draw %d of %d", k + 1, config.pretrain_draws)
                with torch_threads(config.pretrain_threads):
                    pretrain_model(base, folder, replace(config.pretrain, seed=config.pretrain.seed + k))
    return data


def prepare(config: StudyConfig, out: Path) -> StudyData:
    """Benchmark, pretrained features and priors, each made once and reused."""
    data = make_benchmark_and_features(config, out)
    compute_priors(config, data)
    return data


def run_train_config(config: StudyConfig, arm: ArmConfig, seed: int, data: StudyData, out: Path) -> TrainConfig:
    """One run's whole training configuration, built here once and handed to the run as an object: resumes its
    last checkpoint, in its own folder (`OUT/runs/ARM/seedN`), without a progress bar."""
    train = config.train_config_of(arm, _shared_deltas(config, data), _run_deltas(config, arm, seed, data))
    placement = replace(train.trainer, out_dir=str(arm_runs_dir(out, arm.name)), name=seed_dir("", seed).name,
                        seed=seed, resume="last", progress_bar=False)
    return replace(train, trainer=placement)


def thresholds(config: StudyConfig, data: StudyData) -> Thresholds:
    """The benchmark's thresholds scaled to the width of the test frames (fixed before any run)."""
    return TrainConfig.load(config.train_config, deltas=[*_shared_deltas(config, data), config.train]).thresholds


def run_jobs(config: StudyConfig, out: Path, data: StudyData) -> list[RunJob]:
    has_depth = config.synth is not None
    test = TestSplit(str(data.data_root), str(data.truth_root), config.test_split, config.resize,
                     thresholds(config, data), str(data.teacher_test_store) if data.teacher_test_store else None,
                     has_depth)
    return [RunJob(arm.name, seed, run_train_config(config, arm, seed, data, out),
                   str(out / "records" / f"{arm.name}-seed{seed}.json"), test)
            for seed in config.seeds for arm in config.arms if seed in config.arm_seeds(arm)]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to `n` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def worker_setup(verbosity: logs.Verbosity) -> None:
    """One thread per run (runs are the unit of parallelism); warnings only, no progress bars, unless verbose:
    the parent prints a line per finished run."""
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    logs.configure("verbose" if verbosity == "verbose" else "quiet")


class RunProgress:
    """The line per finished run: `[ k/N] ARM seed S: trained and evaluated in T s (E s elapsed)`."""

    def __init__(self, jobs: list[RunJob]) -> None:
        self.start = time.perf_counter()
        self.total = len(jobs)
        self.done = sum(load_record(job.record_file) is not None for job in jobs)
        if self.done:
            log.info("%d of %d runs already finished: reusing them", self.done, self.total)

    def finished(self, summary: dict, where: str = "") -> None:
        """One more run finished; `summary` as :func:`run_one` returns it."""
        self.done += 1
        log.info("[%2d/%d] %-15s seed %d: %s%s in %.0f s (%.0f s elapsed)", self.done, self.total, summary["arm"],
                 summary["seed"], "read back" if summary["reused"] else "trained and evaluated", where,
                 summary["seconds"], time.perf_counter() - self.start)


def execute(jobs: list[RunJob], workers: int) -> list[RunRecord]:
    """Run every job (finished ones are read back), `workers` at a time; a progress line per run."""
    progress = RunProgress(jobs)
    todo = [job for job in jobs if load_record(job.record_file) is None]
    if workers <= 1 or len(todo) <= 1:
        with torch_threads(1):  # as in a worker: a run's result does not depend on where it ran
            for job in todo:
                progress.finished(run_one(job))
    else:
        context = multiprocessing.get_context("spawn")
        # The workers die with this process (the OOM killer's SIGKILL included), so none writes on unseen.
        with process_pool(min(workers, len(todo)), context, worker_setup, (logs.verbosity(),)) as pool:
            for future in as_completed([pool.submit(run_one, job) for job in todo]):
                progress.finished(future.result())
    return [load_record(job.record_file) for job in jobs]


def trivial_row(config: StudyConfig, data: StudyData, thresholds: Thresholds, out: Path) -> dict[str, ScenePoseErrors]:
    """R = I and the mean training translation for every query: the floor every arm must clear."""
    translation = mean_training_translation(data.data_root)
    zip_path = write_trivial_submission(data.data_root, config.test_split, translation, out / "trivial.zip")
    return pose_records(evaluate_submission(zip_path, data.truth_root, config.test_split, thresholds))


def select(config: StudyConfig, arms: list[str] | None, seeds: int | None) -> StudyConfig:
    """The study restricted to some arms (the control stays) and to the first `seeds` seeds."""
    config = replace(config)
    if arms:
        config.select_arms(arms)
    if seeds is not None:
        if seeds < 1:
            raise InputError("--seeds must be at least 1")
        config.seeds = list(range(seeds))
    return config


def trained_arms(out: str | Path) -> list[StudyArm]:
    """The depth-supervised arms (a depth target) of the study in folder `out`, in the study's order, each with
    the final model of its first seed that has one: the "MicKey (GT-Depth)" rows of `compare --table1`."""
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{out}: not a `mapfree study` folder (no {CONFIG_FILE})")
    config = StudyConfig.load(path)
    found = []
    for arm in config.arms:
        if arm.target == "none":
            continue
        runs = arm_runs_dir(out, arm.name)
        models = (seed_dir(runs, seed) / LAST_MODEL for seed in config.arm_seeds(arm))
        found.append(StudyArm(arm.name, runs, next((m for m in models if m.is_dir()), None)))
    return found
