"""Procrustes RANSAC: MicKey's probabilistic solver and the one-to-one 3D-3D variant."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mapfree.geometry.rotations import angle_between_rotations_deg
from mapfree.robust import ProcrustesRansacConfig, RelativePose, mickey_pose_solver
from mapfree.robust.procrustes_ransac import procrustes_ransac

SMALL = ProcrustesRansacConfig(rounds=8, hypotheses=64, samples=256)


def synthetic_pairs(B: int, N: int, outlier_ratio: float, noise: float, seed: int):
    """3D keypoints of B pairs, their true poses and a probability matrix whose strong matches
    are correct for a (1 - outlier_ratio) share of the keypoints and wrong for the rest."""
    g = torch.Generator().manual_seed(seed)
    R = torch.tensor(Rotation.random(B, random_state=seed).as_matrix(), dtype=torch.float32)
    t = torch.randn(B, 3, generator=g)
    P0 = torch.rand(B, N, 3, generator=g) * torch.tensor([8.0, 6.0, 10.0]) + torch.tensor([-4.0, -3.0, 2.0])
    perm = torch.stack([torch.randperm(N, generator=g) for _ in range(B)])
    P1 = torch.gather(P0 @ R.transpose(1, 2) + t[:, None], 1, perm[..., None].expand(-1, -1, 3))
    P1 = P1 + noise * torch.randn(B, N, 3, generator=g)
    truth = torch.argsort(perm, dim=1)  # P0[b, i] <-> P1[b, truth[b, i]]
    outlier = torch.rand(B, N, generator=g) < outlier_ratio
    target = torch.where(outlier, torch.randint(0, N, (B, N), generator=g), truth)
    scores = torch.rand(B, N, N, generator=g) * 1e-4 / N
    scores.scatter_add_(2, target[..., None], torch.rand(B, N, 1, generator=g) + 0.5)
    scores /= scores.sum((1, 2), keepdim=True)
    return P0, P1, scores, R, t, truth


def pose_errors(R_est, t_est, R, t):
    rot = angle_between_rotations_deg(R_est.double().numpy(), R.double().numpy())
    trans = np.linalg.norm(t_est.double().numpy() - t.double().numpy(), axis=-1)
    return rot, trans


def test_mickey_solver_recovers_pose_with_half_outliers():
    P0, P1, scores, R, t, truth = synthetic_pairs(B=2, N=300, outlier_ratio=0.5, noise=0.003, seed=0)
    res = mickey_pose_solver(P0, P1, scores, generator=torch.Generator().manual_seed(0))
    rot, trans = pose_errors(res.R, res.t, R, t)
    assert res.success.all()
    assert (rot < 0.1).all() and (trans < 0.01).all(), (rot, trans)
    assert res.R.shape == (2, 3, 3) and res.t.shape == (2, 3) and res.confidence.shape == (2,)
    for b in range(2):
        i0, i1 = res.matches[b].unbind(-1)
        correct = truth[b, i0] == i1
        inl = res.inliers[b]
        assert correct[inl].float().mean() > 0.95  # the inliers are true matches
        assert inl.sum() > 0.8 * correct.sum()     # and most true matches are inliers
        assert res.confidence[b] == pytest.approx(float(inl.sum()), rel=0.1)


def test_mickey_solver_default_config_and_batch_indexing():
    P0, P1, scores, R, t, _ = synthetic_pairs(B=1, N=120, outlier_ratio=0.3, noise=0.0, seed=1)
    res = mickey_pose_solver(P0, P1, scores)
    assert res.matches.shape == (1, ProcrustesRansacConfig().samples, 2)
    one = res[0]
    assert one.R.shape == (3, 3) and one.inliers.ndim == 1 and bool(one.success)
    rot, trans = pose_errors(one.R, one.t, R[0], t[0])
    assert rot < 0.1 and trans < 0.01


def test_mickey_solver_is_reproducible_with_a_generator():
    P0, P1, scores, *_ = synthetic_pairs(B=2, N=100, outlier_ratio=0.6, noise=0.05, seed=2)
    a = mickey_pose_solver(P0, P1, scores, SMALL, torch.Generator().manual_seed(3))
    b = mickey_pose_solver(P0, P1, scores, SMALL, torch.Generator().manual_seed(3))
    for field in ("R", "t", "confidence", "matches", "inliers"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def assert_no_estimate(res, index):
    assert not res.success[index]
    assert res.confidence[index] == 0
    assert torch.equal(res.R[index], torch.eye(3))
    assert torch.equal(res.t[index], torch.zeros(3))
    assert not res.inliers[index].any()


def corrupted_batch():
    """Pair 0 is healthy; every other pair is broken in one way."""
    P0, P1, scores, R, t, _ = synthetic_pairs(B=7, N=80, outlier_ratio=0.2, noise=0.0, seed=4)
    scores[1] = 0.0                                                     # no correspondences
    scores[2] = float("nan")                                            # non-finite scores
    P0[3] = float("nan")                                                # NaN depths
    P1[4, :, 2] = float("inf")                                          # infinite depths
    P0[5] = torch.linspace(0, 1, 80)[:, None] * torch.tensor([1.0, 2.0, 3.0])  # collinear
    P1[5] = P0[5] + 1.0
    P0[6] = 2.5                                                         # coincident
    return P0, P1, scores, R, t


def test_mickey_solver_failures_are_no_estimate_and_leave_other_pairs_intact():
    P0, P1, scores, R, t = corrupted_batch()
    res = mickey_pose_solver(P0, P1, scores, SMALL, torch.Generator().manual_seed(5))
    for field in (res.R, res.t, res.confidence):
        assert torch.isfinite(field).all()
    assert res.success.tolist() == [True] + [False] * 6
    for b in range(1, 7):
        assert_no_estimate(res, b)
    rot, trans = pose_errors(res.R[0], res.t[0], R[0], t[0])
    assert rot < 0.1 and trans < 0.01


def test_mickey_solver_survives_overflowing_coordinates():
    """Finite but huge points (their squares overflow float32) are outliers, not NaN."""
    P0, P1, scores, R, t, _ = synthetic_pairs(B=1, N=100, outlier_ratio=0.2, noise=0.0, seed=14)
    P0[0, :10] = 3e38
    P1[0, 10:20] = -3e38
    res = mickey_pose_solver(P0, P1, scores, SMALL, torch.Generator().manual_seed(0))
    rot, trans = pose_errors(res.R, res.t, R, t)
    assert res.success.all() and rot[0] < 0.1 and trans[0] < 0.01
    i0, i1 = res.matches[0].unbind(-1)
    assert not res.inliers[0][(i0 < 10) | ((i1 >= 10) & (i1 < 20))].any()


def test_mickey_solver_handles_tiny_and_empty_inputs():
    P0, P1, scores, *_ = synthetic_pairs(B=1, N=2, outlier_ratio=0.0, noise=0.0, seed=6)
    assert_no_estimate(mickey_pose_solver(P0, P1, scores, SMALL), 0)  # fewer than 3 matches
    empty = mickey_pose_solver(torch.zeros(2, 0, 3), torch.zeros(2, 5, 3), torch.zeros(2, 0, 5), SMALL)
    assert not empty.success.any() and empty.matches.shape == (2, 0, 2)


def test_mickey_solver_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="scores"):
        mickey_pose_solver(torch.zeros(1, 4, 3), torch.zeros(1, 5, 3), torch.zeros(1, 5, 4))


def test_mickey_solver_accepts_half_precision_scores():
    P0, P1, scores, R, t, _ = synthetic_pairs(B=1, N=100, outlier_ratio=0.4, noise=0.0, seed=7)
    res = mickey_pose_solver(P0, P1, (scores * 100).half(), SMALL, torch.Generator().manual_seed(0))
    rot, trans = pose_errors(res.R, res.t, R, t)
    assert res.success.all() and rot[0] < 0.1 and trans[0] < 0.01


def one_to_one(N: int, outlier_ratio: float, seed: int):
    rng = np.random.default_rng(seed)
    R = Rotation.random(random_state=seed).as_matrix()
    t = rng.normal(size=3)
    pts0 = rng.uniform([-4, -3, 2], [4, 3, 12], size=(N, 3))
    pts1 = pts0 @ R.T + t + rng.normal(scale=0.002, size=(N, 3))
    outlier = rng.random(N) < outlier_ratio
    pts1[outlier] = rng.uniform([-4, -3, 2], [4, 3, 12], size=(outlier.sum(), 3))
    return pts0, pts1, R, t, outlier


def test_one_to_one_recovers_pose_with_half_outliers():
    pts0, pts1, R, t, outlier = one_to_one(400, 0.5, seed=8)
    pose = procrustes_ransac(pts0, pts1, generator=0)
    assert isinstance(pose, RelativePose) and pose.valid
    assert angle_between_rotations_deg(pose.R, R) < 0.1 and np.linalg.norm(pose.t - t) < 0.01
    assert pose.inliers.shape == (400,)
    assert (pose.inliers == ~outlier).mean() > 0.97
    assert pose.confidence == pytest.approx(pose.inliers.sum(), rel=0.1)


def test_one_to_one_weights_steer_the_minimal_sets():
    """With 90% outliers, weights that favour the true matches still find the pose."""
    pts0, pts1, R, t, outlier = one_to_one(300, 0.9, seed=9)
    weights = np.where(outlier, 0.01, 1.0)
    cfg = ProcrustesRansacConfig(rounds=2, hypotheses=20)
    pose = procrustes_ransac(pts0, pts1, weights, cfg, generator=1)
    assert pose.valid and angle_between_rotations_deg(pose.R, R) < 0.1 and np.linalg.norm(pose.t - t) < 0.01


def test_one_to_one_seed_is_reproducible():
    pts0, pts1, *_ = one_to_one(200, 0.7, seed=10)
    cfg = ProcrustesRansacConfig(rounds=2, hypotheses=10)
    a, b = (procrustes_ransac(pts0, pts1, config=cfg, generator=11) for _ in range(2))
    assert np.array_equal(a.R, b.R) and np.array_equal(a.inliers, b.inliers)


@pytest.mark.parametrize("case", ["too few", "collinear", "coincident", "all nan", "zero weights"])
def test_one_to_one_degenerate_inputs_fail_cleanly(case):
    pts0, pts1, *_ = one_to_one(50, 0.0, seed=12)
    weights = None
    if case == "too few":
        pts0, pts1 = pts0[:2], pts1[:2]
    elif case == "collinear":
        pts0 = np.linspace(0, 1, 50)[:, None] * np.array([1.0, 2.0, 3.0])
        pts1 = pts0 + 1.0
    elif case == "coincident":
        pts0[:] = 1.5
    elif case == "all nan":
        pts1[:] = np.nan
    else:
        weights = np.zeros(50)
    pose = procrustes_ransac(pts0, pts1, weights, SMALL, generator=0)
    assert not pose.valid and pose.confidence == 0
    assert np.array_equal(pose.R, np.eye(3)) and not pose.inliers.any() and len(pose.inliers) == len(pts0)


def test_one_to_one_ignores_non_finite_matches():
    pts0, pts1, R, _, _ = one_to_one(100, 0.0, seed=13)
    pts0[:10] = np.nan
    pts1[10:20] = np.inf
    pose = procrustes_ransac(pts0, pts1, config=SMALL, generator=0)
    assert pose.valid and not pose.inliers[:20].any() and pose.inliers[20:].all()
    assert angle_between_rotations_deg(pose.R, R) < 0.1


def test_config_validation():
    with pytest.raises(ValueError):
        ProcrustesRansacConfig(min_set=2)
    with pytest.raises(ValueError):
        ProcrustesRansacConfig(inlier_threshold=0.0)
