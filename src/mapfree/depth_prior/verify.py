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
        lines.append("store complete" if self.complete else "store INCOMPLETE")
        return "\n".join(lines)


def _check(root: Path, split: str, meta: PriorMeta, ref: FrameRef) -> str | None:
    """None if the frame's file is right, 'missing', or what is wrong with it."""
    path = frame_file(root, split, ref.scene, ref.frame)
    if not path.exists():
        return "missing"
    return frame_problem(path, meta.patch_size, meta.image_size or ref.native_size, meta.dense, crc=True)


def verify_store(data_root: str | Path, split: str, root: str | Path, threads: int = 8) -> VerifyReport:
    """Read back every frame file a split needs; nothing is modified."""
    root = Path(root)
    meta = read_meta(root)
    frames = list_frames(data_root, split)
    report = VerifyReport(meta, len(frames))
    with ThreadPoolExecutor(threads) as pool:
        problems = pool.map(lambda ref: _check(root, split, meta, ref), frames)
        for ref, problem in zip(frames, problems):
            if problem is None:
                report.valid += 1
            elif problem == "missing":
                report.missing.append(ref.key)
            else:
                report.broken.append(problem)
    failures = read_failures(root, split)
    report.reasons = {k: failures[k] for k in report.missing if k in failures}
    split_dir = root / split
    report.stray = sorted(split_dir.glob(f"*/seq*/*{TMP_SUFFIX}")) if split_dir.is_dir() else []
    return report
