"""The ground truth of one val scene as the official evaluator sees it, read fast.

Differences from :mod:`mapfree.data.files` are deliberate and follow the official code: poses
and intrinsics are keyed by frame number (:func:`mapfree.data.scenes.benchmark_key`), K is
rounded to float32, and the image size is the one on the last line of `intrinsics.txt`. The
files are read and validated by the dataset's own readers (:func:`mapfree.data.files.read_table`),
so what the evaluator accepts is what training and `summary` accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.data.files import read_intrinsics_table, read_poses_table
from mapfree.data.scenes import benchmark_frames, benchmark_key


@dataclass(frozen=True)
class SceneTruth:
    """Scored frames of a scene with their true world-to-camera poses and intrinsics."""

    name: str
    frames: list[str]  # scored frames, in benchmark order
    keys: np.ndarray  # (n,) their frame numbers
    q: np.ndarray  # (n, 4) qw qx qy qz
    t: np.ndarray  # (n, 3)
    K: np.ndarray  # (n, 3, 3), values rounded to float32 like the official loader
    width: float
    height: float
    n_keys: int  # distinct frame numbers in poses.txt: what a scene without pose file counts as missing


def load_scene_truth(scene_dir: str | Path) -> SceneTruth:
    """Read `poses.txt` and `intrinsics.txt` of a val scene and select the scored frames."""
    scene_dir = Path(scene_dir)
    poses, intrinsics = read_poses_table(scene_dir / "poses.txt"), read_intrinsics_table(scene_dir / "intrinsics.txt")
    frames = benchmark_frames(poses.names)
    keys = np.array([benchmark_key(f) for f in frames], dtype=np.int64)
    pose_row, k_row = _last_row_by_key(poses.names), _last_row_by_key(intrinsics.names)
    missing_k = [f for f, k in zip(frames, keys) if int(k) not in k_row]
    if missing_k:
        raise DataFormatError(intrinsics.path, f"no intrinsics for {missing_k[0]}")
    rows = poses.values[[pose_row[int(k)] for k in keys]]
    fx, fy, cx, cy = intrinsics.values[[k_row[int(k)] for k in keys], :4].astype(np.float32).T
    K = np.zeros((len(keys), 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = fx, fy, cx, cy, 1.0
    width, height = intrinsics.values[-1, 4:6]
    return SceneTruth(scene_dir.name, frames, keys, rows[:, :4], rows[:, 4:], K, float(width), float(height),
                      len(pose_row))


def _last_row_by_key(names: list[str]) -> dict[int, int]:
    """{frame number: its last row}, the official evaluator's lookup."""
    return {benchmark_key(name): row for row, name in enumerate(names)}
