"""The ground truth of one val scene as the official evaluator sees it, read fast.

Differences from :mod:`mapfree.data.files` are deliberate and follow the official code: poses
and intrinsics are keyed by frame number (:func:`mapfree.data.scenes.benchmark_key`), K is
rounded to float32, and the image size is the one on the last line of `intrinsics.txt`. The
files are still validated strictly: a malformed line is a DataFormatError naming file and line.
"""

from __future__ import annotations

import re
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


_NUMBER_CHARACTERS = re.compile(r"[0-9.eE+-]*")
"""What the value columns of a clean file consist of (no nan, inf or other words)."""


class _Table:
    """Rows `frame v1 .. vn` of a dataset file. Numbers are parsed for the rows asked for only.

    A clean file (no comments, every line `frame` + n number-like tokens) is split in one go;
    anything else, and any bad number met later, goes through a line-by-line pass that names the
    bad line. Lines with a wrong field count, name or word must not pass: the official code would
    skip them and so shift which frames are scored.
    """

    def __init__(self, path: Path, n_values: int):
        if not path.is_file():
            raise DataFormatError(path, "file not found")
        self.path, self.n_values = path, n_values
        self.text = path.read_text(encoding="utf-8")
        self.tokens = self.text.split()
        self.parsed: np.ndarray | None = None
        width = n_values + 1
        self.names: list[str] = self.tokens[::width]
        numbers = self.tokens.copy()
        del numbers[::width]
        clean = ("#" not in self.text and len(self.tokens) % width == 0 and all(n.endswith(".jpg") for n in self.names)
                 and _NUMBER_CHARACTERS.fullmatch("".join(numbers)) is not None)
        try:
            self.keys = list(map(benchmark_key, self.names)) if clean else None
        except ValueError:
            self.keys = None
        if self.keys is None:
            self._parse_by_line()
        if not self.names:
            raise DataFormatError(path, "no frames")

    def _parse_by_line(self) -> None:
        names, rows = [], []
        for lineno, raw in enumerate(self.text.splitlines(), start=1):
            fields = raw.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != self.n_values + 1:
                raise DataFormatError(self.path, f"expected {self.n_values + 1} fields, got {len(fields)}", lineno)
            try:
                parse_frame_name(fields[0])
                row = [float(v) for v in fields[1:]]
            except ValueError as e:
                raise DataFormatError(self.path, str(e), lineno) from None
            if not all(np.isfinite(row)):
                raise DataFormatError(self.path, "non-finite value (NaN or Inf)", lineno)
            names.append(fields[0])
            rows.append(row)
        self.names, self.keys = names, [benchmark_key(name) for name in names]
        self.parsed = np.array(rows, dtype=np.float64).reshape(-1, self.n_values)

    def values(self, rows: list[int]) -> np.ndarray:
        """(len(rows), n) numbers of the given rows."""
        if self.parsed is None:
            width = self.n_values + 1
            try:
                values = np.array([float(v) for r in rows for v in self.tokens[r * width + 1:(r + 1) * width]])
            except ValueError:
                values = None
            if values is None or not np.all(np.isfinite(values)):
                self._parse_by_line()
            else:
                return values.reshape(-1, self.n_values)
        return self.parsed[rows].reshape(-1, self.n_values)

    def last_row_by_key(self) -> dict[int, int]:
        return dict(zip(self.keys, range(len(self.keys))))


def load_scene_truth(scene_dir: str | Path) -> SceneTruth:
    """Read `poses.txt` and `intrinsics.txt` of a val scene and select the scored frames."""
    scene_dir = Path(scene_dir)
    poses, intrinsics = _Table(scene_dir / "poses.txt", 7), _Table(scene_dir / "intrinsics.txt", 6)
    frames = benchmark_frames(poses.names)
    keys = np.array([benchmark_key(f) for f in frames], dtype=np.int64)
    pose_row, k_row = poses.last_row_by_key(), intrinsics.last_row_by_key()
    missing_k = [f for f, k in zip(frames, keys) if int(k) not in k_row]
    if missing_k:
        raise DataFormatError(intrinsics.path, f"no intrinsics for {missing_k[0]}")
    rows = poses.values([pose_row[int(k)] for k in keys])
    zero = np.linalg.norm(rows[:, :4], axis=1) < 1e-8
    if np.any(zero):
        raise DataFormatError(poses.path, f"zero-norm quaternion for {frames[int(np.argmax(zero))]} "
                              "(hidden test poses cannot be evaluated)")
    k_values = intrinsics.values([k_row[int(k)] for k in keys] + [len(intrinsics.names) - 1])
    fx, fy, cx, cy = k_values[:-1, :4].astype(np.float32).T
    K = np.zeros((len(keys), 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = fx, fy, cx, cy, 1.0
    width, height = k_values[-1, 4:6]
    return SceneTruth(scene_dir.name, frames, keys, rows[:, :4], rows[:, 4:], K, float(width), float(height),
                      len(pose_row))
