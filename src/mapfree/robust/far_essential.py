"""FAR's two essential-matrix solvers (Rockwell et al., CVPR 2024), as its Map-free model runs them.

Both work on K-normalised float32 matches and pick the pose with OpenCV's `recoverPose`:

- :func:`magsac_pose`: OpenCV's MAGSAC++ at a pixel threshold (FAR's first pass; no refinement);
- :func:`prior_pose`: FAR's prior-guided RANSAC (second pass). Given a prior pose [R | t], matches
  are drawn with weights exp(-e / sigma^2) of their symmetric epipolar error e to the prior's
  essential matrix; each 6-match sample gives a model (OpenCV's 5-point solver inside LMedS); a
  model scores its Sampson inliers minus err^2 / lambda, err being the mean distance between 300
  random points moved by the prior and by the closer of the model's two rotations (unit
  translations). It also counts the best model's matches within 1/10 and 1/100 of the threshold,
  which FAR's blend reads.

Random numbers come from the `numpy.random.RandomState` passed in (the 300 points, then the
samples), so a seed fixes the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

MIN_MATCHES = 5
"""Fewer matches than this give the failure result."""


@dataclass(frozen=True)
class PriorRansacConfig:
    """FAR's fixed prior-RANSAC settings: one batch of `samples` minimal samples of `sample_size` matches,
    inlier threshold on the squared Sampson error (calibrated coordinates), prior weight `lambda_`,
    sampling temperature `sigma_sq` and `points` random points in [-3, 3]^3 comparing rotations."""

    samples: int = 2048
    sample_size: int = 6
    threshold: float = 3e-7
    lambda_: float = 0.3
    sigma_sq: float = 0.1
    points: int = 300


@dataclass(frozen=True)
class SolverOutcome:
    """Rotation and unit translation of camera 1 w.r.t. camera 0, `recoverPose`'s inlier count, the
    prior RANSAC's tight and ultra-tight counts (0 for MAGSAC) and its inlier mask (None: not reached)."""

    R: np.ndarray
    t: np.ndarray
    inliers: int
    tight: int = 0
    ultra_tight: int = 0
    mask: np.ndarray | None = None

    @classmethod
    def failure(cls) -> SolverOutcome:
        return cls(np.eye(3), np.zeros(3), 0)

    @property
    def counts(self) -> tuple[int, int, int]:
        return self.inliers, self.tight, self.ultra_tight


