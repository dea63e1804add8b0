"""The trivial baseline: identity rotation and the mean training translation, for every query."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from mapfree.data.scenes import list_scenes, split_pairs
from mapfree.evaluation.submission import SubmissionEntry, write_submission


def mean_training_translation(data_root: str | Path, min_overlap: float = 0.0) -> np.ndarray:
    """Mean of t in T_0to1 over the training pairs: the best constant translation guess."""
    scenes = {s.name: s for s in list_scenes(data_root, "train")}
    pairs = split_pairs(data_root, "train", min_overlap=min_overlap)
    if not pairs:
        raise ValueError(f"{data_root}: no training pairs to average")
    return np.mean([scenes[p.scene].relative_pose(p.frame0, p.frame1)[:3, 3] for p in pairs], axis=0)


def write_trivial_submission(data_root: str | Path, split: str, translation: np.ndarray, path: str | Path) -> Path:
    """Every benchmark query gets R = I, t = `translation`, confidence 1."""
    estimates: dict[str, list[SubmissionEntry]] = defaultdict(list)
    for pair in split_pairs(data_root, split):
        estimates[pair.scene].append(SubmissionEntry(pair.frame1, np.eye(3), np.asarray(translation, float), 1.0))
    return write_submission(path, estimates)
