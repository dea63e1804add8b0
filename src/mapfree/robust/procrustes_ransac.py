"""Procrustes RANSAC on 3D-3D correspondences: MicKey's inference solver and a one-to-one variant.

MicKey's solver (`mickey_pose_solver`), as in the released model: for each of `rounds`
rounds, `samples` correspondences are drawn without replacement from the correspondence
probability matrix; in each round `hypotheses` minimal sets of 3 of them are drawn by
probability (without replacement) and fitted with Kabsch; every hypothesis is scored by its
soft inlier count sum sigmoid(5 / thr (thr - r)) over its round's correspondences with
thr = `soft_threshold` (0.3 m), r = sqrt(|R x + t - y|^2 + 1e-6). The best hypothesis over
all rounds is refined up to `refinements` times by refitting on its hard inliers
(r <= `inlier_threshold`, 0.15 m) while their number grows; the confidence is the final soft
inlier count at `inlier_threshold` over the winning round's correspondences.

Everything is tensor-batched over pairs x rounds x hypotheses (one batched SVD for all
hypotheses, one GEMM per chunk of rounds for the residuals). Failure is "no estimate":
identity, zero translation, no inliers, confidence 0, `success` False -- for empty or
all-zero probability matrices, non-finite points or scores, and degenerate (collinear,
coincident) points. Nothing here raises on bad data or returns NaN.

`procrustes_ransac` is the same machinery for one-to-one matches (N, 3) <-> (N, 3), the
"3D-3D Procrustes RANSAC" baseline: every round scores on all N matches.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from mapfree.geometry.procrustes import weighted_procrustes
from mapfree.robust.ransac_config import ProcrustesRansacConfig
from mapfree.robust.result import RelativePose
from mapfree.robust.sampling import sample_without_replacement

RESIDUAL_BUFFER_ELEMENTS = 1 << 24
"""Largest hypotheses x correspondences x 3 residual buffer built at once (elements)."""

_DIST_EPS = 1e-6
"""Added under the square root of squared residuals (m^2), as in MicKey's scoring."""


