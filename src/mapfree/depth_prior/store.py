"""The on-disk store of per-frame patch targets: atomic writes and the reader the trainer uses."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapfree.depth_prior.meta import PriorMeta, read_meta
from mapfree.errors import InputError, UserError

FRAME_SUFFIX = ".npz"
TMP_SUFFIX = ".tmp"


class MissingPriorError(UserError, LookupError):
    """No target is stored for a frame (never computed, or its computation failed)."""


def frame_file(root: Path, split: str, scene: str, frame: str) -> Path:
    """`root/split/scene/seqK/frame_NNNNN.npz` for dataset frame `seqK/frame_NNNNN.jpg`."""
    return root / split / scene / (frame.removesuffix(".jpg") + FRAME_SUFFIX)


def write_frame(path: Path, grid: np.ndarray, image_size: tuple[int, int], dense: np.ndarray | None = None) -> None:
    """Write one frame's targets under a temporary name, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"grid": np.asarray(grid, np.float32), "image_size": np.asarray(image_size, np.int32)}
    if dense is not None:
        arrays["dense"] = np.asarray(dense, np.float16)
    tmp = path.with_name(f"{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def stored_frames(scene_dir: Path) -> set[str]:
    """Frame names (`seqK/frame_NNNNN.jpg`) with a stored file under a scene folder (one listing, no reads)."""
    return {f"{seq_dir.name}/{e.name.removesuffix(FRAME_SUFFIX)}.jpg" for seq_dir in scene_dir.glob("seq*")
            for e in os.scandir(seq_dir) if e.name.endswith(FRAME_SUFFIX) and e.is_file()}


def leftover_files(scene_dir: Path) -> list[Path]:
    """Temporary files that killed runs left under a scene folder."""
    return [Path(e.path) for seq_dir in scene_dir.glob("seq*") for e in os.scandir(seq_dir)
            if e.name.endswith(TMP_SUFFIX)]


@dataclass(frozen=True)
class PatchPrior:
    """One frame's targets: `values` (rows, cols) float32, row-major like MicKey's patches, NaN = no target."""

    values: np.ndarray
    image_size: tuple[int, int]
    meta: PriorMeta

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.values)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.values.shape

    @property
    def quantity(self) -> str:
        return self.meta.quantity


def read_frame(path: Path, patch_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(grid, image size) of a frame file, checked; ValueError naming the file if it is malformed."""
    try:
        with np.load(path) as z:
            grid, size = z["grid"], tuple(int(v) for v in z["image_size"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"{path}: unreadable depth-prior file ({type(e).__name__}: {e})") from None
    expected = (size[1] // patch_size, size[0] // patch_size)
    if grid.dtype != np.float32 or grid.shape != expected:
        raise InputError(f"{path}: grid is {grid.dtype} {grid.shape}, "
                         f"expected float32 {expected} for {size[0]}x{size[1]}")
    if np.isinf(grid).any():
        raise InputError(f"{path}: grid holds infinite values")
    return grid, size


def _dense_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape of the stored dense map, from its .npy header; ValueError if its bytes do not add up."""
    with zipfile.ZipFile(path) as zf:
        if "dense.npy" not in zf.namelist():
            raise ValueError(f"{path}: no dense map stored")
        info = zf.getinfo("dense.npy")
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            if info.file_size != f.tell() + int(np.prod(shape)) * dtype.itemsize:
                raise ValueError(f"{path}: dense map of {info.file_size} bytes does not hold {dtype} {shape}")
    return dtype, shape


def frame_problem(path: Path, patch_size: int, image_size: tuple[int, int], dense: bool,
                  crc: bool = False) -> str | None:
    """None if the existing `path` is a frame file with the targets of an `image_size` image, else what is
    wrong with it (naming it).

    Cheap enough for every stored frame of a re-run: the grid is decoded, the dense map only has its
    header and byte count checked; `crc` also reads every member through its CRC check.
    """
    if not path.is_file():
        return f"{path}: not a file"
    if path.stat().st_size == 0:
        return f"{path}: empty file"
    try:
        grid, size = read_frame(path, patch_size)
        if size != tuple(image_size):
            return f"{path}: made for {size[0]}x{size[1]} images, expected {image_size[0]}x{image_size[1]}"
        if not np.isfinite(grid).any():
            return f"{path}: no valid patch"
        if dense:
            dtype, shape = _dense_header(path)
            if dtype != np.float16 or shape != (size[1], size[0]):
                return f"{path}: dense map is {dtype} {shape}, expected float16 {(size[1], size[0])}"
        if crc:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
            if bad is not None:
                return f"{path}: {bad} fails its CRC check"
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        return str(e) if str(e).startswith(str(path)) else f"{path}: {type(e).__name__}: {e}"
    return None


class PriorStore:
    """Read access to one split of a store: `PriorStore(out, "train").load("s00000", "seq0/frame_00000.jpg")`."""

    def __init__(self, root: str | Path, split: str):
        self.root = Path(root)
        self.split = split
        self.meta = read_meta(self.root)

    def path(self, scene: str, frame: str) -> Path:
        return frame_file(self.root, self.split, scene, frame)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return self.path(*key).is_file()

    def load(self, scene: str, frame: str) -> PatchPrior:
        """The frame's patch targets; MissingPriorError if the store has none for it."""
        path = self.path(scene, frame)
        if not path.is_file():
            raise MissingPriorError(
                f"{path}: no depth prior for {self.split}/{scene}/{frame} "
                f"(run `mapfree depth-prior` for this split, see {self.root / 'failures'})"
            )
        grid, size = read_frame(path, self.meta.patch_size)
        return PatchPrior(grid, size, self.meta)

    def get(self, scene: str, frame: str) -> PatchPrior | None:
        """Like :meth:`load` but None for a missing frame, for callers that mask such frames out."""
        try:
            return self.load(scene, frame)
        except MissingPriorError:
            return None

    def load_dense(self, scene: str, frame: str) -> np.ndarray:
        """The full-resolution float16 map; LookupError if the store holds no dense maps."""
        path = self.path(scene, frame)
        if not path.is_file():
            raise MissingPriorError(f"{path}: no depth prior for {self.split}/{scene}/{frame}")
        with np.load(path) as z:
            if "dense" not in z.files:
                raise MissingPriorError(f"{path}: no dense map stored (the store was made without --dense)")
            return z["dense"]
