"""Rigid transforms as 4x4 matrices. Poses are world-to-camera: x_cam = R x_world + t."""

from __future__ import annotations

import numpy as np


def compose_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations and (..., 3) translations to (..., 4, 4) transforms."""
    R = np.asarray(R, dtype=np.float64)
    T = np.zeros(R.shape[:-2] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Inverse of (..., 4, 4) rigid transforms, exact for orthonormal R."""
    R_inv = np.swapaxes(T[..., :3, :3], -1, -2)
    return compose_pose(R_inv, -(R_inv @ T[..., :3, 3:4])[..., 0])


def relative_pose(T_w2a: np.ndarray, T_w2b: np.ndarray) -> np.ndarray:
    """Transform taking camera-a coordinates to camera-b coordinates."""
    return T_w2b @ invert_pose(T_w2a)


def camera_center(T_w2c: np.ndarray) -> np.ndarray:
    """World position of the camera centre, -R^T t."""
    R = T_w2c[..., :3, :3]
    return -(np.swapaxes(R, -1, -2) @ T_w2c[..., :3, 3:4])[..., 0]


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """World-to-camera pose of an OpenCV camera (x right, y down, z forward) at `eye` looking at `target`."""
    if up is None:
        up = np.array([0.0, 0.0, 1.0])
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    return compose_pose(R, -R @ np.asarray(eye, float))