@dataclass(frozen=True)
class RansacOutput:
    """The batched solver's internals for B pairs; x1 = R x0 + t (camera 0 to camera 1, metres).

    :meth:`pose` gives one pair's :class:`RelativePose`, the result type of every solver.

    matches (B, S, 2): (index in image 0, index in image 1) of the winning round's sampled
    correspondences; match_scores (B, S) their probabilities (0 for fillers); inliers (B, S)
    those within `inlier_threshold` of the final pose. Failed pairs (`success` False) have
    R = I, t = 0, confidence 0 and no inliers.
    """

    R: Tensor
    t: Tensor
    confidence: Tensor
    success: Tensor
    matches: Tensor
    match_scores: Tensor
    inliers: Tensor

    def __getitem__(self, index: int | slice | Tensor) -> RansacOutput:
        """The result of one pair (fields without the batch dimension) or of a sub-batch."""
        return RansacOutput(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def pose(self, b: int) -> RelativePose:
        """Pair b as a RelativePose (float64) whose inliers index its sampled `matches`."""
        return RelativePose(R=self.R[b].double().cpu().numpy(), t=self.t[b].double().cpu().numpy(),
                            inliers=self.inliers[b].cpu().numpy(), confidence=float(self.confidence[b]))


@dataclass(frozen=True)
class _Fit:
    """Core RANSAC output over (B, rounds, S) correspondence sets."""

    R: Tensor
    t: Tensor
    best_round: Tensor
    inliers: Tensor
    confidence: Tensor
    success: Tensor


def residuals(X: Tensor, Y: Tensor, R: Tensor, t: Tensor) -> Tensor:
    """sqrt(|R x + t - y|^2 + 1e-6) of hypotheses R (..., H, 3, 3), t (..., H, 3) on X, Y (..., S, 3) -> (..., H, S)."""
    lead, (H, S) = X.shape[:-2], (R.shape[-3], X.shape[-2])
    diff = torch.bmm(R.reshape(-1, H * 3, 3), X.reshape(-1, S, 3).transpose(1, 2)).view(*lead, H, 3, S)
    diff.add_(t.unsqueeze(-1)).sub_(Y.transpose(-1, -2).unsqueeze(-3)).square_()
    return diff.sum(-2).add_(_DIST_EPS).sqrt_()


def soft_inlier_count(dist: Tensor, threshold: float, mask: Tensor) -> Tensor:
    """sum over the last dimension of sigmoid(5 / thr * (thr - dist)) where `mask` is True."""
    soft = dist.mul(-5.0 / threshold).add_(5.0).sigmoid_()
    return soft.masked_fill_(~mask, 0.0).sum(-1)


def _score_hypotheses(X: Tensor, Y: Tensor, valid: Tensor, R: Tensor, t: Tensor, threshold: float) -> Tensor:
    """Soft inlier counts (B, rounds, H) of each round's hypotheses on that round's set, chunked over rounds."""
    B, rounds, S, _ = X.shape
    H = R.shape[2]
    chunk = max(1, min(rounds, RESIDUAL_BUFFER_ELEMENTS // max(1, B * H * 3 * S)))
    scores = [
        soft_inlier_count(residuals(X[:, i:i + chunk], Y[:, i:i + chunk], R[:, i:i + chunk], t[:, i:i + chunk]),
                          threshold, valid[:, i:i + chunk].unsqueeze(2))
        for i in range(0, rounds, chunk)
    ]
    return torch.cat(scores, dim=1)


def _refine(X: Tensor, Y: Tensor, valid: Tensor, R: Tensor, t: Tensor,
            cfg: ProcrustesRansacConfig) -> tuple[Tensor, Tensor]:
    """Refit (B,) poses on their hard inliers in X, Y (B, S, 3) while the inlier count grows."""
    count_before = torch.full(R.shape[:1], cfg.min_set, dtype=torch.long, device=R.device)
    for _ in range(cfg.refinements):
        inliers = (residuals(X, Y, R.unsqueeze(1), t.unsqueeze(1))[:, 0] <= cfg.inlier_threshold) & valid
        count = inliers.sum(-1)
        fit = weighted_procrustes(X, Y, inliers.to(X.dtype))
        grow = fit.valid & (count >= cfg.min_set) & (count > count_before)
        if not bool(grow.any()):
            break
        R = torch.where(grow[:, None, None], fit.R, R)
        t = torch.where(grow[:, None], fit.t, t)
        count_before = torch.where(grow, count, count_before)
    return R, t


def _ransac(X: Tensor, Y: Tensor, weights: Tensor, cfg: ProcrustesRansacConfig,
            generator: torch.Generator | None) -> _Fit:
    """Best refined pose per pair from correspondence sets X, Y (B, rounds, S, 3) with weights (B, rounds, S).

    Minimal sets are drawn by weight; zero-weight correspondences are absent. Points must be finite.
    """
    B, rounds, S, _ = X.shape
    H, m = cfg.hypotheses, cfg.min_set
    arange = torch.arange(B, device=X.device)
    valid = weights > 0
    picks, picked_ok = sample_without_replacement(weights, m, H, generator)
    enough = picks.shape[-1] == m
    gather = picks.reshape(B, rounds, -1, 1).expand(-1, -1, -1, 3)
    Xm = torch.gather(X, 2, gather).view(B, rounds, H, -1, 3)
    Ym = torch.gather(Y, 2, gather).view(B, rounds, H, -1, 3)
    hyp = weighted_procrustes(Xm, Ym)
    hyp_ok = hyp.valid & picked_ok.all(-1) & enough

    scores = _score_hypotheses(X, Y, valid, hyp.R, hyp.t, cfg.soft_threshold)
    scores = torch.where(hyp_ok, scores, -1.0).view(B, rounds * H)
    best = scores.argmax(-1)
    success = scores.gather(1, best[:, None])[:, 0] >= 0
    best_round = best // H
    R = hyp.R.view(B, rounds * H, 3, 3)[arange, best]
    t = hyp.t.view(B, rounds * H, 3)[arange, best]

    Xb, Yb, valid_b = X[arange, best_round], Y[arange, best_round], valid[arange, best_round]
    R, t = _refine(Xb, Yb, valid_b, R, t, cfg)
    dist = residuals(Xb, Yb, R.unsqueeze(1), t.unsqueeze(1))[:, 0]
    confidence = soft_inlier_count(dist, cfg.inlier_threshold, valid_b)
    success = success & torch.isfinite(confidence) & torch.isfinite(R).all((-1, -2)) & torch.isfinite(t).all(-1)
    inliers = (dist <= cfg.inlier_threshold) & valid_b & success[:, None]
    eye = torch.eye(3, dtype=R.dtype, device=R.device).expand_as(R)
    return _Fit(
        R=torch.where(success[:, None, None], R, eye),
        t=torch.where(success[:, None], t, 0.0),
        best_round=best_round,
        inliers=inliers,
        confidence=torch.where(success, confidence, 0.0),
        success=success,
    )


def _usable_probabilities(scores: Tensor, ok0: Tensor, ok1: Tensor) -> Tensor:
    """Scores with non-finite or negative entries and rows/columns of unusable points zeroed.

    Clean input (the common case) is returned as is: no N0 x N1 copy.
    """
    low, high = torch.aminmax(scores)
    if bool(low >= 0) and bool(high < torch.inf) and bool(ok0.all()) and bool(ok1.all()):
        return scores
    probs = torch.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0).clamp_min_(0.0)
    return probs.mul_(ok0.unsqueeze(-1)).mul_(ok1.unsqueeze(-2))


def _finite_points(points: Tensor) -> tuple[Tensor, Tensor]:
    """Points with non-finite rows zeroed, and the (..., N) mask of the finite rows."""
    ok = torch.isfinite(points).all(-1)
    return torch.where(ok.unsqueeze(-1), points, 0.0), ok


@torch.no_grad()
def mickey_pose_solver(
    pts3d0: Tensor,
    pts3d1: Tensor,
    scores: Tensor,
    config: ProcrustesRansacConfig = ProcrustesRansacConfig(),
    generator: torch.Generator | None = None,
) -> RansacOutput:
    """MicKey's pose solver for B pairs: 3D keypoints in each camera and their match probabilities.

    pts3d0 (B, N0, 3), pts3d1 (B, N1, 3): keypoints in camera 0 / camera 1 coordinates
    (metres); scores (B, N0, N1): the correspondence probability matrix. Entries that are
    negative or non-finite, and keypoints that are non-finite, are ignored. `generator`
    (on the tensors' device) makes the sampling reproducible.
    """
    if pts3d0.ndim != 3 or pts3d1.ndim != 3 or pts3d0.shape[-1] != 3 or pts3d1.shape[-1] != 3:
        raise ValueError("expected points (B, N0, 3) and (B, N1, 3), "
                         f"got {tuple(pts3d0.shape)} and {tuple(pts3d1.shape)}")
    B, N0, N1 = pts3d0.shape[0], pts3d0.shape[1], pts3d1.shape[1]
    if tuple(scores.shape) != (B, N0, N1) or pts3d1.shape[0] != B:
        raise ValueError(f"scores {tuple(scores.shape)} do not match points (B={B}, N0={N0}) and {tuple(pts3d1.shape)}")
    dtype = torch.promote_types(pts3d0.dtype, torch.float32)
    P0, ok0 = _finite_points(pts3d0.to(dtype))
    P1, ok1 = _finite_points(pts3d1.to(dtype))
    if N0 * N1 == 0:
        return _no_estimate(B, dtype, pts3d0.device)

    flat = _usable_probabilities(scores.to(dtype), ok0, ok1).view(B, N0 * N1)
    idx, drawn = sample_without_replacement(flat, config.samples, config.rounds, generator)
    weights = torch.where(drawn, torch.gather(flat, 1, idx.flatten(1)).view_as(idx), 0.0)
    i0, i1 = idx // N1, idx % N1
    X = torch.gather(P0, 1, i0.flatten(1).unsqueeze(-1).expand(-1, -1, 3)).view(*idx.shape, 3)
    Y = torch.gather(P1, 1, i1.flatten(1).unsqueeze(-1).expand(-1, -1, 3)).view(*idx.shape, 3)

    fit = _ransac(X, Y, weights, config, generator)
    arange = torch.arange(B, device=X.device)
    r = fit.best_round
    return RansacOutput(
        R=fit.R,
        t=fit.t,
        confidence=fit.confidence,
        success=fit.success,
        matches=torch.stack([i0[arange, r], i1[arange, r]], dim=-1),
        match_scores=weights[arange, r],
        inliers=fit.inliers,
    )


def _no_estimate(B: int, dtype: torch.dtype, device: torch.device) -> RansacOutput:
    """The failure result for B pairs without any correspondence."""
    return RansacOutput(
        R=torch.eye(3, dtype=dtype, device=device).expand(B, 3, 3).clone(),
        t=torch.zeros(B, 3, dtype=dtype, device=device),
        confidence=torch.zeros(B, dtype=dtype, device=device),
        success=torch.zeros(B, dtype=torch.bool, device=device),
        matches=torch.zeros(B, 0, 2, dtype=torch.long, device=device),
        match_scores=torch.zeros(B, 0, dtype=dtype, device=device),
        inliers=torch.zeros(B, 0, dtype=torch.bool, device=device),
    )


@torch.no_grad()
def procrustes_ransac(
    pts0: np.ndarray | Tensor,
    pts1: np.ndarray | Tensor,
    weights: np.ndarray | Tensor | None = None,
    config: ProcrustesRansacConfig = ProcrustesRansacConfig(),
    generator: torch.Generator | int | None = None,
) -> RelativePose:
    """3D-3D Procrustes RANSAC on one-to-one matches: pts0[i] in camera 0 <-> pts1[i] in camera 1.

    pts0, pts1 (N, 3) metres; weights (N,) >= 0 bias the minimal sets (uniform if None).
    Runs `rounds` x `hypotheses` hypotheses, each scored on all N matches, in float64.
    `generator` is a torch.Generator or an int seed. Matches with non-finite coordinates
    or weights are ignored; with fewer than 3 usable or only degenerate ones, the result is
    `RelativePose.failure`.
    """
    P0 = torch.as_tensor(pts0, dtype=torch.float64)
    P1 = torch.as_tensor(pts1, dtype=torch.float64)
    if P0.ndim != 2 or P0.shape[-1] != 3 or P0.shape != P1.shape:
        raise ValueError(f"expected two (N, 3) point arrays, got {tuple(P0.shape)} and {tuple(P1.shape)}")
    N = P0.shape[0]
    w = torch.ones(N, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (N,):
        raise ValueError(f"expected weights ({N},), got {tuple(w.shape)}")
    if isinstance(generator, int):
        generator = torch.Generator().manual_seed(generator)
    P0, ok0 = _finite_points(P0)
    P1, ok1 = _finite_points(P1)
    w = torch.where(ok0 & ok1 & torch.isfinite(w), w, 0.0).clamp_min(0.0)
    if int((w > 0).sum()) < config.min_set:
        return RelativePose.failure(N)

    shape = (1, config.rounds, N)
    fit = _ransac(P0.expand(*shape, 3), P1.expand(*shape, 3), w.expand(shape), config, generator)
    if not bool(fit.success[0]):
        return RelativePose.failure(N)
    return RelativePose.checked(fit.R[0].numpy(), fit.t[0].numpy(), fit.inliers[0].numpy(), float(fit.confidence[0]))
