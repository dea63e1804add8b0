"""A store's dense metric maps as Map-free-style depth PNGs: `frame_NNNNN.SUFFIX.png`, uint16 mm, 0 = unknown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mapfree.atomic import atomic_path
from mapfree.data.correspondences import NAME_RE
from mapfree.data.images import write_depth
from mapfree.depth_prior.frames import list_frames
from mapfree.depth_prior.meta import METRIC_DEPTH
from mapfree.depth_prior.store import MissingPriorError, PriorStore
from mapfree.errors import InputError


@dataclass(frozen=True)
class ExportReport:
    written: int
    missing: list[str]
    """Frames the store has no map for (their PNG is not written)."""

    def summary(self, suffix: str) -> str:
        return f"exported {self.written} .{suffix}.png depth maps" + (
            f", {len(self.missing)} frames without a prior (first: {self.missing[0]})" if self.missing else "")


def check_exportable(quantity: str, dense: bool, suffix: str) -> None:
    """InputError unless a store of `quantity` (with dense maps or not) can be exported under `suffix`."""
    if quantity != METRIC_DEPTH:
        raise InputError(f"--export-png needs metric depth; this teacher gives {quantity} (no scale: not millimetres)")
    if not dense:
        raise InputError("--export-png needs the full-resolution maps: add --dense")
    if not NAME_RE.match(suffix) or suffix == "depth":
        raise InputError(f"--export-png {suffix!r}: a suffix of letters, digits, '_', '.' or '-', not 'depth' "
                         "(the true depth maps)")


def export_png(data_root: str | Path, split: str, store_root: str | Path, suffix: str,
               export_root: str | Path | None = None) -> ExportReport:
    """Write every stored frame's dense map as `frame_NNNNN.{suffix}.png` at the frame's native size (nearest
    resize), beside the frame or at the same place under `export_root/split/`; atomically, one file at a time."""
    store = PriorStore(store_root, split)
    check_exportable(store.meta.quantity, store.meta.dense, suffix)
    written, missing = 0, []
    for ref in list_frames(data_root, split):
        try:
            dense = store.load_dense(ref.scene, ref.frame).astype(np.float32)
        except MissingPriorError:
            missing.append(ref.key)
            continue
        if dense.shape[::-1] != ref.native_size:
            dense = cv2.resize(dense, ref.native_size, interpolation=cv2.INTER_NEAREST)
        folder = ref.scene_root if export_root is None else Path(export_root) / split / ref.scene
        with atomic_path(folder / ref.frame.replace(".jpg", f".{suffix}.png")) as tmp:
            write_depth(tmp, dense)
        written += 1
    return ExportReport(written, missing)
