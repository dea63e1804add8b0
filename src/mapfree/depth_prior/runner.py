"""Compute a split's targets: skip stored frames whose files pass a cheap check (recompute broken ones),
read in loader workers, predict in batches on the device, average to the patch grid, write atomically
in background threads, log failures."""

from __future__ import annotations

import os
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from mapfree import logs
from mapfree.atomic import path_inside
from mapfree.depth_prior.failures import FailureLog, failures_path
from mapfree.depth_prior.frames import FrameRef, Shard, list_frames
from mapfree.depth_prior.meta import RELATIVE_INVERSE_DEPTH, SEED_8BIT_RELATIVE, PriorMeta, ensure_meta
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.store import frame_file, frame_problem, leftover_files, write_frame
from mapfree.depth_prior.teacher import Reader, Teacher
from mapfree.errors import InputError


@dataclass
class RunReport:
    """What one rank did."""

    shard: Shard
    assigned: int
    skipped: int
    written: int
    failures: list[dict[str, str]]
    failures_file: Path
    seconds: float
    broken: dict[str, str]
    """Frames whose stored file failed its check and was recomputed: key -> what was wrong."""
    repaired: int
    """How many of those were written anew."""

    def summary(self) -> str:
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        repairs = f"{len(self.broken)} stored but broken ({self.repaired} repaired), " if self.broken else ""
        text = (
            f"rank {self.shard.rank}/{self.shard.world_size}: {self.assigned} frames, {self.skipped} already stored, "
            f"{repairs}{self.written} written ({rate:.1f} frames/s), {len(self.failures)} failed"
        )
        if self.failures:
            shown = "\n".join(f"  {r['scene']}/{r['frame']}: {r['error']}" for r in self.failures[:10])
            more = f"\n  ... {len(self.failures) - 10} more" if len(self.failures) > 10 else ""
            text += f" (listed in {self.failures_file}):\n{shown}{more}"
        return text + "".join(f"\n  recomputed {why}" for why in list(self.broken.values())[:10])


class _FrameInputs(Dataset):
    """(index, reader output or None, error or None): a bad frame is reported, not raised."""

    def __init__(self, frames: list[FrameRef], reader: Reader, size: tuple[int, int] | None):
        self.frames, self.reader, self.size = frames, reader, size

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None, str | None]:
        ref = self.frames[index]
        try:
            return index, self.reader(ref, self.size or ref.native_size), None
        except (OSError, ValueError) as e:  # DataFormatError is a ValueError
            return index, None, str(e)


def _collate(
    items: list[tuple[int, np.ndarray | None, str | None]]
) -> tuple[list[tuple[list[int], torch.Tensor]], list[tuple[int, str]]]:
    """In the worker: stack the good frames into one tensor per image size (the loader then pins
    it for an asynchronous copy to the GPU) and keep the errors of the bad ones."""
    groups: dict[tuple, list[tuple[int, np.ndarray]]] = defaultdict(list)
    errors = []
    for index, array, error in items:
        if error is None:
            groups[array.shape].append((index, array))
        else:
            errors.append((index, error))
    stacked = [([i for i, _ in g], torch.from_numpy(np.stack([a for _, a in g]))) for g in groups.values()]
    return stacked, errors


