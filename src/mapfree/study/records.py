"""What one training run leaves for the statistics: per-scene pose errors and per-frame depth sums.

Everything the study reports is recomputed from these records over a multiset of test scenes,
so the paired bootstrap (:mod:`mapfree.study.stats`) resamples scenes and recomputes every
metric exactly as the full test set computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapfree.evaluation.evaluate import Evaluation
from mapfree.evaluation.metrics import FrameErrors


@dataclass(frozen=True)
class ScenePoseErrors:
    """One scene's scored estimates (errors, confidences) and its frames without an estimate."""

    translation: np.ndarray
    rotation: np.ndarray
    vcre: np.ndarray
    confidence: np.ndarray
    missing: int

    @property
    def errors(self) -> FrameErrors:
        return FrameErrors(self.translation, self.rotation, self.vcre)


def pose_records(evaluation: Evaluation) -> dict[str, ScenePoseErrors]:
    """{scene: its records} of an evaluation, every scene of the split included."""
    frames, errors = evaluation.frames, evaluation.frames.errors
    out = {}
    for row in evaluation.scenes:
        mine = frames.scene == row.scene
        out[row.scene] = ScenePoseErrors(errors.translation[mine], errors.rotation[mine], errors.vcre[mine],
                                    frames.confidence[mine], row.missing)
    return out


@dataclass(frozen=True)
class DepthSums:
    """Per-frame sums whose ratios are the depth metrics (see :mod:`mapfree.study.depth_metrics`).

    `scene` (F,) names the scene of each frame; `values[name]` (F,) one sum per frame.
    """

    scene: np.ndarray
    values: dict[str, np.ndarray]

    def select(self, scenes: list[str]) -> dict[str, float]:
        """Each sum totalled over the frames of `scenes` (a scene listed twice counts twice)."""
        totals = dict.fromkeys(self.values, 0.0)
        for scene in scenes:
            mine = self.scene == scene
            for name, column in self.values.items():
                totals[name] += float(column[mine].sum())
        return totals


@dataclass(frozen=True)
class RunRecord:
    """One (arm, seed) run on the test split: the model's poses, its reference rows' poses, its depth sums."""

    arm: str
    seed: int
    poses: dict[str, ScenePoseErrors]
    depth: DepthSums | None = None
    references: dict[str, dict[str, ScenePoseErrors]] | None = None
    """Reference rows of this run (e.g. `teacher depth`, `true depth`): the same matches solved with other depths."""


def _arrays_to_lists(poses: dict[str, ScenePoseErrors]) -> dict[str, dict]:
    return {scene: {"translation": p.translation.tolist(), "rotation": p.rotation.tolist(), "vcre": p.vcre.tolist(),
                    "confidence": p.confidence.tolist(), "missing": p.missing} for scene, p in poses.items()}


def _lists_to_arrays(data: dict[str, dict]) -> dict[str, ScenePoseErrors]:
    return {scene: ScenePoseErrors(*(np.asarray(p[k], np.float64) for k in ("translation", "rotation", "vcre",
                                                                         "confidence")), int(p["missing"]))
            for scene, p in data.items()}


def record_to_json(record: RunRecord) -> dict:
    """Plain data of a record (its file in the study folder marks the run as finished)."""
    depth = None if record.depth is None else {
        "scene": record.depth.scene.tolist(), "values": {k: v.tolist() for k, v in record.depth.values.items()}}
    references = {name: _arrays_to_lists(p) for name, p in (record.references or {}).items()}
    return {"arm": record.arm, "seed": record.seed, "poses": _arrays_to_lists(record.poses), "depth": depth,
            "references": references}


def record_from_json(data: dict) -> RunRecord:
    depth = data.get("depth")
    sums = None if depth is None else DepthSums(np.asarray(depth["scene"], dtype=object),
                                                {k: np.asarray(v, np.float64) for k, v in depth["values"].items()})
    return RunRecord(data["arm"], int(data["seed"]), _lists_to_arrays(data["poses"]), sums,
                     {name: _lists_to_arrays(p) for name, p in data.get("references", {}).items()})
