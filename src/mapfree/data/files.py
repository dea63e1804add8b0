"""Readers and writers for `intrinsics.txt`, `poses.txt` and `overlaps.npz`.

Readers validate every line: UTF-8, field count, finite numbers, frame names, non-zero quaternions,
unique frames, and at least one frame per file; they raise :class:`DataFormatError` naming file and
line. Lines starting with `#` and blank lines are ignored. The dataset, `summary` and the evaluator's
ground truth all read through :func:`read_intrinsics_table` and :func:`read_poses_table`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.data.frames import all_frame_names, parse_frame_name
from mapfree.geometry.camera import Camera, intrinsics_matrix, principal_point_outside
from mapfree.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix
from mapfree.geometry.transforms import compose_pose


def read_text(path: Path) -> str:
    """The text of a dataset file; DataFormatError naming the file (and line) if it is missing or not UTF-8."""
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataFormatError(path, f"byte 0x{data[e.start]:02x} is not UTF-8", line) from None


@dataclass(frozen=True)
class Table:
    """The data rows `frame v1 .. vn` of a dataset file and the line each row is on."""

    path: Path
    names: list[str]
    values: np.ndarray  # (N, n) float64, all finite
    lines: list[int]

    def check(self, bad: np.ndarray, message: str) -> None:
        """DataFormatError naming the line of the first row flagged in `bad` (N,)."""
        if np.any(bad):
            raise DataFormatError(self.path, message, self.lines[int(np.argmax(bad))])

    def check_unique(self) -> None:
        """DataFormatError naming the line of the first repeated frame name."""
        if len(set(self.names)) != len(self.names):
            first: dict[str, int] = {}
            self.check(np.array([first.setdefault(n, i) != i for i, n in enumerate(self.names)]), "duplicate frame")


def read_table(path: str | Path, n_values: int) -> Table:
    """Validated rows of a whitespace table: field count, frame names, finite numbers, at least one row.

    Names and numbers are checked in one pass over all rows; only a file that fails is searched
    for its first bad line, so reading the half a million lines of a split stays cheap.
    """
    path = Path(path)
    rows = [(lineno, fields) for lineno, raw in enumerate(read_text(path).splitlines(), start=1)
            if (fields := raw.split()) and not fields[0].startswith("#")]
    if not rows:
        raise DataFormatError(path, "no frames: the file is empty or holds only comments")
    for lineno, fields in rows:
        if len(fields) != n_values + 1:
            raise DataFormatError(path, f"expected {n_values + 1} fields, got {len(fields)}", lineno)
    names = [fields[0] for _, fields in rows]
    lines = [lineno for lineno, _ in rows]
    if not all_frame_names(names):
        for lineno, name in zip(lines, names):
            try:
                parse_frame_name(name)
            except ValueError as e:
                raise DataFormatError(path, str(e), lineno) from None
    try:
        values = np.array([float(v) for _, fields in rows for v in fields[1:]]).reshape(len(rows), n_values)
    except ValueError:
        lineno, fields = next((lineno, fields) for lineno, fields in rows if not _all_numbers(fields[1:]))
        raise DataFormatError(path, f"unparsable number in {fields[1:]}", lineno) from None
    table = Table(path, names, values, lines)
    table.check(~np.all(np.isfinite(values), axis=1), "non-finite value (NaN or Inf)")
    return table


def _all_numbers(fields: list[str]) -> bool:
    try:
        [float(v) for v in fields]
    except ValueError:
        return False
    return True


def read_intrinsics_table(path: str | Path) -> Table:
    """`frame fx fy cx cy width height` rows with positive focal lengths and sizes, frames unique."""
    table = read_table(path, 6)
    v = table.values
    size = v[:, 4:6]
    table.check((v[:, 0] <= 0) | (v[:, 1] <= 0) | np.any((size < 1) | (size != np.round(size)), axis=1),
                "focal lengths must be positive and image size positive integers")
    K = np.zeros((len(v), 3, 3))
    K[:, 0, 2], K[:, 1, 2] = v[:, 2], v[:, 3]
    outside = principal_point_outside(K, size)
    if np.any(outside):
        cx, cy, w, h = v[int(np.argmax(outside)), 2:6]
        table.check(outside, f"principal point ({cx:g}, {cy:g}) lies outside the {w:g}x{h:g} image")
    table.check_unique()
    return table


def check_same_frames(poses: Table, frames: list[str], intrinsics: Path) -> None:
    """DataFormatError naming `poses.txt` and the frames unless it lists exactly the `frames` of `intrinsics.txt`:
    a frame without a pose would shift which frames the benchmark scores (every 5th by position)."""
    posed, listed = set(poses.names), set(frames)
    missing = [n for n in frames if n not in posed]
    extra = [n for n in poses.names if n not in listed]
    if missing:
        raise DataFormatError(poses.path, f"no pose for {_listed(missing)}, which {intrinsics.name} lists")
    if extra:
        raise DataFormatError(poses.path, f"pose for {_listed(extra)}, which {intrinsics.name} does not list",
                              poses.lines[poses.names.index(extra[0])])


def _listed(frames: list[str], shown: int = 3) -> str:
    """'a, b, c and 4 more frames' (one line however many)."""
    more = f" and {len(frames) - shown} more frames" if len(frames) > shown else ""
    return ", ".join(frames[:shown]) + more


def read_intrinsics(path: str | Path) -> dict[str, Camera]:
    """`frame fx fy cx cy width height` lines to {frame: NumPy Camera}."""
    table = read_intrinsics_table(path)
    return {name: Camera.from_matrix(intrinsics_matrix(fx, fy, cx, cy), int(w), int(h))
            for name, (fx, fy, cx, cy, w, h) in zip(table.names, table.values)}


def write_intrinsics(path: str | Path, cameras: dict[str, Camera]) -> None:
    """Write {frame: Camera} (one camera each) in the Map-free format, frames sorted."""
    with open(path, "w", encoding="utf-8") as f:
        for name in sorted(cameras):
            camera = cameras[name]
            (fx, _, cx), (_, fy, cy) = camera.K[:2]
            f.write(f"{name} {fx:.6f} {fy:.6f} {cx:.6f} {cy:.6f} {camera.width} {camera.height}\n")


def read_poses_table(path: str | Path, allow_zero: bool = False) -> Table:
    """`frame qw qx qy qz tx ty tz` rows with non-zero quaternions, frames unique.

    With `allow_zero`, all-zero lines (the hidden test poses) are dropped instead of rejected.
    """
    table = read_table(path, 7)
    zero = np.linalg.norm(table.values[:, :4], axis=1) < 1e-8
    hidden = zero & np.all(table.values == 0, axis=1) if allow_zero else np.zeros_like(zero)
    table.check(zero & ~hidden, "zero-norm quaternion")
    table.check_unique()
    if not np.any(hidden):
        return table
    keep = np.flatnonzero(~hidden)
    return Table(table.path, [table.names[i] for i in keep], table.values[keep], [table.lines[i] for i in keep])


def read_poses(path: str | Path, allow_zero: bool = False) -> dict[str, np.ndarray]:
    """`frame qw qx qy qz tx ty tz` lines to {frame: 4x4 world-to-camera} (see :func:`read_poses_table`)."""
    return poses_by_frame(read_poses_table(path, allow_zero))


def poses_by_frame(table: Table) -> dict[str, np.ndarray]:
    """The rows of a poses table as {frame: 4x4 world-to-camera}."""
    return {name: compose_pose(quaternion_to_matrix(v[:4]), v[4:]) for name, v in zip(table.names, table.values)}


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
        archive = np.load(path)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with archive:
            idxs, overlaps = np.asarray(archive["idxs"]), np.asarray(archive["overlaps"], dtype=np.float64)
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
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