def _init_worker(_: int) -> None:
    """One thread per loader process: the processes are the parallelism."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


@dataclass(frozen=True)
class Pending:
    """The frames a run computes: those without a file, and those whose stored file fails its check."""

    frames: list[FrameRef]
    broken: dict[str, str]  # frame key -> what is wrong with its stored file


def pending_frames(frames: list[FrameRef], root: Path, split: str, meta: PriorMeta, threads: int = 8) -> Pending:
    """Frames without a valid stored file (see :func:`frame_problem`); removes temporary files that killed
    runs left for these frames."""
    scenes = {ref.scene for ref in frames}
    mine = {frame_file(root, split, ref.scene, ref.frame).name for ref in frames}
    for scene in scenes:
        scene_dir = root / split / scene
        for tmp in leftover_files(scene_dir) if scene_dir.is_dir() else []:
            if tmp.name.split(".npz.")[0] + ".npz" in mine:
                tmp.unlink(missing_ok=True)

    def problem(ref: FrameRef) -> str | None:
        path = frame_file(root, split, ref.scene, ref.frame)
        if not os.path.lexists(path):
            return "missing"
        return frame_problem(path, meta.patch_size, meta.image_size or ref.native_size, meta.dense)

    with ThreadPoolExecutor(threads) as pool:
        problems = list(pool.map(problem, frames))
    return Pending([ref for ref, why in zip(frames, problems) if why is not None],
                   {ref.key: why for ref, why in zip(frames, problems) if why not in (None, "missing")})


def check_folders_inside(root: Path, split: str, frames: list[FrameRef], shard: Shard) -> None:
    """UnsafeOutputError before any work when a folder that a run writes into (a frame's, the failure log's)
    leaves the store, through a symbolic link placed inside it."""
    folders = {frame_file(root, split, ref.scene, ref.frame).parent for ref in frames}
    for folder in sorted(folders | {failures_path(root, split, shard).parent}):
        path_inside(root, folder.relative_to(root), "depth-prior folder")


def compute_store(
    data_root: str | Path,
    split: str,
    out: str | Path,
    teacher: Teacher,
    resize: tuple[int, int] | None = None,
    batch_size: int = 16,
    workers: int = 4,
    dense: bool = False,
    shard: Shard | None = None,
    progress: bool = True,
    min_valid_fraction: float = 0.5,
    encoding: str | None = None,
) -> RunReport:
    """Fill this rank's share of `out` for a split; frames already stored are skipped.

    `encoding` (see `ENCODINGS`, relative teachers only) turns each dense map into another target
    before patch averaging; the store's quantity says which.
    """
    start = time.perf_counter()
    out, shard = Path(out), shard or Shard()
    meta = PriorMeta(teacher.name, encoded_quantity(teacher, encoding), teacher.weights, resize,
                     min_valid_fraction=min_valid_fraction, dense=dense, teacher_config=teacher.config())
    ensure_meta(out, meta)
    assigned = shard.select(list_frames(data_root, split))
    check_folders_inside(out, split, assigned, shard)
    pending = pending_frames(assigned, out, split, meta)
    todo = pending.frames
    log = FailureLog(failures_path(out, split, shard))
    loader = DataLoader(
        _FrameInputs(todo, teacher.reader, resize), batch_size=batch_size, num_workers=workers,
        collate_fn=_collate, pin_memory=teacher.device.type == "cuda", worker_init_fn=_init_worker,
    )
    writes: deque[tuple[FrameRef, Future]] = deque()
    written = repaired = 0

    def settle(limit: int) -> None:
        nonlocal written, repaired
        while len(writes) > limit:
            ref, future = writes.popleft()
            try:
                future.result()
                written += 1
                repaired += ref.key in pending.broken
            except OSError as e:
                log.add(ref, f"write failed: {e}")

    bar = tqdm(total=len(todo), unit="frame", desc=f"depth-prior {split} [{teacher.name}]",
               disable=not logs.progress(progress), dynamic_ncols=True)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for groups, errors in loader:
                for index, error in errors:
                    log.add(todo[index], error)
                for indices, stacked in groups:
                    size = (stacked.shape[2], stacked.shape[1])  # (width, height) of the maps
                    results = _targets(teacher, stacked, dense, min_valid_fraction, encoding)
                    for index, result in zip(indices, results):
                        ref = todo[index]
                        if isinstance(result, str):
                            log.add(ref, result)
                            continue
                        path = frame_file(out, split, ref.scene, ref.frame)
                        writes.append((ref, pool.submit(write_frame, path, result[0], size, result[1])))
                settle(limit=4 * batch_size)
                bar.update(len(errors) + sum(len(indices) for indices, _ in groups))
                bar.set_postfix(failed=len(log.records), refresh=False)
            settle(limit=0)
    finally:
        bar.close()
    return RunReport(shard, len(assigned), len(assigned) - len(todo), written, log.records, log.path,
                     time.perf_counter() - start, pending.broken, repaired)


def encoded_quantity(teacher: Teacher, encoding: str | None) -> str:
    """What a store of `teacher`'s maps under `encoding` holds; InputError for an encoding that does not apply."""
    if encoding is None:
        return teacher.quantity
    if encoding not in ENCODINGS:
        raise InputError(f"unknown encoding {encoding!r}; choose one of {sorted(ENCODINGS)}")
    if teacher.quantity != RELATIVE_INVERSE_DEPTH:
        raise InputError(f"encoding {encoding!r} is for relative teachers; the {teacher.name} teacher gives "
                         f"{teacher.quantity}")
    return ENCODINGS[encoding][0]


def seed_8bit(maps: torch.Tensor) -> torch.Tensor:
    """(B, H, W) relative maps as the seed's targets: per frame (x - min) / (max - min) * 255 truncated to an
    integer (what saving an 8-bit grayscale PNG of Depth Anything's output does), divided by 255 (what the
    seed's loader compared with metric depth). A constant map has no range: NaN."""
    maps = maps.float()
    low = maps.flatten(1).amin(1)[:, None, None]
    high = maps.flatten(1).amax(1)[:, None, None]
    levels = torch.floor((maps - low) / (high - low) * 255.0)
    return levels / 255.0


ENCODINGS: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    "seed-8bit": (SEED_8BIT_RELATIVE, seed_8bit),
}
"""Encodings of a relative teacher's dense maps before patch averaging: name -> (store quantity, encoder)."""


def _targets(
    teacher: Teacher, stacked: torch.Tensor, dense: bool, min_valid_fraction: float, encoding: str | None = None
) -> list[tuple[np.ndarray, np.ndarray | None] | str]:
    """Per frame of a batch: (grid, dense map or None), or the reason it has no target."""
    batch = stacked.to(teacher.device, non_blocking=True)
    try:
        maps = teacher.predict(batch)
    except (RuntimeError, ValueError) as e:  # CUDA out of memory is a RuntimeError
        return [f"{teacher.name} failed on this batch: {e}"] * len(stacked)
    broken = (~torch.isfinite(maps)).flatten(1).any(1).cpu().numpy()  # teachers never mask (see `Teacher`)
    if encoding is not None:
        maps = ENCODINGS[encoding][1](maps)
    grids = patch_average(maps, min_valid_fraction).cpu().numpy()
    maps_np = maps.half().cpu().numpy() if dense else None
    results: list[tuple[np.ndarray, np.ndarray | None] | str] = []
    for i, grid in enumerate(grids):
        if broken[i]:
            results.append(f"{teacher.name} predicted non-finite values")
        elif not np.isfinite(grid).any():
            results.append("no patch has enough valid depth" if encoding is None
                           else f"no {encoding} target: the map is constant (no range to normalise)")
        else:
            results.append((grid, maps_np[i] if dense else None))
    return results
