"""The frames of a split in a fixed order, and their disjoint shares across launcher ranks."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mapfree.data.scenes import list_scenes
from mapfree.errors import InputError

T = TypeVar("T")


@dataclass(frozen=True)
class FrameRef:
    """One dataset frame: scene name and folder, frame name, native (width, height) from intrinsics."""

    scene: str
    scene_root: Path
    frame: str
    native_size: tuple[int, int]

    @property
    def image_path(self) -> Path:
        return self.scene_root / self.frame

    @property
    def depth_path(self) -> Path:
        return self.scene_root / self.frame.replace(".jpg", ".depth.png")

    @property
    def key(self) -> str:
        return f"{self.scene}/{self.frame}"


def list_frames(data_root: str | Path, split: str) -> list[FrameRef]:
    """Every frame of a split, scenes and frames sorted by name: the same list on every rank."""
    return [
        FrameRef(scene.name, scene.root, frame, (camera.width, camera.height))
        for scene in list_scenes(data_root, split)
        for frame, camera in sorted(scene.intrinsics.items())
    ]


@dataclass(frozen=True)
class Shard:
    """This process's share of the work: every `world_size`-th frame starting at `rank`."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise InputError(f"need 0 <= rank < world_size, got rank {self.rank} of {self.world_size}")

    def select(self, items: Sequence[T]) -> list[T]:
        return list(items[self.rank :: self.world_size])

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Shard:
        """Rank and world size of an initialised process group (Lightning), of torchrun (`RANK`,
        `WORLD_SIZE`), of a Slurm job array (:meth:`from_slurm_array`) or a Slurm step (`SLURM_PROCID`,
        `SLURM_NTASKS`); a single shard otherwise."""
        dist = sys.modules.get("torch.distributed")
        if dist is not None and dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        if "RANK" in env and "WORLD_SIZE" in env:
            return cls(int(env["RANK"]), int(env["WORLD_SIZE"]))
        if "SLURM_ARRAY_TASK_ID" in env:
            return cls.from_slurm_array(env)
        if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
            return cls(int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]))
        return cls()

    @classmethod
    def from_slurm_array(cls, env: Mapping[str, str]) -> Shard:
        """Task `SLURM_PROCID` of array task `SLURM_ARRAY_TASK_ID`: shard `index * tasks + procid` of
        `SLURM_ARRAY_TASK_COUNT * tasks`, `index` counted from the array's first task. The array must be a
        contiguous range (`--array=0-7`, `--array=0-63%8`), so that its tasks cover every shard."""
        step = int(env.get("SLURM_ARRAY_TASK_STEP", "1"))
        index = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        count = int(env.get("SLURM_ARRAY_TASK_COUNT", "1"))
        if step != 1 or not 0 <= index < count:
            raise InputError(f"Slurm array task {env['SLURM_ARRAY_TASK_ID']} of {count} (step {step}): shard the "
                             "frames with a contiguous array, e.g. --array=0-7")
        tasks, procid = int(env.get("SLURM_NTASKS", "1")), int(env.get("SLURM_PROCID", "0"))
        return cls(index * tasks + procid, count * tasks)
