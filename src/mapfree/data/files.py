"""Readers and writers for `intrinsics.txt`, `poses.txt` and `overlaps.npz`.

Readers validate every line: field count, finite numbers, frame names, non-zero quaternions,
and raise :class:`DataFormatError` naming file and line. Lines starting with `#` and blank
lines are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.data.frames import parse_frame_name
from mapfree.geometry.camera import intrinsics_matrix
from mapfree.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix
from mapfree.geometry.transforms import compose_pose


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of one frame and the image size they refer to."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def K(self) -> np.ndarray:
        return intrinsics_matrix(self.fx, self.fy, self.cx, self.cy)


def _records(path: Path, n_fields: int) -> Iterator[tuple[int, str, np.ndarray]]:
    """(line number, frame name, float values) for each data line of a whitespace table."""
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) != n_fields + 1:
                raise DataFormatError(path, f"expected {n_fields + 1} fields, got {len(fields)}", lineno)
            try:
                parse_frame_name(fields[0])
            except ValueError as e:
                raise DataFormatError(path, str(e), lineno) from None
            try:
                values = np.array([float(v) for v in fields[1:]])
            except ValueError:
                raise DataFormatError(path, f"unparsable number in {fields[1:]}", lineno) from None
            if not np.all(np.isfinite(values)):
                raise DataFormatError(path, "non-finite value (NaN or Inf)", lineno)
            yield lineno, fields[0], values


def read_intrinsics(path: str | Path) -> dict[str, Intrinsics]:
    """`frame fx fy cx cy width height` lines to {frame: Intrinsics}."""
    path = Path(path)
    result: dict[str, Intrinsics] = {}
    for lineno, name, v in _records(path, 6):
        if v[0] <= 0 or v[1] <= 0 or v[4] < 1 or v[5] < 1 or v[4] != int(v[4]) or v[5] != int(v[5]):
            raise DataFormatError(path, "focal lengths must be positive and image size positive integers", lineno)
        if name in result:
            raise DataFormatError(path, f"duplicate frame {name}", lineno)
        result[name] = Intrinsics(v[0], v[1], v[2], v[3], int(v[4]), int(v[5]))
    return result


def write_intrinsics(path: str | Path, intrinsics: dict[str, Intrinsics]) -> None:
    """Write {frame: Intrinsics} in the Map-free format, frames sorted."""
    with open(path, "w", encoding="utf-8") as f:
        for name in sorted(intrinsics):
            k = intrinsics[name]
            f.write(f"{name} {k.fx:.6f} {k.fy:.6f} {k.cx:.6f} {k.cy:.6f} {k.width} {k.height}\n")


def read_poses(path: str | Path, allow_zero: bool = False) -> dict[str, np.ndarray]:
    """`frame qw qx qy qz tx ty tz` lines to {frame: 4x4 world-to-camera}.

    With `allow_zero`, all-zero lines (the hidden test poses) are omitted instead of rejected.
    """
    path = Path(path)
    result: dict[str, np.ndarray] = {}
    for lineno, name, v in _records(path, 7):
        if np.linalg.norm(v[:4]) < 1e-8:
            if allow_zero and not np.any(v):
                continue
            raise DataFormatError(path, "zero-norm quaternion", lineno)
        if name in result:
            raise DataFormatError(path, f"duplicate frame {name}", lineno)
        result[name] = compose_pose(quaternion_to_matrix(v[:4]), v[4:])
    return result


def write_poses(path: str | Path, poses: dict[str, np.ndarray | None]) -> None:
    """Write {frame: 4x4 world-to-camera} in the Map-free format; None writes the hidden all-zero line."""
    with open(path, "w", encoding="utf-8") as f:
        for name in sorted(poses):
            T = poses[name]
            if T is None:
                values = np.zeros(7)
            else:
                values = np.concatenate([matrix_to_quaternion(T[:3, :3]), T[:3, 3]])
            f.write(name + " " + " ".join(f"{x:.9f}" for x in values) + "\n")


@dataclass(frozen=True)
class Overlaps:
    """Co-visibility of frame pairs: `idxs` (N, 4) = seqA, frameA, seqB, frameB and `overlaps` (N,)."""

    idxs: np.ndarray
    overlaps: np.ndarray


def read_overlaps(path: str | Path) -> Overlaps:
    """Load and validate `overlaps.npz`."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    try:
        with np.load(path) as z:
            idxs, overlaps = np.asarray(z["idxs"]), np.asarray(z["overlaps"], dtype=np.float64)
    except (KeyError, ValueError, OSError) as e:
        raise DataFormatError(path, f"not a valid overlaps file ({e})") from None
    if idxs.ndim != 2 or idxs.shape[1] != 4 or len(idxs) != len(overlaps):
        raise DataFormatError(path, f"idxs must be (N, 4) and overlaps (N,), got {idxs.shape} and {overlaps.shape}")
    bad = ~np.isfinite(overlaps) | (overlaps < 0) | (overlaps > 1)
    if np.any(bad):
        raise DataFormatError(path, f"overlap #{int(np.argmax(bad))} is outside [0, 1]")
    return Overlaps(idxs.astype(np.int64), overlaps)


def write_overlaps(path: str | Path, overlaps: Overlaps) -> None:
    """Save in the Map-free `overlaps.npz` layout."""
    np.savez(path, idxs=overlaps.idxs.astype(np.int64), overlaps=overlaps.overlaps.astype(np.float64))
