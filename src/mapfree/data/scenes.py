"""Scenes and pairs of a Map-free split, exactly as the benchmark defines them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.data.files import (
    Overlaps,
    check_same_frames,
    poses_by_frame,
    read_intrinsics,
    read_overlaps,
    read_poses,
    read_poses_table,
)
from mapfree.data.frames import frame_name, parse_frame_name
from mapfree.geometry.camera import Camera

SPLITS = ("train", "val", "test")
REFERENCE_FRAME = "seq0/frame_00000.jpg"
QUERY_STRIDE = 5
"""The benchmark evaluates every 5th query line of each val/test scene."""
SYNTH_MARKER = "synth.json"
"""The file `mapfree synth` writes at a dataset's root: first with `"complete": false`, rewritten with `true` and
the scene count of each split once every scene is written. Real Map-free datasets have none."""


def benchmark_key(frame: str) -> int:
    """The official evaluator's key of a frame: the 5 characters before `.jpg`, as an integer.

    The sequence is ignored, so `seq1/frame_00000.jpg` and `seq0/frame_00000.jpg` share a key.
    """
    return int(frame[-9:-4])


def benchmark_keys(frames: Sequence[str]) -> np.ndarray:
    """(N,) int64 :func:`benchmark_key` of Map-free frame names (checked ones: five digits before `.jpg`), in
    one NumPy pass over their digits."""
    digits = np.frombuffer("".join(frame[-9:-4] for frame in frames).encode("ascii"), np.uint8).reshape(-1, 5)
    return (digits.astype(np.int64) - ord("0")) @ np.array([10000, 1000, 100, 10, 1])


def benchmark_frames(frames: Iterable[str]) -> list[str]:
    """The frames the Map-free benchmark scores, given a scene's frame listing in file order.

    Like the official evaluator: frames are keyed by :func:`benchmark_key` (a later frame takes the
    earlier one's place, so `seq1/frame_00000.jpg` replaces the reference) and every 5th key is
    kept, counted by position in the listing, not by frame number (frame numbers can skip).
    A scene whose seq1 has no frame 0 thus has its reference as first scored frame.
    """
    slots: dict[int, str] = {}
    for frame in frames:
        slots[benchmark_key(frame)] = frame
    return list(slots.values())[::QUERY_STRIDE]


@dataclass(frozen=True)
class Pair:
    """Two frames of one scene; the pose is estimated for `frame1` relative to `frame0`."""

    scene: str
    frame0: str
    frame1: str
    overlap: float = float("nan")


@dataclass
class Scene:
    """One scene folder: `intrinsics.txt`, `poses.txt`, `seq*/frame_*.jpg` and, for train, `overlaps.npz`."""

    root: Path
    split: str
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.name = self.root.name

    @cached_property
    def intrinsics(self) -> dict[str, Camera]:
        """Each frame's native camera (NumPy, float64), in the order of `intrinsics.txt`."""
        return read_intrinsics(self.root / "intrinsics.txt")

    @cached_property
    def poses(self) -> dict[str, np.ndarray]:
        """World-to-camera poses; required for train and val, of exactly the frames `intrinsics.txt` lists
        (:func:`check_same_frames`); empty for the hidden test split."""
        path = self.root / "poses.txt"
        if self.split == "test":
            return read_poses(path, allow_zero=True) if path.is_file() else {}
        table = read_poses_table(path)
        check_same_frames(table, self.frames(), self.root / "intrinsics.txt")
        return poses_by_frame(table)

    @cached_property
    def overlaps(self) -> Overlaps:
        return read_overlaps(self.root / "overlaps.npz")

    def camera(self, frame: str) -> Camera:
        """The native camera of a frame; DataFormatError naming `intrinsics.txt` if it does not list the frame."""
        try:
            return self.intrinsics[frame]
        except KeyError:
            raise DataFormatError(self.root / "intrinsics.txt", f"no intrinsics for {frame}") from None

    def check_files(self) -> None:
        """Read and validate the text and overlap files the split needs; DataFormatError names the first bad one."""
        _ = self.intrinsics, self.poses
        if self.split == "train":
            self.train_pairs()

    def frames(self) -> list[str]:
        """Frame names in intrinsics order (the order of the dataset's own listing)."""
        return list(self.intrinsics)

    def queries(self) -> list[str]:
        """Every query frame (all of seq1), sorted by frame number."""
        return sorted(f for f in self.intrinsics if f != REFERENCE_FRAME and f.startswith("seq1/"))

    def benchmark_queries(self) -> list[str]:
        """The queries the benchmark evaluates (see :func:`benchmark_frames`), in listing order."""
        return benchmark_frames(self.frames())

    def image_path(self, frame: str) -> Path:
        return self.root / frame

    def depth_path(self, frame: str, suffix: str = "depth") -> Path:
        """`seqK/frame_NNNNN.{suffix}.png`, the Map-free naming of per-frame depth maps."""
        return self.root / frame.replace(".jpg", f".{suffix}.png")

    def relative_pose(self, frame0: str, frame1: str) -> np.ndarray:
        """4x4 transform from camera `frame0` to camera `frame1`."""
        try:
            T0, T1 = self.poses[frame0], self.poses[frame1]
        except KeyError as e:
            raise DataFormatError(self.root / "poses.txt", f"no pose for {e.args[0]}") from None
        return T1 @ np.linalg.inv(T0)

    def test_pairs(self) -> list[Pair]:
        """Reference vs every benchmark query (val/test protocol)."""
        return [Pair(self.name, REFERENCE_FRAME, q) for q in self.benchmark_queries()]

    def train_pairs(self, min_overlap: float = 0.0, max_overlap: float = 1.0) -> list[Pair]:
        """Pairs listed in overlaps.npz whose overlap lies in [min_overlap, max_overlap]."""
        ov = self.overlaps
        keep = (ov.overlaps >= min_overlap) & (ov.overlaps <= max_overlap)
        listed = {parse_frame_name(f) for f in self.intrinsics}
        for i, (a, fa, b, fb) in enumerate(ov.idxs.tolist()):
            if (a, fa) not in listed or (b, fb) not in listed:
                raise DataFormatError(self.root / "overlaps.npz", f"pair #{i} ({frame_name(a, fa)}, "
                                      f"{frame_name(b, fb)}) names a frame that intrinsics.txt does not list")
        return [
            Pair(self.name, frame_name(int(a), int(fa)), frame_name(int(b), int(fb)), float(o))
            for (a, fa, b, fb), o in zip(ov.idxs[keep], ov.overlaps[keep])
        ]


def list_scenes(data_root: str | Path, split: str) -> list[Scene]:
    """All scenes `s*` of a split folder, sorted by name."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    split_dir = Path(data_root) / split
    expected = synth_scene_count(Path(data_root), split)
    if not split_dir.is_dir():
        raise DataFormatError(split_dir, "split folder not found")
    scenes = [Scene(p, split) for p in sorted(split_dir.iterdir()) if p.is_dir() and p.name.startswith("s")]
    if expected is not None and len(scenes) < expected:  # more is fine: scenes added later (a study's test split)
        raise DataFormatError(Path(data_root) / SYNTH_MARKER,
                              f"partial dataset: {split} holds {len(scenes)} of {expected} scenes")
    return scenes


def frame_widths(data_root: str | Path, split: str) -> set[int]:
    """The widths, in pixels, of a split's frames as stored (from the intrinsics files; no image is read)."""
    return {camera.width for scene in list_scenes(data_root, split) for camera in scene.intrinsics.values()}


def synth_scene_count(data_root: Path, split: str) -> int | None:
    """The number of `split` scenes a synthetic dataset's :data:`SYNTH_MARKER` promises at least; DataFormatError naming
    the marker if `mapfree synth` did not finish (killed); None without marker (not a synthetic dataset)."""
    path = data_root / SYNTH_MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
        complete, expected = marker["complete"], marker["scenes"][split]
    except (ValueError, KeyError, TypeError) as e:
        raise DataFormatError(path, f"unreadable marker of a synthetic dataset ({e})") from None
    if complete is not True:
        raise DataFormatError(path, "partial dataset: `mapfree synth` did not finish (was it killed?); "
                              "generate it again with --overwrite")
    return expected


def split_pairs(
    data_root: str | Path, split: str, min_overlap: float = 0.0, max_overlap: float = 1.0
) -> list[Pair]:
    """Every pair of a split: overlap-filtered train pairs, or the benchmark's val/test pairs."""
    scenes = list_scenes(data_root, split)
    if split == "train":
        return [p for s in scenes for p in s.train_pairs(min_overlap, max_overlap)]
    return [p for s in scenes for p in s.test_pairs()]
