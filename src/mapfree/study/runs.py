"""One (arm, seed) run of a study: train (or resume), then the final evaluation on the test split.

Runs execute in worker processes of one thread each; everything a run needs travels in a
:class:`RunJob`. A run is finished when its record file exists; a killed run resumes from its
last checkpoint, and a finished one is never trained again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mapfree.atomic import write_json_atomic
from mapfree.baselines.depth_sources import TRUE_DEPTH_SUFFIX, DepthSource, FileDepth, PriorDepth
from mapfree.data.dataset import MapFreePairs
from mapfree.data.scenes import list_scenes
from mapfree.evaluation.aggregate import Thresholds
from mapfree.evaluation.evaluate import evaluate_submission
from mapfree.evaluation.groundtruth import load_scene_truth
from mapfree.evaluation.submission import read_submission
from mapfree.inference.frames import FrameFeatures
from mapfree.inference.mickey import MicKeyEstimator
from mapfree.inference.submission import SUBMISSION_FILE, make_submissions
from mapfree.models import MicKey
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig
from mapfree.study.depth_metrics import KeypointDepthSums
from mapfree.study.records import DepthSums, RunRecord, ScenePoseErrors, pose_records, record_from_json, record_to_json
from mapfree.study.references import OtherDepthEstimator
from mapfree.training import TrainConfig, train
from mapfree.training.run import LAST_MODEL

TEACHER_ROW = "teacher depth"
"""Reference row: the run's own matches with the metric teacher's depth at test time."""
TRUE_ROW = "true depth"
"""Reference row: the run's own matches with the true depth (what its predicted depths cost)."""


@dataclass(frozen=True)
class TestSplit:
    """Where the final evaluation reads: the pipeline's images, the held-out truth, the split and size."""

    data_root: str
    truth_root: str
    split: str
    resize: tuple[int, int] | None
    thresholds: Thresholds
    teacher_store: str | None
    """The metric teacher's priors of the test frames (the teacher-at-test-time row), if any."""
    has_depth: bool
    """The truth holds depth maps (synthetic benchmark): keypoint depth metrics and the true-depth row."""


@dataclass(frozen=True)
class RunJob:
    """One run as the worker receives it: its whole training configuration (built by the parent, folder and
    seed included), where its record goes and what it is evaluated on."""

    arm: str
    seed: int
    config: TrainConfig
    record_file: str
    test: TestSplit


def load_record(path: str | Path) -> RunRecord | None:
    """The record of a finished run, or None if the run has not finished."""
    path = Path(path)
    return record_from_json(json.loads(path.read_text())) if path.is_file() else None


def arm_runs_dir(out: str | Path, arm: str) -> Path:
    """An arm's runs in a study folder `OUT`: `OUT/runs/ARM`, a folder per seed (:func:`seed_dir`)."""
    return Path(out) / "runs" / arm


def seed_dir(runs_dir: str | Path, seed: int) -> Path:
    """One seed's run in an arm's runs (`RUNS/ARM/seedN`): checkpoints, `history.json`, the final model
    (`LAST_MODEL`)."""
    return Path(runs_dir) / f"seed{seed}"


def run_dir(job: RunJob) -> Path:
    """The job's run folder."""
    return Path(job.config.trainer.out_dir) / job.config.trainer.name


def final_model(job: RunJob, config: TrainConfig) -> MicKey:
    """The network training left (a frozen DINOv2 comes from the configured weights, as in training)."""
    return MicKey.from_pretrained(run_dir(job) / LAST_MODEL, dinov2_weights=config.init.dinov2_weights)


def train_run(job: RunJob) -> int:
    """Train (or resume) the run unless its training finished; its optimizer steps, -1 if it had finished. Every
    rank of a multi-process run calls it."""
    if (run_dir(job) / "history.json").is_file() and (run_dir(job) / LAST_MODEL).is_dir():
        return -1
    return train(job.config).global_step


def _trained_model(job: RunJob) -> tuple[MicKey, TrainConfig, int]:
    """The run's final network: trained now, resumed, or the finished one."""
    steps = train_run(job)
    return final_model(job, job.config), job.config, steps


def _score(submission: Path, test: TestSplit) -> dict[str, ScenePoseErrors]:
    """A submission scored on the held-out truth; one without any estimate has every frame missing (the
    official evaluation aborts on it, a study row records it as the failure it is)."""
    if not any(len(poses.q) for poses in read_submission(submission).scenes.values()):
        return _all_missing(test)
    return pose_records(evaluate_submission(submission, test.truth_root, test.split, test.thresholds))


def _all_missing(test: TestSplit) -> dict[str, ScenePoseErrors]:
    empty = np.zeros(0)
    return {scene.name: ScenePoseErrors(empty, empty, empty, empty, len(load_scene_truth(scene.root).frames))
            for scene in list_scenes(test.truth_root, test.split)}


def final_evaluation(model: MicKey, job: RunJob, solver: ProcrustesRansacConfig, out: Path
                     ) -> tuple[dict[str, ScenePoseErrors], DepthSums | None, dict[str, dict[str, ScenePoseErrors]]]:
    """The run's submission, its reference rows (its own matches and solver with the teacher's depth, and with
    the true depth, at its keypoints) and its keypoint depth sums, in one pass over the test split that runs
    the network once per frame. Returns (poses, depth sums or None, {reference row: poses}).

    The test images are read from the truth root (the pipeline's test split is a copy of them without the
    truth): the true depth at the keypoints needs the depth maps beside them.
    """
    test = job.test
    truth = MapFreePairs(test.truth_root, test.split, resize=test.resize,
                         depth_suffix=TRUE_DEPTH_SUFFIX if test.has_depth else None)
    frames = FrameFeatures(model.eval())
    depths: dict[str, tuple[str, DepthSource]] = {}
    if test.teacher_store:
        depths[TEACHER_ROW] = ("teacher_depth.zip", PriorDepth(test.teacher_store, test.split))
    if test.has_depth:
        depths[TRUE_ROW] = ("true_depth.zip", FileDepth(TRUE_DEPTH_SUFFIX))
    estimators = {SUBMISSION_FILE: MicKeyEstimator(model, solver, _generator(job), frames),
                  **{name: OtherDepthEstimator(model, depth, solver, _generator(job), frames)
                     for name, depth in depths.values()}}
    sums = KeypointDepthSums(model.config.heads) if test.has_depth else None
    zips = make_submissions(truth, estimators, out, batch_size=8, progress=False,
                            on_batch=None if sums is None else lambda items: sums.add(items, frames))
    return (_score(zips[SUBMISSION_FILE], test), None if sums is None else sums.sums(),
            {row: _score(zips[name], test) for row, (name, _) in depths.items()})


def _generator(job: RunJob) -> torch.Generator:
    """The solver's sampling: seeded by the run, the same for every row of it."""
    return torch.Generator().manual_seed(job.seed)


def run_one(job: RunJob) -> dict:
    """Train and evaluate one run (or read its record); returns a short summary for the progress line."""
    start = time.perf_counter()
    record = load_record(job.record_file)
    if record is None:
        model, config, steps = _trained_model(job)
        poses, depth, references = final_evaluation(model, job, config.solver, run_dir(job) / "test")
        record = RunRecord(job.arm, job.seed, poses, depth, references)
        write_json_atomic(job.record_file, record_to_json(record))
        reused = False
    else:
        steps, reused = -1, True
    return {"arm": job.arm, "seed": job.seed, "seconds": time.perf_counter() - start, "reused": reused,
            "train_steps": steps}
