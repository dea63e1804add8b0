"""Check a submission against a split's frame lists before uploading (no ground truth needed).

Besides every line the benchmark would skip (see :mod:`mapfree.evaluation.submission`), it
reports scenes without a pose file, scored frames without an estimate (an error, also where a
skipped line was meant for the frame: no scored frame may go unscored), estimates for frames the
scene does not have, names that differ from the dataset's (the benchmark matches numbers only),
quaternions far from unit norm, and files the benchmark never opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mapfree.data.scenes import Scene, benchmark_key, list_scenes
from mapfree.evaluation.submission import Issue, SubmittedPoses, read_submission

UNIT_NORM_TOLERANCE = 1e-3
SHOWN_FRAMES = 3


@dataclass
class CheckReport:
    """Issues found and the counts a user wants before uploading."""

    issues: list[Issue] = field(default_factory=list)
    scenes: int = 0
    scenes_with_file: int = 0
    scored: int = 0
    estimated: int = 0

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    def summary(self) -> str:
        return (f"{self.scenes_with_file}/{self.scenes} scenes have a pose file; {self.estimated}/{self.scored} scored "
                f"frames have an estimate; {len(self.errors)} error(s), "
                f"{sum(i.severity == 'warning' for i in self.issues)} warning(s)")


def _frames_shown(frames: list[str]) -> str:
    more = f" and {len(frames) - SHOWN_FRAMES} more" if len(frames) > SHOWN_FRAMES else ""
    return ", ".join(frames[:SHOWN_FRAMES]) + more


def _check_scene(scene: Scene, poses: SubmittedPoses, report: CheckReport) -> None:
    listing = {benchmark_key(f): f for f in scene.frames()}
    scored = scene.benchmark_queries()
    scored_keys = {benchmark_key(f) for f in scored}
    report.scored += len(scored)
    by_key = dict(zip(poses.keys.tolist(), range(len(poses.keys))))
    missing = [f for f in scored if benchmark_key(f) not in by_key]
    report.estimated += len(scored) - len(missing)
    if missing:
        shown = [f + (f" (line {poses.skipped[benchmark_key(f)]} skipped)" if benchmark_key(f) in poses.skipped else "")
                 for f in missing]
        report.issues.append(Issue(poses.file, None, "error", f"{len(missing)} of {len(scored)} scored frames have "
                                   f"no estimate and count as failures: {_frames_shown(shown)}"))
    unknown = [f for f, k in zip(poses.frames, poses.keys.tolist()) if k not in listing]
    if unknown:
        report.issues.append(Issue(poses.file, None, "warning", f"{len(unknown)} estimates for frames this scene "
                                   f"does not have: {_frames_shown(unknown)}"))
    for name, key, line in zip(poses.frames, poses.keys.tolist(), poses.lines.tolist()):
        if key in scored_keys and name != listing[key]:
            report.issues.append(Issue(poses.file, line, "warning", f"frame {name!r} is matched to the dataset's "
                                       f"{listing[key]!r}: the benchmark compares frame numbers only"))
    unscored = sum(k in listing and k not in scored_keys for k in poses.keys.tolist())
    if unscored:
        report.issues.append(Issue(poses.file, None, "info", f"{unscored} estimates for frames the benchmark does "
                                   "not score (every 5th frame is scored); they are ignored"))
    norms = np.linalg.norm(poses.q, axis=1)
    for i in np.flatnonzero(np.abs(norms - 1) > UNIT_NORM_TOLERANCE):
        report.issues.append(Issue(poses.file, int(poses.lines[i]), "warning", f"quaternion norm {norms[i]:.4g}: "
                                   "the benchmark normalises it, but a non-unit quaternion often means a wrong format"))


def check_submission(submission: str | Path, data_root: str | Path, split: str = "test") -> CheckReport:
    """Everything the benchmark would skip, reject or count as missing in a submission for `split`."""
    sub = read_submission(submission)
    report = CheckReport(issues=list(sub.issues))
    scenes = list_scenes(data_root, split)
    report.scenes = len(scenes)
    for scene in scenes:
        scene.check_files()  # a truth the evaluator rejects (e.g. poses.txt lacking a frame) is no submission's fault
        file = f"pose_{scene.name}.txt"
        if scene.name in sub.unreadable:
            report.scored += len(scene.benchmark_queries())
            continue  # its decoding error is already reported
        poses = sub.scenes.get(scene.name)
        if poses is None:
            n_keys = len({benchmark_key(f) for f in scene.frames()})
            report.scored += len(scene.benchmark_queries())
            report.issues.append(Issue(file, None, "error", f"missing: the benchmark counts all {n_keys} frame "
                                       "numbers of the scene as failures (an empty file would count only the "
                                       "scored frames)"))
            continue
        report.scenes_with_file += 1
        _check_scene(scene, poses, report)
    names = {s.name for s in scenes}
    for extra in sorted((set(sub.scenes) | set(sub.unreadable)) - names):
        report.issues.append(Issue(f"pose_{extra}.txt", None, "warning", f"scene {extra} is not in the {split} "
                                   "split; the benchmark ignores it"))
    for name in sub.ignored_files:
        where = "inside a folder: pose files must be at the top level of the zip" if "/" in name else \
            "not named pose_{scene}.txt"
        report.issues.append(Issue(name, None, "warning", f"ignored by the benchmark ({where})"))
    return report
