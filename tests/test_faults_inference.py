"""Fault injection, inference: degenerate input gives "no estimate" (confidence 0), never a confident pose.

MicKey (a tiny random model) on untextured images, and every baseline solver on too few
distinct matches and degenerate configurations.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mapfree
from mapfree.baselines.solvers import SOLVERS
from mapfree.geometry.camera import Camera
from mapfree.models import MicKey, MicKeyConfig
from mapfree.robust.result import RelativePose, distinct_count
from mickey_weights import seeded_state

K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
CAMERA = Camera.from_matrix(K, 320, 240)
K_IMAGE = np.array([[120.0, 0.0, 69.5], [0.0, 120.0, 55.5], [0.0, 0.0, 1.0]])
"""Intrinsics of the 140x112 test images."""


@pytest.fixture(scope="module")
def tiny() -> MicKey:
    model = MicKey(MicKeyConfig.tiny())
    model.load_state_dict(seeded_state(model, 1))
    return model.eval()


def assert_no_estimate(pose: RelativePose) -> None:
    assert not pose.valid and pose.confidence == 0.0 and not pose.inliers.any()
    np.testing.assert_array_equal(pose.R, np.eye(3))
    np.testing.assert_array_equal(pose.t, np.zeros(3))


@pytest.mark.parametrize("value", [0, 128, 255])
def test_mickey_on_a_constant_image_pair_gives_no_estimate(tiny: MicKey, value: int) -> None:
    image = np.full((112, 140, 3), value, np.uint8)
    pose = mapfree.estimate_pose(tiny, image, image, K_IMAGE, K_IMAGE, generator=torch.Generator().manual_seed(0))
    assert_no_estimate(pose)
    assert pose.features0.kpts.shape[1] == 8 * 10  # MicKey's outputs are still there


def test_mickey_with_one_black_image_gives_no_estimate_and_keeps_the_other_pairs(tiny: MicKey) -> None:
    rng = np.random.default_rng(0)
    textured = torch.from_numpy(rng.random((2, 3, 112, 140), dtype=np.float32))
    images1 = textured.flip(0).clone()
    images1[1] = 0.0
    poses = mapfree.estimate_poses(tiny, textured, images1, K_IMAGE, K_IMAGE,
                                   generator=torch.Generator().manual_seed(0))
    assert poses[0].valid
    assert_no_estimate(poses[1])


def lifted_pair(kpts: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, ...]:
    """Matches of points seen from camera 0 and from camera 1 = camera 0 moved 0.3 m sideways."""
    X = np.c_[(kpts - K[:2, 2]) / K[0, 0] * depth[:, None], depth]
    X1 = X + np.array([-0.3, 0.0, 0.0])
    kpts1 = X1[:, :2] / X1[:, 2:] * K[0, 0] + K[:2, 2]
    return kpts, kpts1, depth, X1[:, 2]


def repeated(n_distinct: int, copies: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1)
    kpts, depth = rng.uniform([20, 20], [300, 220], (n_distinct, 2)), rng.uniform(2, 6, n_distinct)
    return lifted_pair(np.repeat(kpts, copies, 0), np.repeat(depth, copies))


def collinear_3d(n: int) -> tuple[np.ndarray, ...]:
    """Points on one 3D line (varying depth), so they also lie on a line in both images."""
    s = np.linspace(0.0, 1.0, n)
    X = np.array([-0.5, -0.2, 3.0]) + s[:, None] * np.array([1.0, 0.4, 2.0])
    return lifted_pair(X[:, :2] / X[:, 2:] * K[0, 0] + K[:2, 2], X[:, 2])


DEGENERATE = {
    "no match": repeated(1, 0),
    "two matches": repeated(2, 1),
    "one match repeated 50 times": repeated(1, 50),
    "collinear 3D points": collinear_3d(60),
}


@pytest.mark.parametrize("case", list(DEGENERATE))
@pytest.mark.parametrize("solver", ["emat", "pnp", "procrustes"])
def test_every_baseline_solver_gives_no_estimate_on_degenerate_matches(solver: str, case: str) -> None:
    kpts0, kpts1, depth0, depth1 = DEGENERATE[case]
    pose = SOLVERS.get(solver)()(kpts0, kpts1, CAMERA, CAMERA, depth0, depth1)
    assert_no_estimate(pose)
    assert pose.inliers.shape == (len(kpts0),)


@pytest.mark.parametrize("solver, distinct", [("pnp", 5), ("emat", 3)])
def test_2d_solvers_need_as_many_distinct_inliers_as_their_minimum(solver: str, distinct: int) -> None:
    """Repeated matches count once (pnp needs 6 inliers, emat 5); 3D-3D Procrustes fits 3 distinct
    correct matches with true depth exactly, so it keeps them."""
    kpts0, kpts1, depth0, depth1 = repeated(distinct, 20)
    assert_no_estimate(SOLVERS.get(solver)()(kpts0, kpts1, CAMERA, CAMERA, depth0, depth1))


@pytest.mark.parametrize("solver", ["emat", "pnp", "procrustes"])
def test_every_baseline_solver_still_solves_the_same_scene_with_enough_distinct_matches(solver: str) -> None:
    kpts0, kpts1, depth0, depth1 = repeated(60, 1)
    pose = SOLVERS.get(solver)()(kpts0, kpts1, CAMERA, CAMERA, depth0, depth1)
    assert pose.valid
    np.testing.assert_allclose(pose.t, [-0.3, 0.0, 0.0], atol=0.02)


def test_distinct_count_counts_repeated_rows_once() -> None:
    a = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0]])
    assert distinct_count(a) == 2 and distinct_count(a, np.array([0.0, 1.0, 1.0])) == 3
    assert distinct_count(np.zeros((0, 2))) == 0
