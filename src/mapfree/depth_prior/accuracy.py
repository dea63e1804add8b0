"""A teacher's own accuracy against true depth, on MicKey's patch grid (the targets it would give).

Both the teacher's map and the true depth are averaged to 14x14 patches (`patch_average`, as the
store does); each frame is compared on the patches where both are finite and the truth is
positive, with the standard monocular-depth metrics (`mapfree.evaluation.depth_metrics`):

- raw (metric teachers only): the teacher's metres as they are;
- median-scaled: each frame's prediction times median(truth) / median(prediction); a relative
  teacher's output is inverse depth, so its reciprocal is scaled (the unknown shift stays an error);
- affine (relative teachers only): per frame, the least-squares a * output + b fitted to the true
  inverse depth, then taken back to depth, capped at the frame's farthest true depth (the usual
  protocol of affine-invariant evaluation, as in Depth Anything's tables).

Figures are per-frame metrics averaged over frames (as the published tables average per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mapfree.data.images import read_depth
from mapfree.depth_prior.frames import FrameRef, list_frames
from mapfree.depth_prior.meta import METRIC_DEPTH
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.synthetic import true_depth_path
from mapfree.depth_prior.teacher import Teacher
from mapfree.evaluation.depth_metrics import DepthAccuracy, depth_accuracy

KINDS = ("raw", "median_scaled", "affine")
MIN_PATCHES = 2
"""Fewest comparable patches a frame needs (an affine fit has two unknowns)."""


def _suffix(kind: str) -> str:
    return "" if kind == "raw" else f"_{kind}"


def median_scaled(depth: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Depth times median(truth) / median(depth) over its positive entries (unchanged if none is positive)."""
    positive = depth > 0
    if not positive.any():
        return depth
    return depth * (np.median(truth[positive]) / np.median(depth[positive]))


def affine_aligned(output: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Depth from relative inverse depth by the least-squares affine fit to the true inverse depth, capped at
    the farthest true depth."""
    design = np.stack([output, np.ones_like(output)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, 1.0 / truth, rcond=None)
    inverse = np.maximum(a * output + b, 1.0 / truth.max())
    return 1.0 / inverse


def frame_accuracy(pred: np.ndarray, truth: np.ndarray, relative: bool) -> dict[str, DepthAccuracy | None]:
    """One frame's accuracy by kind ('raw', 'median_scaled', 'affine'); None where a kind does not apply
    (or the frame has fewer than `MIN_PATCHES` comparable patches)."""
    pred, truth = np.asarray(pred, np.float64).ravel(), np.asarray(truth, np.float64).ravel()
    valid = np.isfinite(pred) & np.isfinite(truth) & (truth > 0)
    if valid.sum() < MIN_PATCHES:
        return dict.fromkeys(KINDS)
    pred, truth = pred[valid], truth[valid]
    if not relative:
        return {"raw": depth_accuracy(pred, truth), "median_scaled": depth_accuracy(median_scaled(pred, truth), truth),
                "affine": None}
    with np.errstate(divide="ignore"):
        as_depth = np.where(pred > 0, 1.0 / pred, -1.0)  # a non-positive inverse depth is an error, kept as such
    return {"raw": None, "median_scaled": depth_accuracy(median_scaled(as_depth, truth), truth),
            "affine": depth_accuracy(affine_aligned(pred, truth), truth)}


def teacher_accuracy(pred_patches: Sequence[np.ndarray], true_patches: Sequence[np.ndarray],
                     relative: bool) -> dict[str, float | int | None]:
    """Accuracy of per-frame patch grids against true patch depths (metres), averaged over frames.

    Keys: `frames` (frames compared), `abs_rel` / `delta1` (raw; None for a relative teacher, which has
    no metric depth), `abs_rel_median_scaled` / `delta1_median_scaled`, `abs_rel_affine` /
    `delta1_affine` (None for a metric teacher). A value is None when no frame could be compared.
    """
    if len(pred_patches) != len(true_patches):
        raise ValueError(f"{len(pred_patches)} predicted frames but {len(true_patches)} true ones")
    per_frame = [frame_accuracy(p, t, relative) for p, t in zip(pred_patches, true_patches)]
    result: dict[str, float | int | None] = {"frames": sum(f["median_scaled"] is not None for f in per_frame)}
    for kind in KINDS:
        scored = [f[kind] for f in per_frame if f[kind] is not None]
        result[f"abs_rel{_suffix(kind)}"] = float(np.mean([s.abs_rel for s in scored])) if scored else None
        result[f"delta1{_suffix(kind)}"] = float(np.mean([s.delta1 for s in scored])) if scored else None
    return result


@torch.inference_mode()
def teacher_patches(teacher: Teacher, ref: FrameRef, size: tuple[int, int], min_valid_fraction: float = 0.5
                    ) -> np.ndarray:
    """(H // 14, W // 14) patch means of the teacher's map of one frame at `size` (width, height)."""
    maps = teacher.predict(torch.from_numpy(teacher.reader(ref, size))[None].to(teacher.device))
    return patch_average(maps.float().cpu(), min_valid_fraction)[0].numpy()


def read_true_depth(ref: FrameRef, size: tuple[int, int] | None, depth_root: str | Path | None) -> np.ndarray:
    """(H, W) true metres of a frame at `size` (None: native), beside it or under `depth_root` (NaN = none)."""
    return read_depth(true_depth_path(ref, depth_root), size or ref.native_size)


@torch.inference_mode()
def measure_teacher(teacher: Teacher, frames: Sequence[FrameRef], size: tuple[int, int] | None = None,
                    depth_root: str | Path | None = None, min_valid_fraction: float = 0.5
                    ) -> dict[str, float | int | None]:
    """`teacher_accuracy` of a teacher's patch targets on frames with true depth.

    `size` is the (width, height) the frames are resized to (None: each frame's native size); the true
    depth is `frame_NNNNN.depth.png` beside each frame, or under `depth_root` (Map-free layout).
    """
    preds = [teacher_patches(teacher, ref, size or ref.native_size, min_valid_fraction) for ref in frames]
    truths = [patch_average(torch.from_numpy(read_true_depth(ref, size, depth_root)), min_valid_fraction).numpy()
              for ref in frames]
    return teacher_accuracy(preds, truths, relative=teacher.quantity != METRIC_DEPTH)


def synthetic_calibration(data_root: str | Path, split: str = "train", size: tuple[int, int] | None = None,
                          seed: int = 0) -> dict[str, dict[str, float | int | None]]:
    """`measure_teacher` of every synthetic teacher (see `SYNTHETIC_TEACHERS`) on a split with rendered depth."""
    from mapfree.depth_prior.teachers import SYNTHETIC_TEACHERS, build_teacher

    frames = list_frames(data_root, split)
    return {name: measure_teacher(build_teacher(name, seed=seed), frames, size) for name in SYNTHETIC_TEACHERS}
