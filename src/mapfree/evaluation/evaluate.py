"""Evaluate a submission against a val split with the Map-free benchmark's rules.

Scene by scene, as the official code: the scored frames are every 5th frame number of
`poses.txt` (:func:`mapfree.data.scenes.benchmark_frames`); a scored frame without an estimate
is a failure; a scene without a pose file counts *all* its frame numbers as failures (the
official code returns before subsampling); pose files of scenes outside the split are ignored
with a warning. The errors of all frames are then computed in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mapfree.data.scenes import list_scenes
from mapfree.evaluation.aggregate import SceneResult, Thresholds, scene_result, summarize
from mapfree.evaluation.groundtruth import SceneTruth, load_scene_truth
from mapfree.evaluation.metrics import FrameErrors, PRCurve, frame_errors
from mapfree.evaluation.submission import Issue, ScenePoses, Submission, SubmissionError, read_submission


@dataclass(frozen=True)
class FrameTable:
    """Every estimate that was scored, concatenated scene by scene."""

    scene: np.ndarray  # (N,) scene names
    frame: np.ndarray  # (N,) frame names of the ground truth
    confidence: np.ndarray
    errors: FrameErrors


@dataclass
class Evaluation:
    """Benchmark metrics (official keys first), per-scene rows, curves, per-frame errors and issues."""

    metrics: dict[str, float]
    scenes: list[SceneResult]
    curves: dict[str, PRCurve]
    frames: FrameTable
    thresholds: Thresholds
    issues: list[Issue] = field(default_factory=list)


@dataclass
class _Matched:
    """One scene's scored frames (`found`: those with an estimate) and, for those, truth and estimate."""

    truth: SceneTruth
    found: np.ndarray  # (n,) bool over the scene's scored frames
    q_gt: np.ndarray
    t_gt: np.ndarray
    K: np.ndarray
    q: np.ndarray
    t: np.ndarray
    confidence: np.ndarray

    @property
    def size(self) -> int:
        return len(self.confidence)


def _match(truth: SceneTruth, poses: ScenePoses) -> _Matched:
    rows = poses.rows_of(truth.keys)
    found = rows >= 0
    rows = rows[found]
    negative = poses.confidence[rows] < 0
    if np.any(negative):
        line = int(poses.lines[rows[np.argmax(negative)]])
        raise SubmissionError(f"{poses.file}:{line}: negative confidence on a scored frame; "
                              "the official evaluation aborts on it (confidence must be >= 0)")
    return _Matched(truth, found, truth.q[found], truth.t[found], truth.K[found],
                    poses.q[rows], poses.t[rows], poses.confidence[rows])


def evaluate_submission(submission: str | Path | Submission, data_root: str | Path, split: str = "val",
                        thresholds: Thresholds = Thresholds()) -> Evaluation:
    """Score a submission zip (or a parsed :class:`Submission`) on the val split of `data_root`.

    Raises SubmissionError where the official evaluation aborts: a scene's file is not UTF-8, a
    scored frame has a negative confidence, or no scored frame has an estimate.
    """
    if split == "test":
        raise ValueError("test poses are hidden: evaluate on val, or check a test submission with check-submission")
    sub = submission if isinstance(submission, Submission) else read_submission(submission)
    issues = list(sub.issues)
    matched: list[_Matched] = []
    absent: dict[str, int] = {}
    for scene in list_scenes(data_root, split):
        truth = load_scene_truth(scene.root)
        if scene.name in sub.unreadable:
            raise SubmissionError(str(sub.unreadable[scene.name]))
        poses = sub.scenes.get(scene.name)
        if poses is None:
            absent[scene.name] = truth.n_keys
            issues.append(Issue(f"pose_{scene.name}.txt", None, "warning", "no pose file for this scene: all "
                                f"{truth.n_keys} of its frame numbers count as missing (official rule)"))
            continue
        m = _match(truth, poses)
        if not np.all(m.found):
            issues.append(Issue(poses.file, None, "warning", f"{int(np.sum(~m.found))} of {len(m.found)} "
                                "scored frames have no estimate and count as failures"))
        matched.append(m)
    names = {m.truth.name for m in matched} | set(absent)
    for extra in sorted((set(sub.scenes) | set(sub.unreadable)) - names):
        issues.append(Issue(f"pose_{extra}.txt", None, "warning", f"scene {extra} is not in the {split} split; ignored"))
    if not any(np.any(m.found) for m in matched):
        raise SubmissionError(f"{sub.source}: no valid pose estimate for any scored frame of the {split} split")
    return _score(matched, absent, thresholds, issues)


def _score(matched: list[_Matched], absent: dict[str, int], thresholds: Thresholds, issues: list[Issue]) -> Evaluation:
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(m, name) for m in matched])

    sizes = np.array([m.size for m in matched])
    width = np.repeat([m.truth.width for m in matched], sizes)
    height = np.repeat([m.truth.height for m in matched], sizes)
    errors = frame_errors(cat("q_gt"), cat("t_gt"), cat("q"), cat("t"), cat("K"), width, height)
    confidence = cat("confidence")
    n_missing = sum(int(np.sum(~m.found)) for m in matched) + sum(absent.values())
    metrics, curves = summarize(errors, confidence, sizes, n_missing, thresholds)

    bounds = np.cumsum(np.r_[0, sizes])
    rows = {
        m.truth.name: scene_result(m.truth.name, True, len(m.found), FrameErrors(
            *(e[a:b] for e in (errors.translation, errors.rotation, errors.vcre))), thresholds)
        for m, a, b in zip(matched, bounds[:-1], bounds[1:])
    }
    empty = FrameErrors(np.zeros(0), np.zeros(0), np.zeros(0))
    rows.update({name: scene_result(name, False, n, empty, thresholds) for name, n in absent.items()})
    frames = FrameTable(
        scene=np.repeat([m.truth.name for m in matched], sizes),
        frame=np.array([f for m in matched for f, ok in zip(m.truth.frames, m.found) if ok], dtype=object),
        confidence=confidence, errors=errors,
    )
    return Evaluation(metrics, [rows[name] for name in sorted(rows)], curves, frames, thresholds, issues)
