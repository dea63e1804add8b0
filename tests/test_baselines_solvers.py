"""Metric two-view solvers (essential matrix + depth scale, PnP) on synthetic correspondences."""

from __future__ import annotations

import numpy as np
import pytest

from mapfree.baselines.solvers import SOLVERS as SOLVER_FACTORIES
from mapfree.geometry.camera import Camera, intrinsics_matrix, project
from mapfree.geometry.rotations import angle_between_rotations_deg
from mapfree.geometry.transforms import look_at
from mapfree.robust.essential import consensus_scale, solve_essential_metric
from mapfree.robust.result import RelativePose

SOLVERS = {name: SOLVER_FACTORIES.get(name)() for name in SOLVER_FACTORIES}
# Worst (rotation deg, translation m) over seeds 0-9 of `correspondences` (300 matches, 30%
# outliers, 0.5 px noise): emat 0.27 deg / 3.8 cm, pnp 0.07 deg / 0.9 cm, procrustes
# 0.05 deg / 0.5 cm. Limits: about 2x that.
TOLERANCE = {"emat": (0.6, 0.08), "pnp": (0.15, 0.02), "procrustes": (0.15, 0.015)}
K = intrinsics_matrix(300.0, 300.0, 179.5, 239.5)
CAMERA = Camera.from_matrix(K, 360, 480)


def random_pose(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A camera 1 about 1.5 m from camera 0 looking at the same spot 6 m ahead."""
    eye = rng.uniform([-1.5, -0.3, -0.5], [1.5, 0.3, 0.5])
    T = look_at(eye, np.array([0.0, 0.0, 6.0]) + rng.normal(0, 0.3, 3), up=np.array([0.0, -1.0, 0.0]))
    return T[:3, :3], T[:3, 3]


def correspondences(rng: np.random.Generator, n: int = 300, outliers: float = 0.3, noise_px: float = 0.5):
    """Matches of a random 3D scene seen by both cameras, depths in both, the true pose."""
    R, t = random_pose(rng)
    X0 = np.stack([rng.uniform(-4, 4, n), rng.uniform(-3, 3, n), rng.uniform(3, 12, n)], axis=1)
    X1 = X0 @ R.T + t
    k0 = project(X0, K) + rng.normal(0, noise_px, (n, 2))
    k1 = project(X1, K) + rng.normal(0, noise_px, (n, 2))
    bad = rng.random(n) < outliers
    k1[bad] = rng.uniform([0, 0], [360, 480], (bad.sum(), 2))
    return k0, k1, X0[:, 2], X1[:, 2], R, t


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("seed", range(3))
def test_recovers_metric_pose_with_outliers(name: str, seed: int) -> None:
    k0, k1, d0, d1, R, t = correspondences(np.random.default_rng(seed))
    pose = SOLVERS[name](k0, k1, CAMERA, CAMERA, d0, d1)
    assert pose.valid and pose.confidence >= 50
    max_deg, max_m = TOLERANCE[name]
    assert angle_between_rotations_deg(pose.R, R) < max_deg
    assert np.linalg.norm(pose.t - t) < max_m
    assert pose.inliers.shape == (len(k0),)


def test_essential_scale_survives_outlier_depths() -> None:
    k0, k1, d0, d1, _, t = correspondences(np.random.default_rng(5), outliers=0.0)
    d1 = d1.copy()
    d1[::4] *= 3.0  # a quarter of the depths wrong: the 1-D scale RANSAC must ignore them
    pose = solve_essential_metric(k0, k1, K, K, d0, d1)
    assert pose.valid
    assert np.linalg.norm(pose.t - t) < TOLERANCE["emat"][1]
    assert pose.inliers[::4].mean() < 0.1  # a wrong depth agrees only by chance


def test_consensus_scale_picks_largest_cluster() -> None:
    scales = np.array([1.0, 1.02, 0.98, 1.01, 5.0, 5.05, -3.0])
    scale, inliers = consensus_scale(scales, 0.1)
    assert scale == pytest.approx(np.mean(scales[:4]))
    np.testing.assert_array_equal(inliers, [True, True, True, True, False, False, False])


def degenerate_inputs() -> dict[str, tuple]:
    rng = np.random.default_rng(0)
    k0, k1, d0, d1, _, _ = correspondences(rng, n=50, outliers=0.0)
    nan = np.full(50, np.nan)
    line = np.stack([np.linspace(10, 300, 50), np.full(50, 200.0)], axis=1)
    return {
        "no matches": (np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0)),
        "two matches": (k0[:2], k1[:2], d0[:2], d1[:2]),
        "no depth": (k0, k1, nan, nan),
        "zero depth": (k0, k1, np.zeros(50), np.zeros(50)),
        "coincident points": (np.tile(k0[:1], (50, 1)), np.tile(k1[:1], (50, 1)), d0, d1),
        "collinear points": (line, line + 5.0, np.full(50, 5.0), np.full(50, 4.0)),  # a 3D line too
        "nan keypoints": (np.full((50, 2), np.nan), k1, d0, d1),
        "inf depth": (k0, k1, np.full(50, np.inf), np.full(50, np.inf)),
    }


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("case", degenerate_inputs())
def test_degenerate_input_gives_no_estimate(name: str, case: str) -> None:
    k0, k1, d0, d1 = degenerate_inputs()[case]
    pose = SOLVERS[name](k0, k1, CAMERA, CAMERA, d0, d1)
    assert isinstance(pose, RelativePose)
    assert np.isfinite(pose.R).all() and np.isfinite(pose.t).all() and np.isfinite(pose.confidence)
    assert not pose.valid and pose.confidence == 0.0
    assert pose.inliers.shape == (len(k0),) and not pose.inliers.any()


def test_failure_result_is_identity() -> None:
    pose = RelativePose.failure(4)
    np.testing.assert_array_equal(pose.R, np.eye(3))
    np.testing.assert_array_equal(pose.t, np.zeros(3))
    assert pose.inliers.shape == (4,) and not pose.valid


def test_procrustes_draws_its_minimal_sets_by_match_score() -> None:
    """With 90% outliers scored 0 and inliers scored 1, only inliers are drawn and counted: exact pose."""
    rng = np.random.default_rng(5)
    k0, k1, d0, d1, R, t = correspondences(rng, n=300, outliers=0.0)
    bad = rng.random(len(k0)) < 0.9
    k1[bad] = rng.uniform([0, 0], [360, 480], (bad.sum(), 2))
    scores = np.where(bad, 0.0, 1.0)
    weighted = SOLVERS["procrustes"](k0, k1, CAMERA, CAMERA, d0, d1, scores)
    assert weighted.valid and angle_between_rotations_deg(weighted.R, R) < 0.15
    assert np.linalg.norm(weighted.t - t) < 0.015
    assert set(np.flatnonzero(weighted.inliers)) <= set(np.flatnonzero(~bad))
