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
from mapfree.data.files import check_same_frames, read_intrinsics_table, read_poses_table
from mapfree.data.scenes import QUERY_STRIDE, benchmark_keys
from mapfree.geometry.camera import Camera


@dataclass(frozen=True)
class SceneTruth:
    """Scored frames of a scene with their true world-to-camera poses and intrinsics."""

    name: str
    frames: list[str]  # scored frames, in benchmark order
    keys: np.ndarray  # (n,) their frame numbers
    q: np.ndarray  # (n, 4) qw qx qy qz
    t: np.ndarray  # (n, 3)
    camera: Camera  # K (n, 3, 3), values rounded to float32 like the official loader; one size (2,) = (W, H)
    n_keys: int  # distinct frame numbers in poses.txt: what a scene without pose file counts as missing


def load_scene_truth(scene_dir: str | Path) -> SceneTruth:
    """Read `poses.txt` and `intrinsics.txt` of a val scene and select the scored frames
    (:func:`mapfree.data.scenes.benchmark_frames`, in NumPy)."""
    scene_dir = Path(scene_dir)
    poses, intrinsics = read_poses_table(scene_dir / "poses.txt"), read_intrinsics_table(scene_dir / "intrinsics.txt")
    check_same_frames(poses, intrinsics.names, intrinsics.path)
    pose_keys, first, last = _rows_by_key(poses.names)
    scored = np.argsort(first, kind="stable")[::QUERY_STRIDE]  # keys in the order they first appear
    keys, rows = pose_keys[scored], last[scored]
    frames = [poses.names[row] for row in rows]
    k_keys, _, k_last = _rows_by_key(intrinsics.names)
    at = np.searchsorted(k_keys, keys).clip(max=len(k_keys) - 1)
    found = k_keys[at] == keys
    if not found.all():
        raise DataFormatError(intrinsics.path, f"no intrinsics for {frames[int(np.argmin(found))]}")
    fx, fy, cx, cy = intrinsics.values[k_last[at], :4].astype(np.float32).T
    K = np.zeros((len(keys), 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = fx, fy, cx, cy, 1.0
    size = intrinsics.values[-1, 4:6].copy()
    q, t = poses.values[rows, :4], poses.values[rows, 4:]
    return SceneTruth(scene_dir.name, frames, keys, q, t, Camera(K, size), len(pose_keys))


def _rows_by_key(names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct frame numbers (sorted), the row of each one's first line and of its last line (the
    official evaluator's lookup keeps the last)."""
    keys = benchmark_keys(names)
    distinct, first = np.unique(keys, return_index=True)
    _, from_end = np.unique(keys[::-1], return_index=True)
    return distinct, first, len(keys) - 1 - from_end
