"""map-free-reloc's precomputed correspondences: `<scene>/correspondences_<NAME>.npz`.

The layout, as nianticlabs/map-free-reloc writes it (`etc/feature_matching_baselines/compute.py`,
`utils.stack_pts`) and reads it (`lib/models/matching/feature_matching.py`, `PrecomputedMatching`,
with `MATCHES_FILE_PATH: '{scene_root}/correspondences_SIFT.npz'` in `config/matching/mapfree/`):

- one file per val/test scene folder, named `correspondences_<NAME>.npz` (`SIFT`, `LoFTR`, `SG`, ...);
- one array, `correspondences`: float (Q, M, 4), row q = the q-th query frame of the scene (every frame
  of `seq1`, by frame number; the reference is always `seq0/frame_00000.jpg`), each of its M slots one
  correspondence `(x_ref, y_ref, x_query, y_query)`; pairs with fewer than M correspondences are padded
  with NaN, and a pair without any holds a single NaN slot;
- pixels of the frames at their native size (map-free-reloc matches at 540x720, the frames' size),
  pixel centres at integer coordinates (OpenCV keypoints).

NumPy only: the synthetic benchmark writes such files and the `npz:NAME` matcher reads them.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mapfree.atomic import atomic_path
from mapfree.data.errors import DataFormatError

KEY = "correspondences"
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
"""What a correspondence-set name (and an estimated-depth suffix) may hold: it becomes part of a file name."""


def correspondences_path(scene_root: str | Path, name: str) -> Path:
    """`scene_root/correspondences_<name>.npz`."""
    return Path(scene_root) / f"correspondences_{name}.npz"


def stack_correspondences(per_query: Sequence[np.ndarray]) -> np.ndarray:
    """(Q, M, 4) float64 from one (Mq, 4) array per query, NaN-padded; a pair without any gets one NaN slot."""
    width = max([1, *(len(c) for c in per_query)])
    out = np.full((len(per_query), width, 4), np.nan)
    for q, corr in enumerate(per_query):
        out[q, : len(corr)] = np.asarray(corr, np.float64).reshape(-1, 4)
    return out


def write_correspondences(path: str | Path, per_query: Sequence[np.ndarray]) -> Path:
    """Write a scene's correspondences (one (Mq, 4) array per query, in query order), atomically."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **{KEY: stack_correspondences(per_query)})
    return Path(path)


def read_correspondences(path: str | Path, queries: int) -> np.ndarray:
    """The (Q, M, 4) float64 array of a file made for a scene with `queries` query frames; DataFormatError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "correspondence file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            corr = z[KEY]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataFormatError(path, f"not a map-free-reloc correspondence file ({type(e).__name__}: {e})") from None
    if corr.ndim != 3 or corr.shape[2] != 4 or not np.issubdtype(corr.dtype, np.floating):
        raise DataFormatError(path, f"'{KEY}' is {corr.dtype} {corr.shape}, expected float (queries, M, 4)")
    if len(corr) != queries:
        raise DataFormatError(path, f"holds {len(corr)} query frames, the scene has {queries}")
    return corr.astype(np.float64)


def pair_correspondences(corr: np.ndarray, query: int) -> np.ndarray:
    """The (M, 4) correspondences of query row `query`, padding (any NaN) dropped."""
    rows = corr[query]
    return rows[np.isfinite(rows).all(axis=1)]
