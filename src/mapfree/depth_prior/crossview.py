"""Whether a teacher's errors repeat when the same place is seen again: the cross-view error correlation.

A network's errors follow what the image shows, so a surface misread in one view is misread the same way
in the next; errors drawn per frame average out over the views of a scene instead. The diagnostic: for
pairs of views of a scene, every patch centre of view A is moved into view B with the true depth, the
relative pose and the intrinsics (`mapfree.geometry.reprojection.reprojected_patch_targets`, which keeps
only points in B's image, in front of it and within `rel_tol` of B's true depth there, i.e. not
occluded); the figure is the Pearson correlation, pooled over all such points, between the teacher's log
depth error at the point's patch in A and at its patch in B.

Each frame's log error is log(teacher depth / true depth) on its patch grid after the frame's own
alignment, so a per-frame scale does not dominate: median scaling for a metric teacher, the affine fit
in inverse depth of `mapfree.depth_prior.accuracy` for a relative one (whose unknown shift is no error
of the place). Patches without finite truth (sky) are not scored.

Cost: the teacher runs once per frame; at most `frames_per_scene` frames per scene are used (evenly
spaced in the scene's listing, which starts with the reference frame) and every pair of them is matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from mapfree.data.scenes import Scene
from mapfree.depth_prior.accuracy import affine_aligned, median_scaled, read_true_depth, teacher_patches
from mapfree.depth_prior.frames import FrameRef
from mapfree.depth_prior.meta import METRIC_DEPTH
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.teacher import Teacher
from mapfree.geometry.camera import Camera
from mapfree.geometry.reprojection import reprojected_patch_targets
from mapfree.models.mickey import PATCH_SIZE

FRAMES_PER_SCENE = 6
"""Default frames per scene (15 pairs): enough points for a stable figure at a few seconds per scene."""


@dataclass(frozen=True)
class CrossViewCorrelation:
    """The pooled correlation (None with fewer than 3 matched points) and what it was computed over."""

    correlation: float | None
    points: int
    pairs: int


def log_errors(pred: np.ndarray, truth: np.ndarray, relative: bool) -> np.ndarray:
    """(h, w) log(aligned teacher depth / true depth) of one frame's patch grids; NaN where not comparable."""
    out = np.full(truth.shape, np.nan)
    valid = np.isfinite(pred) & np.isfinite(truth) & (truth > 0)
    if relative:
        valid &= pred > 0
    if valid.sum() < 2:
        return out
    p, t = pred[valid].astype(np.float64), truth[valid].astype(np.float64)
    depth = affine_aligned(p, t) if relative else median_scaled(p, t)
    out[valid] = np.log(depth / t)
    return out


def matched_patches(truth_a: np.ndarray, truth_b: np.ndarray, camera_a: Camera, camera_b: Camera,
                    T_ab: np.ndarray, rel_tol: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(indices in A, indices in B) of the row-major patches of A whose centre is seen unoccluded in B
    (true depth maps and NumPy cameras of both frames at one resolution)."""
    h, w = truth_a.shape[0] // PATCH_SIZE, truth_a.shape[1] // PATCH_SIZE

    def batch(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(x, np.float64))[None]

    cameras = [Camera(batch(camera.K), batch(camera.size)) for camera in (camera_a, camera_b)]
    target, visible = reprojected_patch_targets(batch(truth_a), batch(truth_b), *cameras,
                                                batch(T_ab), (h, w), PATCH_SIZE, rel_tol=rel_tol, abs_tol=0.0)
    index_a = np.flatnonzero(visible[0].numpy())
    return index_a, target[0].numpy()[index_a]


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _scene_frames(frames: Sequence[FrameRef], frames_per_scene: int) -> dict[str, list[FrameRef]]:
    by_scene: dict[str, list[FrameRef]] = {}
    for ref in frames:
        by_scene.setdefault(ref.scene, []).append(ref)
    return {scene: [refs[i] for i in np.unique(np.linspace(0, len(refs) - 1, frames_per_scene).round().astype(int))]
            for scene, refs in by_scene.items()}


def _scene(ref: FrameRef, depth_root: str | Path | None) -> Scene:
    """The frame's scene, read from `depth_root` (held-out truth, with its poses) when given."""
    split = ref.scene_root.parent.name
    root = ref.scene_root if depth_root is None else Path(depth_root) / split / ref.scene
    return Scene(root, split)


def crossview_error_correlation(teacher: Teacher, frames: Sequence[FrameRef], size: tuple[int, int] | None = None,
                                depth_root: str | Path | None = None, frames_per_scene: int = FRAMES_PER_SCENE,
                                rel_tol: float = 0.05) -> CrossViewCorrelation:
    """The teacher's cross-view error correlation (see the module doc) on frames with true depth and poses.

    `size` is the (width, height) frames are resized to (None: native); true depth and poses are read beside
    the frames or under `depth_root` (Map-free layout); scenes without true poses are skipped.
    """
    relative = teacher.quantity != METRIC_DEPTH
    xs, ys, pairs = [], [], 0
    for refs in _scene_frames(frames, frames_per_scene).values():
        scene = _scene(refs[0], depth_root)
        views = []
        for ref in (r for r in refs if r.frame in scene.poses):  # hidden test poses are not listed
            wh = size or ref.native_size
            truth = read_true_depth(ref, wh, depth_root)
            pred = teacher_patches(teacher, ref, wh)
            errors = log_errors(pred, patch_average(torch.from_numpy(truth)).numpy(), relative).ravel()
            views.append((ref, truth, scene.camera(ref.frame).resized(wh), errors))
        for (a, truth_a, camera_a, err_a), (b, truth_b, camera_b, err_b) in combinations(views, 2):
            T_ab = scene.relative_pose(a.frame, b.frame)
            index_a, index_b = matched_patches(truth_a, truth_b, camera_a, camera_b, T_ab, rel_tol)
            both = np.isfinite(err_a[index_a]) & np.isfinite(err_b[index_b])
            xs.append(err_a[index_a][both])
            ys.append(err_b[index_b][both])
            pairs += 1
    x, y = (np.concatenate(v) if v else np.zeros(0) for v in (xs, ys))
    return CrossViewCorrelation(_pearson(x, y), len(x), pairs)
