"""`npz:NAME`: map-free-reloc's precomputed correspondences (`correspondences_NAME.npz`) as a matcher."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mapfree.baselines.depth_sources import image_size, rescale
from mapfree.baselines.matches import Matches, to_numpy
from mapfree.data.correspondences import correspondences_path, pair_correspondences, read_correspondences
from mapfree.data.items import view
from mapfree.data.scenes import REFERENCE_FRAME, Scene
from mapfree.errors import InputError


class PrecomputedMatcher:
    """Reads the pair's row of its scene's `correspondences_NAME.npz` (layout: :mod:`mapfree.data.correspondences`).

    The file's pixels are those of the native frames; they are moved to the item's images (which
    may be resized) with the pixel-centre rule x' = s (x + 0.5) - 0.5. Only reference-to-query pairs
    (the benchmark's) have rows. Scores are all 1: the format stores none. One scene's file is kept
    loaded at a time (pairs come scene by scene).
    """

    def __init__(self, name: str):
        self.name = f"npz:{name}"
        self.file_name = name
        self._scene: Path | None = None
        self._queries: dict[str, int] = {}
        self._corr = np.zeros((0, 1, 4))

    def _load(self, scene_root: Path) -> None:
        if scene_root != self._scene:
            queries = Scene(scene_root, "val").queries()
            self._corr = read_correspondences(correspondences_path(scene_root, self.file_name), len(queries))
            self._queries = {frame: row for row, frame in enumerate(queries)}
            self._scene = scene_root

    def __call__(self, item: Mapping[str, Any]) -> Matches:
        ref, query = view(item, 0), view(item, 1)
        if ref["frame"] != REFERENCE_FRAME:
            raise InputError(f"{self.name}: precomputed correspondences pair {REFERENCE_FRAME} with each query, "
                             f"not {ref['frame']}")
        self._load(Path(query["path"]).parent.parent)
        corr = pair_correspondences(self._corr, self._queries[query["frame"]])
        kpts = [rescale(corr[:, 2 * side : 2 * side + 2], native_size(item, side), image_size(item, side))
                for side in (0, 1)]
        return Matches.create(*kpts)


def native_size(item: Mapping[str, Any], side: int) -> tuple[int, int]:
    """(width, height) of the frame's native image (`camera_full`), the pixels of map-free-reloc's files."""
    width, height = to_numpy(view(item, side)["camera_full"].size).reshape(2)
    return int(width), int(height)
