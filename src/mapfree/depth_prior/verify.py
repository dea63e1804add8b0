"""Check a store against the dataset: every frame present, readable, of the right shape and size."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mapfree.depth_prior.failures import read_failures
from mapfree.depth_prior.frames import FrameRef, list_frames
from mapfree.depth_prior.meta import PriorMeta, read_meta
from mapfree.depth_prior.store import TMP_SUFFIX, frame_file, frame_problem


@dataclass
class VerifyReport:
    meta: PriorMeta
    expected: int
    valid: int = 0
    missing: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    stray: list[Path] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    """Recorded failure of each missing frame, where a run logged one."""
    world_size: int = 1
    """Shards the store was computed in (frame i of the split is shard i mod N, as `Shard.select` deals them)."""
    shard_problems: dict[int, list[int]] = field(default_factory=dict)
    """{shard: [missing, broken]} for the shards with a problem."""

    @property
    def complete(self) -> bool:
        return not self.missing and not self.broken

    def summary(self, limit: int = 10) -> str:
        m = self.meta
        size = "native" if m.image_size is None else f"{m.image_size[0]}x{m.image_size[1]}"
        lines = [
            (f"teacher {m.teacher} ({m.weights or 'no weights'}), {m.quantity} [{m.units}], image size {size}, "
             f"patch {m.patch_size}, dense maps {'yes' if m.dense else 'no'}"),
            (f"{self.valid}/{self.expected} frames valid, {len(self.missing)} missing, {len(self.broken)} broken, "
             f"{len(self.stray)} leftover temporary files"),
        ]
        lines += [f"  missing {k}" + (f": {self.reasons[k]}" if k in self.reasons else "")
                  for k in self.missing[:limit]]
        lines += [f"  broken {b}" for b in self.broken[:limit]]
        if len(self.missing) > limit or len(self.broken) > limit:
            lines.append("  ...")
        if self.world_size > 1:
            lines += [f"  shard {shard} of {self.world_size}: {m} missing, {b} broken (rerun that shard to redo them)"
                      for shard, (m, b) in sorted(self.shard_problems.items())]
        lines.append("store complete" if self.complete else "store INCOMPLETE")
        return "\n".join(lines)


def _check(root: Path, split: str, meta: PriorMeta, ref: FrameRef) -> str | None:
    """None if the frame's file is right, 'missing', or what is wrong with it."""
    path = frame_file(root, split, ref.scene, ref.frame)
    if not path.exists():
        return "missing"
    return frame_problem(path, meta.patch_size, meta.image_size or ref.native_size, meta.dense, crc=True)


def verify_store(data_root: str | Path, split: str, root: str | Path, threads: int = 8,
                 world_size: int = 1) -> VerifyReport:
    """Read back every frame file a split needs; nothing is modified. `world_size`: the shards it was computed in,
    whose problems the summary counts one by one."""
    root = Path(root)
    meta = read_meta(root)
    frames = list_frames(data_root, split)
    report = VerifyReport(meta, len(frames), world_size=world_size)
    with ThreadPoolExecutor(threads) as pool:
        problems = pool.map(lambda ref: _check(root, split, meta, ref), frames)
        for index, (ref, problem) in enumerate(zip(frames, problems)):
            if problem is None:
                report.valid += 1
                continue
            if problem == "missing":
                report.missing.append(ref.key)
            else:
                report.broken.append(problem)
            report.shard_problems.setdefault(index % world_size, [0, 0])[problem != "missing"] += 1
    failures = read_failures(root, split)
    report.reasons = {k: failures[k] for k in report.missing if k in failures}
    split_dir = root / split
    report.stray = sorted(split_dir.glob(f"*/seq*/*{TMP_SUFFIX}")) if split_dir.is_dir() else []
    return report
