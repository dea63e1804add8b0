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

import torch

from mapfree.atomic import write_json_atomic
from mapfree.baselines import BaselineContext, build_baseline
from mapfree.data.dataset import MapFreePairs
from mapfree.evaluation.aggregate import Thresholds
from mapfree.evaluation.evaluate import evaluate_submission
from mapfree.inference.mickey import MicKeyEstimator
from mapfree.inference.submission import make_submission
from mapfree.models import MicKey
from mapfree.study.records import RunRecord, ScenePoses, pose_records, record_from_json, record_to_json
from mapfree.training import TrainConfig, train

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
    arm: str
    seed: int
    train_config: str
    overrides: tuple[str, ...]
    runs_dir: str
    record_file: str
    test: TestSplit


def load_record(path: str | Path) -> RunRecord | None:
    """The record of a finished run, or None if the run has not finished."""
    path = Path(path)
    return record_from_json(json.loads(path.read_text())) if path.is_file() else None


def _trained_model(job: RunJob) -> tuple[MicKey, TrainConfig, int]:
    """The run's final network: trained now, resumed, or the finished one."""
    overrides = [*job.overrides, f"trainer.out_dir={job.runs_dir}", f"trainer.name=seed{job.seed}",
                 f"trainer.seed={job.seed}", "trainer.resume=last", "trainer.progress_bar=false"]
    config = TrainConfig.load(job.train_config, overrides)
    run_dir = Path(job.runs_dir) / f"seed{job.seed}"
    finished = run_dir / "model-last"
    if (run_dir / "history.json").is_file() and finished.is_dir():
        steps = -1
    else:
        steps = train(config).global_step
    return MicKey.from_pretrained(finished), config, steps


def _evaluate(dataset: MapFreePairs, estimator, out: Path, name: str, test: TestSplit) -> dict[str, ScenePoses]:
    submission = make_submission(dataset, estimator, out, batch_size=8, name=name, progress=False)
    return pose_records(evaluate_submission(submission, test.truth_root, test.split, test.thresholds))


def _reference_rows(model: MicKey, job: RunJob, out: Path) -> dict[str, dict[str, ScenePoses]]:
    """The run's own mutual matches solved with the teacher's depth, and with the true depth."""
    test = job.test
    truth = MapFreePairs(test.truth_root, test.split, resize=test.resize)
    rows = {}
    if test.teacher_store:
        context = BaselineContext(load_mickey=lambda: model, prior_root=test.teacher_store, split=test.split,
                                  seed=job.seed)
        rows[TEACHER_ROW] = _evaluate(truth, build_baseline("mickey+prior+procrustes", context), out,
                                      "teacher_depth.zip", test)
    if test.has_depth:
        context = BaselineContext(load_mickey=lambda: model, seed=job.seed)
        rows[TRUE_ROW] = _evaluate(truth, build_baseline("mickey+true+procrustes", context), out,
                                   "true_depth.zip", test)
    return rows


def run_one(job: RunJob) -> dict:
    """Train and evaluate one run (or read its record); returns a short summary for the progress line."""
    start = time.perf_counter()
    record = load_record(job.record_file)
    if record is None:
        model, config, steps = _trained_model(job)
        test = job.test
        out = Path(job.runs_dir) / f"seed{job.seed}" / "test"
        estimator = MicKeyEstimator(model, config.solver, generator=torch.Generator().manual_seed(job.seed))
        poses = _evaluate(MapFreePairs(test.data_root, test.split, resize=test.resize), estimator, out,
                          "submission.zip", test)
        depth = None
        if test.has_depth:
            from mapfree.study.depth_metrics import keypoint_depth_sums

            depth = keypoint_depth_sums(model, test.truth_root, test.split, test.resize)
        record = RunRecord(job.arm, job.seed, poses, depth, _reference_rows(model, job, out))
        write_json_atomic(job.record_file, record_to_json(record))
        reused = False
    else:
        steps, reused = -1, True
    return {"arm": job.arm, "seed": job.seed, "seconds": time.perf_counter() - start, "reused": reused,
            "train_steps": steps}