def normalized(kpts: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels (N, 2) to (x - c) / f, in float32 like FAR's matches and intrinsics."""
    kpts, K = np.asarray(kpts, np.float32), np.asarray(K, np.float32)
    return (kpts - K[[0, 1], [2, 2]][None]) / K[[0, 1], [0, 1]][None]


def best_pose(E: np.ndarray, p0: np.ndarray, p1: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The pose of the (stacked) essential matrices with the most matches passing cheirality among `mask`."""
    best = (np.eye(3), np.zeros(3), 0)
    for E_i in np.split(E, len(E) // 3):
        n, R, t, _ = cv2.recoverPose(E_i.astype(np.float64), p0, p1, np.eye(3), mask=mask.copy())
        if n > best[2]:
            best = (R, t[:, 0], int(n))
    return best


def magsac_pose(kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                pixel_threshold: float = 2.0, confidence: float = 0.9999) -> SolverOutcome:
    """MAGSAC++ essential matrix at `pixel_threshold` (over the mean focal length) and its best pose."""
    if len(kpts0) < MIN_MATCHES:
        return SolverOutcome.failure()
    K0, K1 = np.asarray(K0, np.float32), np.asarray(K1, np.float32)
    p0, p1 = normalized(kpts0, K0), normalized(kpts1, K1)
    threshold = pixel_threshold / np.mean([K0[0, 0], K1[1, 1], K0[1, 1], K1[0, 0]])
    E, mask = cv2.findEssentialMat(p0, p1, np.eye(3), threshold=threshold, prob=confidence, method=cv2.USAC_MAGSAC)
    if E is None:
        return SolverOutcome.failure()
    R, t, n = best_pose(E, p0, p1, mask)
    return SolverOutcome(R, t, n, mask=mask[:, 0].astype(bool))


def prior_pose(kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray, K1: np.ndarray, prior: torch.Tensor,
               rng: np.random.RandomState, config: PriorRansacConfig = PriorRansacConfig()) -> SolverOutcome:
    """FAR's prior-guided RANSAC around `prior` (3, 4) = [R | t] (t's length is ignored), then the best pose."""
    if len(kpts0) < MIN_MATCHES:
        return SolverOutcome.failure()
    p0, p1 = normalized(kpts0, K0), normalized(kpts1, K1)
    points = torch.from_numpy(rng.uniform(-3.0, 3.0, (config.points, 3)).astype(np.float32))
    prior = prior.detach().float().cpu().clone()
    prior[:, 3] /= torch.linalg.norm(prior[:, 3])
    k0, k1 = torch.from_numpy(p0), torch.from_numpy(p1)
    idx = torch.from_numpy(rng.choice(len(p0), (config.samples, config.sample_size), replace=True,
                                      p=sampling_weights(k0, k1, prior, config.sigma_sq)))
    models = minimal_models(p0[idx.numpy()], p1[idx.numpy()])
    models = models[torch.diagonal(models, dim1=1, dim2=2).abs().min(dim=1).values > 1e-4]
    if not len(models):
        return SolverOutcome.failure()
    score = -rotation_disagreement(models, prior, points) ** 2 / config.lambda_
    errors = sampson_squared(k0, k1, models)
    inliers = errors <= config.threshold
    best = int((inliers.to(k0).sum(dim=1) + score).argmax())
    tight = int((errors[best] <= config.threshold / 10.0).sum())
    ultra_tight = int((errors[best] <= config.threshold / 100.0).sum())
    total = inliers[best].to(k0).sum() + score[best]
    if not total > config.sample_size:  # FAR keeps a model only when it beats the sample size
        return SolverOutcome(np.eye(3), np.zeros(3), 0, tight, ultra_tight, np.zeros(len(p0), bool))
    mask = inliers[best].numpy()
    R, t, n = best_pose(models[best].numpy(), p0, p1, mask[:, None].astype(np.uint8))
    return SolverOutcome(R, t, n, tight, ultra_tight, mask)


def sampling_weights(k0: torch.Tensor, k1: torch.Tensor, prior: torch.Tensor, sigma_sq: float) -> np.ndarray:
    """Probabilities exp(-e / sigma^2) (+1e-4, normalised) of drawing each match, e its squared symmetric
    epipolar distance to the prior's essential matrix."""
    from kornia.geometry.epipolar import essential_from_Rt, symmetrical_epipolar_distance

    E = essential_from_Rt(torch.eye(3), torch.zeros(3, 1), prior[:, :3], prior[:, 3:])
    weight = torch.exp(-symmetrical_epipolar_distance(k0[None], k1[None], E[None]) / sigma_sq).squeeze()
    weight = weight.numpy() + 1e-4
    return weight / weight.sum()


def minimal_models(s0: np.ndarray, s1: np.ndarray) -> torch.Tensor:
    """(S, 3, 3) float32 essential matrices of samples (S, k, 2): OpenCV's 5-point solver under LMedS
    with one iteration (identity where it finds none)."""
    models = []
    for a, b in zip(s0, s1):
        E = cv2.findEssentialMat(a, b, np.eye(3), method=cv2.LMEDS, threshold=np.inf, maxIters=1)[0]
        models.append(np.eye(3) if E is None else E)
    return torch.from_numpy(np.array(models)).float()


def rotation_disagreement(models: torch.Tensor, prior: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(S,): mean absolute difference between `points` (P, 3) moved by the prior and by each model's
    [R | t] (the closer of its two rotations, t its unit translation)."""
    R1, R2, t = decompose_essential(models)
    homogeneous = torch.cat([points.T, torch.ones(1, len(points))])[None]  # (1, 4, P)
    target = torch.bmm(prior[None], homogeneous)[:, :3]
    errors = []
    for R in (R1, R2):
        RT = torch.zeros(len(models), 4, 4)
        RT[:, :3, :3], RT[:, :3, 3:], RT[:, 3, 3] = R, t, 1
        moved = torch.bmm(RT, homogeneous.expand(len(models), -1, -1))[:, :3]
        errors.append((moved - target).abs().reshape(len(models), -1).mean(1))
    return torch.minimum(*errors)


W = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def decompose_essential(E: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(S, 3, 3) essential matrices to their two rotations U W V^T, U W^T V^T and unit translation U[:, 2]
    (S, 3, 1), U and V^T made proper rotations by negating their last column / row (Hartley & Zisserman 9.6)."""
    U, _, Vt = torch.linalg.svd(E)
    U = torch.where((torch.det(U) < 0)[:, None, None], U * torch.tensor([1.0, 1.0, -1.0]), U)
    Vt = torch.where((torch.det(Vt) < 0)[:, None, None], Vt * torch.tensor([[1.0], [1.0], [-1.0]]), Vt)
    return U @ W @ Vt, U @ W.T @ Vt, U[..., -1:]


def sampson_squared(k0: torch.Tensor, k1: torch.Tensor, models: torch.Tensor) -> torch.Tensor:
    """(S, N) squared Sampson distances of all matches to each model."""
    from kornia.geometry.epipolar import sampson_epipolar_distance

    S = len(models)
    return sampson_epipolar_distance(k0[None].expand(S, -1, -1), k1[None].expand(S, -1, -1), models, squared=True)
