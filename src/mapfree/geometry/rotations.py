"""Unit quaternions (w, x, y, z; Hamilton, as in Map-free's poses.txt) and rotation matrices.

All functions are vectorised over leading dimensions.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), any non-zero norm, to (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < _EPS):
        raise ValueError("zero-norm quaternion")
    w, x, y, z = np.moveaxis(q / norm, -1, 0)
    return np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices to (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Uses the numerically stable branch on the largest diagonal term (Shepperd's method).
    """
    R = np.asarray(R, dtype=np.float64)
    m = R.reshape(-1, 3, 3)
    trace = np.trace(m, axis1=1, axis2=2)
    diag = np.diagonal(m, axis1=1, axis2=2)
    candidates = np.stack(
        [
            np.stack([1 + trace, m[:, 2, 1] - m[:, 1, 2],
                      m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
            np.stack([m[:, 2, 1] - m[:, 1, 2], 1 + 2 * diag[:, 0] - trace,
                      m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
            np.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0],
                      1 + 2 * diag[:, 1] - trace, m[:, 1, 2] + m[:, 2, 1]], -1),
            np.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0],
                      m[:, 1, 2] + m[:, 2, 1], 1 + 2 * diag[:, 2] - trace], -1),
        ],
        axis=1,
    )
    best = np.argmax(np.concatenate([trace[:, None], diag], axis=1), axis=1)
    q = candidates[np.arange(len(m)), best]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q.reshape(R.shape[:-2] + (4,))


def angle_between_rotations_deg(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotation matrices (..., 3, 3)."""
    R_rel = np.swapaxes(R_a, -1, -2) @ R_b
    cos = (np.trace(R_rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
