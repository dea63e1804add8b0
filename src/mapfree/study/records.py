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
class ScenePoses:
    """One scene's scored estimates (errors, confidences) and its frames without an estimate."""

    translation: np.ndarray
    rotation: np.ndarray
    vcre: np.ndarray
    confidence: np.ndarray
    missing: int

    @property
    def errors(self) -> FrameErrors:
        return FrameErrors(self.translation, self.rotation, self.vcre)


def pose_records(evaluation: Evaluation) -> dict[str, ScenePoses]:
    """{scene: its records} of an evaluation, every scene of the split included."""
    frames, errors = evaluation.frames, evaluation.frames.errors
    out = {}
    for row in evaluation.scenes:
        mine = frames.scene == row.scene
        out[row.scene] = ScenePoses(errors.translation[mine], errors.rotation[mine], errors.vcre[mine],
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
    poses: dict[str, ScenePoses]
    depth: DepthSums | None = None
    references: dict[str, dict[str, ScenePoses]] | None = None
    """Reference rows of this run (e.g. `teacher depth`, `true depth`): the same matches solved with other depths."""
