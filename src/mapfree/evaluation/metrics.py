"""Per-frame pose errors of the Map-free benchmark and its precision-recall curve, vectorised.

Definitions (those of the official evaluation, which converts poses to camera-to-world):
- translation error: distance in metres between the estimated and the true camera centre;
- rotation error: 2 asin(|vec(q_gt q_est^-1)|) in degrees on unit camera-to-world quaternions
  (accurate at small angles, unlike an arccos of the trace);
- VCRE: a grid of virtual 3D points in front of the true camera is projected through the true
  and through the estimated pose, each projection clamped to [0, W] x [0, H]; the error is the
  mean pixel distance.
All functions take stacks of N frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapfree.geometry.camera import Camera
from mapfree.geometry.rotations import quaternion_to_matrix
from mapfree.geometry.transforms import camera_center, compose_pose, relative_pose

VCRE_GRID_SHAPE = (7, 4, 7)
"""Virtual points along x, y and z."""
VCRE_GRID_STEP = 0.3
VCRE_GRID_NEAR = 1.8
"""Depth of the nearest grid plane, metres."""


def vcre_grid() -> np.ndarray:
    """(196, 3) virtual points in camera coordinates: centred in x and y, z from 1.8 m, 0.3 m apart."""
    axes = [VCRE_GRID_STEP * (np.arange(n) - (n - 1) / 2) for n in VCRE_GRID_SHAPE[:2]]
    axes.append(VCRE_GRID_NEAR + VCRE_GRID_STEP * np.arange(VCRE_GRID_SHAPE[2]))
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (..., 4) quaternions (w, x, y, z)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by + ay * bw + az * bx - ax * bz,
        aw * bz + az * bw + ax * by - ay * bx,
    ], axis=-1)


def _unit(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def rotation_error_deg(q_gt: np.ndarray, q_est: np.ndarray) -> np.ndarray:
    """Angle in degrees between world-to-camera quaternions (..., 4) of any non-zero norm.

    Inverting both poses conjugates both quaternions, and vec(q_gt* q_est) has the norm of
    vec(conj(q_gt*) conj(q_est*)^-1) that the official formula uses on camera-to-world ones.
    """
    conj = np.array([1.0, -1.0, -1.0, -1.0])
    d = quaternion_multiply(_unit(q_gt) * conj, _unit(q_est))
    sin_half = np.minimum(np.linalg.norm(d[..., 1:], axis=-1), 1.0)
    return np.degrees(2.0 * np.arcsin(sin_half))


def vcre_px(T_err: np.ndarray, camera: Camera, chunk: int = 64) -> np.ndarray:
    """(N,) mean pixel distance between the grid's projections before and after moving it by T_err (N, 4, 4).

    `camera` holds N frames' intrinsics `K` (N, 3, 3), pinhole without skew, and image sizes (N, 2)
    or one (2,) for all: projections are clamped to [0, W] x [0, H]. No visibility test, as in the
    benchmark: points behind the camera project mirrored, then clamp. Frames go in small chunks: the
    (chunk, 196) intermediates stay in cache and the one matrix product per chunk stays below the size
    where BLAS would start threads.
    """
    K, size = camera.K, np.broadcast_to(camera.size, (len(camera.K), 2))
    grid = vcre_grid()
    ratio = grid[:, :2] / grid[:, 2:]
    homogeneous = np.vstack([grid.T, np.ones(len(grid))])
    out = np.empty(len(K))
    for a in range(0, len(K), chunk):
        k, w, h = K[a:a + chunk], size[a:a + chunk, 0, None], size[a:a + chunk, 1, None]
        u_gt = np.clip(k[:, 0, 0, None] * ratio[:, 0] + k[:, 0, 2, None], 0.0, w)
        v_gt = np.clip(k[:, 1, 1, None] * ratio[:, 1] + k[:, 1, 2, None], 0.0, h)
        uvw = ((k @ T_err[a:a + chunk, :3]).reshape(-1, 4) @ homogeneous).reshape(len(k), 3, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.clip(uvw[:, 0] / uvw[:, 2], 0.0, w)
            v = np.clip(uvw[:, 1] / uvw[:, 2], 0.0, h)
        out[a:a + chunk] = np.hypot(u_gt - u, v_gt - v).mean(axis=1)
    return out


@dataclass(frozen=True)
class FrameErrors:
    """Per-frame errors: translation (m), rotation (deg), VCRE (px)."""

    translation: np.ndarray
    rotation: np.ndarray
    vcre: np.ndarray


def frame_errors(q_gt: np.ndarray, t_gt: np.ndarray, q_est: np.ndarray, t_est: np.ndarray,
                 camera: Camera) -> FrameErrors:
    """Errors of N estimated world-to-camera poses (q (N, 4), t (N, 3)) against the truth.

    `camera` holds each frame's intrinsics (N, 3, 3) and image size, the VCRE clamping bounds:
    (N, 2), or (2,) for all frames.
    """
    T_gt = compose_pose(quaternion_to_matrix(q_gt), t_gt)
    T_est = compose_pose(quaternion_to_matrix(q_est), t_est)
    translation = np.linalg.norm(camera_center(T_est) - camera_center(T_gt), axis=-1)
    T_err = relative_pose(T_gt, T_est)  # true camera -> estimated camera
    vcre = vcre_px(T_err, camera)
    return FrameErrors(translation, rotation_error_deg(q_gt, q_est), vcre)


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall at each distinct confidence (descending), and the area under it."""

    precision: np.ndarray
    recall: np.ndarray
    auc: float


def precision_recall(confidence: np.ndarray, accepted: np.ndarray, n_missing: int) -> PRCurve:
    """Precision-recall curve of estimates sorted by confidence, ties grouped, missing frames as failures.

    At each distinct confidence c: precision = accepted / estimates among those with confidence >= c,
    recall = estimates with confidence >= c / (all estimates + missing frames). AUC is the
    step-wise sum of precision x recall increments from recall 0. Recall is rounded to float32,
    as in the official code, so that AUCs agree to the last digits.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.size == 0:
        return PRCurve(np.zeros(0), np.zeros(0, dtype=np.float32), 0.0)
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(np.asarray(accepted, dtype=bool)[order])
    sorted_conf = confidence[order]
    group_end = np.flatnonzero(np.r_[sorted_conf[1:] != sorted_conf[:-1], True])
    count = group_end + 1
    precision = hits[group_end] / count
    recall = count.astype(np.float32) / np.float32(len(confidence) + n_missing)
    steps = np.diff(np.r_[np.float32(0), recall])
    return PRCurve(precision, recall, float(np.sum(steps * precision)))
