"""Evaluate a submission against a split's ground truth with the Map-free benchmark's rules.

Scene by scene, as the official code: the scored frames are every 5th frame number of
`poses.txt` (:func:`mapfree.data.scenes.benchmark_frames`); a scored frame without an estimate
is a failure; a scene without a pose file counts *all* its frame numbers as failures (the
official code returns before subsampling); pose files of scenes outside the split are ignored
with a warning. The errors of all frames are then computed in one vectorised pass.

Any split with ground truth can be scored: the val split, or the test split of a root that
holds its true poses. A scene whose poses are hidden (the all-zero lines the benchmark writes
for its test split) is refused with an error naming its pose file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.data.files import read_table
from mapfree.data.scenes import Scene, list_scenes
from mapfree.errors import InputError
from mapfree.evaluation.aggregate import SceneResult, Thresholds, scene_result, summarize
from mapfree.evaluation.groundtruth import SceneTruth, load_scene_truth
from mapfree.evaluation.metrics import FrameErrors, PRCurve, frame_errors
from mapfree.evaluation.submission import Issue, Submission, SubmissionError, SubmittedPoses, read_submission
from mapfree.geometry.camera import Camera


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


@dataclass(frozen=True)
class ScoredFrames:
    """Truth and estimate of every scored frame that has an estimate, concatenated scene by scene."""

    scenes: list[str]  # scenes with a pose file, in order
    sizes: np.ndarray  # (S,) estimates per scene
    scored: np.ndarray  # (S,) scored frames per scene
    absent: dict[str, int]  # scenes without pose file -> frame numbers they count as missing
    frame: np.ndarray  # (N,) ground-truth frame names
    q_gt: np.ndarray
    t_gt: np.ndarray
    q: np.ndarray
    t: np.ndarray
    confidence: np.ndarray
    camera: Camera  # K (N, 3, 3) and size (N, 2): each frame's intrinsics and VCRE clamping bounds

    @property
    def n_missing(self) -> int:
        return int(np.sum(self.scored - self.sizes)) + sum(self.absent.values())

    def errors(self) -> FrameErrors:
        return frame_errors(self.q_gt, self.t_gt, self.q, self.t, self.camera)


def _scene_rows(truth: SceneTruth, poses: SubmittedPoses) -> tuple[np.ndarray, np.ndarray]:
    """(mask of scored frames with an estimate, their rows in `poses`); rejects negative confidences."""
    rows = poses.rows_of(truth.keys)
    found = rows >= 0
    negative = poses.confidence[rows[found]] < 0
    if np.any(negative):
        line = int(poses.lines[rows[found][np.argmax(negative)]])
        raise SubmissionError(f"{poses.file}:{line}: negative confidence on a scored frame; "
                              "the official evaluation aborts on it (confidence must be >= 0)")
    return found, rows[found]


def _load_truth(scene: Scene) -> SceneTruth:
    """The scene's ground truth; InputError naming its pose file if every pose is hidden (all zeros).

    The hidden file is only inspected once the truth failed to load, so valid scenes are read once.
    """
    try:
        return load_scene_truth(scene.root)
    except DataFormatError:
        path = scene.root / "poses.txt"
        if np.all(read_table(path, 7).values == 0):
            raise InputError(f"{path}: the poses of {scene.split} scene {scene.name} are hidden (all zeros): "
                             "evaluate on val or against a root holding the true test poses, or check a test "
                             "submission with check-submission") from None
        raise


def gather_scored_frames(submission: str | Path | Submission, data_root: str | Path, split: str = "val",
                         issues: list[Issue] | None = None) -> ScoredFrames:
    """Match a submission to the scored frames of a split; scene-level warnings go to `issues`.

    Raises SubmissionError where the official evaluation aborts: a scene's file is not UTF-8, a
    scored frame has a negative confidence, or no scored frame has an estimate; InputError where
    a scene's poses are hidden (the benchmark's test split).
    """
    sub = submission if isinstance(submission, Submission) else read_submission(submission)
    issues = [] if issues is None else issues
    parts: list[tuple[SceneTruth, SubmittedPoses, np.ndarray, np.ndarray]] = []
    absent: dict[str, int] = {}
    for scene in list_scenes(data_root, split):
        truth = _load_truth(scene)
        if scene.name in sub.unreadable:
            raise SubmissionError(str(sub.unreadable[scene.name]))
        poses = sub.scenes.get(scene.name)
        if poses is None:
            absent[scene.name] = truth.n_keys
            issues.append(Issue(f"pose_{scene.name}.txt", None, "warning", "no pose file for this scene: all "
                                f"{truth.n_keys} of its frame numbers count as missing (official rule)"))
            continue
        found, rows = _scene_rows(truth, poses)
        if not np.all(found):
            issues.append(Issue(poses.file, None, "warning", f"{int(np.sum(~found))} of {len(found)} "
                                "scored frames have no estimate and count as failures"))
        parts.append((truth, poses, found, rows))
    known = {truth.name for truth, *_ in parts} | set(absent)
    for extra in sorted((set(sub.scenes) | set(sub.unreadable)) - known):
        issues.append(Issue(f"pose_{extra}.txt", None, "warning",
                            f"scene {extra} is not in the {split} split; ignored"))
    sizes = np.array([int(np.sum(found)) for _, _, found, _ in parts], dtype=np.int64)
    if not np.any(sizes):
        raise SubmissionError(f"{sub.source}: no valid pose estimate for any scored frame of the {split} split")

    def truth_cat(get) -> np.ndarray:
        return np.concatenate([get(truth)[found] for truth, _, found, _ in parts])

    def est_cat(get) -> np.ndarray:
        return np.concatenate([get(poses)[rows] for _, poses, _, rows in parts])

    return ScoredFrames(
        scenes=[truth.name for truth, *_ in parts], sizes=sizes,
        scored=np.array([len(found) for *_, found, _ in parts], dtype=np.int64), absent=absent,
        frame=truth_cat(lambda tr: np.array(tr.frames, dtype=object)),
        q_gt=truth_cat(lambda tr: tr.q), t_gt=truth_cat(lambda tr: tr.t),
        q=est_cat(lambda p: p.q), t=est_cat(lambda p: p.t), confidence=est_cat(lambda p: p.confidence),
        camera=Camera(truth_cat(lambda tr: tr.camera.K),
                      np.repeat([truth.camera.size for truth, *_ in parts], sizes, axis=0)),
    )


def evaluate_submission(submission: str | Path | Submission, data_root: str | Path, split: str = "val",
                        thresholds: Thresholds | None = None) -> Evaluation:
    """Score a submission zip (or a parsed :class:`Submission`) on a split of `data_root` with ground truth, by
    `thresholds` (None: the benchmark's, VCRE scaled to the scored frames' width, :meth:`Thresholds.for_frames`).

    Raises SubmissionError where the official evaluation aborts (see :func:`gather_scored_frames`).
    """
    sub = submission if isinstance(submission, Submission) else read_submission(submission)
    issues = list(sub.issues)
    scored = gather_scored_frames(sub, data_root, split, issues)
    thresholds = thresholds or Thresholds.for_frames(scored.camera.size[:, 0])
    errors = scored.errors()
    metrics, curves = summarize(errors, scored.confidence, scored.sizes, scored.n_missing, thresholds)
    bounds = np.cumsum(np.r_[0, scored.sizes])
    rows = [
        scene_result(name, True, int(n),
                     FrameErrors(*(e[a:b] for e in (errors.translation, errors.rotation, errors.vcre))), thresholds)
        for name, n, a, b in zip(scored.scenes, scored.scored, bounds[:-1], bounds[1:])
    ]
    empty = FrameErrors(np.zeros(0), np.zeros(0), np.zeros(0))
    rows += [scene_result(name, False, n, empty, thresholds) for name, n in scored.absent.items()]
    frames = FrameTable(np.repeat(scored.scenes, scored.sizes), scored.frame, scored.confidence, errors)
    return Evaluation(metrics, sorted(rows, key=lambda r: r.scene), curves, frames, thresholds, issues)
