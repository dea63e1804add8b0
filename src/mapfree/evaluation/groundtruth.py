"""The ground truth of one val scene as the official evaluator sees it, read fast.

Differences from :mod:`mapfree.data.files` are deliberate and follow the official code: poses
and intrinsics are keyed by frame number (:func:`mapfree.data.scenes.benchmark_key`), K is
rounded to float32, and the image size is the one on the last line of `intrinsics.txt`. The
files are still validated strictly: a malformed line is a DataFormatError naming file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.data.frames import parse_frame_name
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


def _read_table(path: Path, n_values: int) -> tuple[list[str], np.ndarray]:
    """(frame names, (n, n_values) floats) of a whitespace table; comments (#) and blank lines skipped."""
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    text = path.read_text(encoding="utf-8")
    tokens = text.split()
    width = n_values + 1
    if "#" not in text and len(tokens) % width == 0:  # fast path: a clean file
        names = tokens[::width]
        del tokens[::width]
        try:
            values = np.array(list(map(float, tokens)), dtype=np.float64).reshape(-1, n_values)
            for name in names:
                parse_frame_name(name)
        except ValueError:
            pass  # let the line-by-line pass below say where
        else:
            if np.all(np.isfinite(values)):
                return names, values
    return _read_table_by_line(path, text, n_values)


def _read_table_by_line(path: Path, text: str, n_values: int) -> tuple[list[str], np.ndarray]:
    names, rows = [], []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != n_values + 1:
            raise DataFormatError(path, f"expected {n_values + 1} fields, got {len(fields)}", lineno)
        try:
            parse_frame_name(fields[0])
            row = [float(v) for v in fields[1:]]
        except ValueError as e:
            raise DataFormatError(path, str(e), lineno) from None
        if not all(np.isfinite(row)):
            raise DataFormatError(path, "non-finite value (NaN or Inf)", lineno)
        names.append(fields[0])
        rows.append(row)
    return names, np.array(rows, dtype=np.float64).reshape(-1, n_values)


def _last_row_by_key(names: list[str]) -> dict[int, int]:
    return {benchmark_key(name): i for i, name in enumerate(names)}


def load_scene_truth(scene_dir: str | Path) -> SceneTruth:
    """Read `poses.txt` and `intrinsics.txt` of a val scene and select the scored frames."""
    scene_dir = Path(scene_dir)
    pose_names, poses = _read_table(scene_dir / "poses.txt", 7)
    k_names, intrinsics = _read_table(scene_dir / "intrinsics.txt", 6)
    if not k_names:
        raise DataFormatError(scene_dir / "intrinsics.txt", "no intrinsics")
    frames = benchmark_frames(pose_names)
    pose_row, k_row = _last_row_by_key(pose_names), _last_row_by_key(k_names)
    keys = np.array([benchmark_key(f) for f in frames], dtype=np.int64)
    missing_k = [f for f, k in zip(frames, keys) if int(k) not in k_row]
    if missing_k:
        raise DataFormatError(scene_dir / "intrinsics.txt", f"no intrinsics for {missing_k[0]}")
    rows = poses[[pose_row[int(k)] for k in keys]].reshape(-1, 7)
    zero = np.linalg.norm(rows[:, :4], axis=1) < 1e-8
    if np.any(zero):
        raise DataFormatError(scene_dir / "poses.txt", f"zero-norm quaternion for {frames[int(np.argmax(zero))]} "
                              "(hidden test poses cannot be evaluated)")
    fx, fy, cx, cy = intrinsics[[k_row[int(k)] for k in keys]].reshape(-1, 6)[:, :4].astype(np.float32).T
    K = np.zeros((len(keys), 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = fx, fy, cx, cy, 1.0
    width, height = intrinsics[-1, 4:6]
    return SceneTruth(scene_dir.name, frames, keys, rows[:, :4], rows[:, 4:], K, float(width), float(height),
                      len(pose_row))
