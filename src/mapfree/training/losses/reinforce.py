"""MicKey's pose loss: REINFORCE over sampled correspondence sets plus the direct Procrustes gradient.

For each pair, `num_sets` sets of `set_size` correspondences are drawn i.i.d. from the
correspondence probability matrix. Inside each set, `num_hypotheses` minimal sets of
`min_set` correspondences are drawn by probability (without replacement), each fitted with
weighted Procrustes and refined on its inliers; the refined poses are soft-scored, weighted by
softmax(score / T) next to a null hypothesis, and their VCRE losses averaged with those weights.

The result is a per-pair objective whose *value* is the expected loss over the sets and whose
*gradient* is

- the score-function (REINFORCE) estimate w.r.t. the log-probabilities of the sampled
  correspondences, with a leave-one-out mean-loss baseline, and
- the direct gradient of the set losses w.r.t. the 3D keypoints (and through them the pixel
  keypoints and depths they are lifted from) through the differentiable Procrustes fit and the
  soft inlier scores.

How the per-pair terms make a batch's loss is :func:`batch_pose_loss` (MicKey's weighting).

Sets are drawn with replacement so that a set's log-probability is the sum over its draws,
which makes the estimator exactly unbiased (tests check it against an enumerated expectation).
The hypotheses' minimal sets are drawn by the detached probabilities, a fixed proposal inside
each set, as in MicKey.

Everything is batched over pairs x sets x hypotheses; the only N0 x N1 tensors are the
probability matrix itself and its gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mapfree.geometry.camera import Camera
from mapfree.geometry.procrustes import weighted_procrustes
from mapfree.robust.sampling import sample_without_replacement
from mapfree.training.config import ReinforceConfig
from mapfree.training.losses.vcre import soft_clip_px, vcre_loss

PoseLoss = Callable[[Tensor, Tensor], Tensor]
"""(R (B, S, H, 3, 3), t (B, S, H, 3)) -> per-hypothesis loss (B, S, H)."""

INVALID_SCORE = -1e4
"""Soft score of a degenerate hypothesis: its softmax weight underflows to zero."""


@dataclass
class ReinforceResult:
    """Per-pair outputs of :func:`reinforce_objective`.

    direct: (B,) differentiable mean loss over the sampled sets; its gradient is the direct one
        (keypoints and depths through Procrustes and the soft scores), none reaches the probabilities.
    score_function: (B,) zero-valued surrogate whose gradient is the pair's REINFORCE estimate
        w.r.t. its correspondence probabilities (mean over its sets).
    expected_loss: (B,) `direct`, detached (the curriculum ranks by it).
    valid: (B,) False where the probability matrix could not be sampled (NaN, negative, all zero).
    null_weight: (B,) mean softmax weight of the null hypothesis (how often nothing is trusted).
    inlier_ratio: (B,) mean soft inlier ratio of the best hypothesis of each set.
    """

    direct: Tensor
    score_function: Tensor
    expected_loss: Tensor
    valid: Tensor
    null_weight: Tensor
    inlier_ratio: Tensor


def sample_sets(
    probs: Tensor, num_sets: int, set_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw (B, S, M) flat correspondence indices i.i.d. (with replacement) from (B, N0 * N1) weights.

    Sampling with replacement makes the log-probability of a set the sum of its draws' log-
    probabilities, which is what the score-function estimator differentiates. Rows that are not
    a valid distribution are sampled uniformly and reported in the returned (B,) `valid` mask.
    """
    flat = probs.detach()
    total = flat.sum(-1)
    valid = torch.isfinite(total) & (total > 0) & (flat.amin(-1) >= 0)
    if not valid.all():
        flat = torch.where(valid.unsqueeze(-1), flat, torch.ones_like(flat))
    idx = torch.multinomial(flat.float(), num_sets * set_size, replacement=True, generator=generator)
    return idx.view(-1, num_sets, set_size), valid


def score_function_term(draw_log_probs: Tensor, set_losses: Tensor) -> Tensor:
    """Per-pair surrogate whose gradient is the REINFORCE estimate of d E[loss] / d log-probabilities.

    draw_log_probs (B, S, M) normalised log-probabilities of the i.i.d. draws of S sets of M
    correspondences, set_losses (B, S) the sets' losses. Each set's advantage is its loss minus the mean loss of the
    *other* sets (the mean-loss baseline made leave-one-out, which keeps the estimate unbiased:
    it equals MicKey's mean baseline times S / (S - 1)). Returns (B,).
    """
    S = set_losses.shape[1]
    losses = set_losses.detach()
    if S > 1:
        advantage = (losses - losses.mean(1, keepdim=True)) * (S / (S - 1))
    else:
        advantage = losses
    return (advantage * draw_log_probs.sum(-1)).mean(1)


def _residuals(X: Tensor, Y: Tensor, R: Tensor, t: Tensor) -> Tensor:
    """|R X + t - Y| for X, Y (B, S, 1, M, 3) and hypotheses R (B, S, H, 3, 3), t (B, S, H, 3)."""
    moved = X @ R.transpose(-1, -2) + t.unsqueeze(-2)
    return ((moved - Y).square().sum(-1) + 1e-6).sqrt()


def minimal_sets(weights: Tensor, num_hypotheses: int, size: int, generator: torch.Generator | None = None) -> Tensor:
    """(B, S, H, M) 0/1 masks of `size` correspondences per hypothesis, drawn by weight without replacement."""
    idx, _ = sample_without_replacement(weights, size, num_hypotheses, generator)
    masks = torch.zeros(idx.shape[:-1] + weights.shape[-1:], dtype=weights.dtype, device=weights.device)
    return masks.scatter_(-1, idx, 1.0)


def refine(X: Tensor, Y: Tensor, inliers: Tensor, steps: int, threshold: float) -> Tensor:
    """Grow each hypothesis' inlier mask: refit on the inliers, keep the new set while it grows.

    X, Y (B, S, 1, M, 3); inliers (B, S, H, M) the minimal sets. No gradient. Returns the final mask.
    """
    with torch.no_grad():
        count = inliers.sum(-1)
        Xe, Ye = X.expand(*inliers.shape, 3), Y.expand(*inliers.shape, 3)
        for _ in range(steps):
            R, t, ok = weighted_procrustes(Xe, Ye, inliers)
            new = (_residuals(X, Y, R, t) < threshold).to(inliers.dtype)
            new_count = new.sum(-1)
            grow = ok & (new_count > count)
            if not grow.any():
                break
            inliers = torch.where(grow.unsqueeze(-1), new, inliers)
            count = torch.where(grow, new_count, count)
    return inliers


def soft_inlier_score(residuals: Tensor, threshold: float) -> Tensor:
    """Soft inlier count sum sigmoid(5 / thr * (thr - r)) over the last dimension."""
    return torch.sigmoid((5.0 / threshold) * (threshold - residuals)).sum(-1)


def set_losses(X: Tensor, Y: Tensor, weights: Tensor, pose_loss: PoseLoss, cfg: ReinforceConfig,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Loss of each correspondence set: hypotheses' losses weighted by softmax(score / T) (+ null).

    X, Y (B, S, M, 3) differentiable 3D correspondences; weights (B, S, M) their (detached)
    probabilities. Returns set losses (B, S), null-hypothesis weights (B, S) and the best
    hypothesis' soft inlier ratio (B, S).
    """
    Xh, Yh = X.unsqueeze(2), Y.unsqueeze(2)
    inliers = refine(Xh.detach(), Yh.detach(), minimal_sets(weights, cfg.num_hypotheses, cfg.min_set, generator),
                     cfg.refine_steps, cfg.refine_threshold)
    shape = inliers.shape + (3,)
    R, t, ok = weighted_procrustes(Xh.expand(shape), Yh.expand(shape), inliers)
    score = soft_inlier_score(_residuals(Xh, Yh, R, t), cfg.score_threshold)
    loss = pose_loss(R, t)
    null = torch.full_like(loss[..., :1], cfg.null_loss)
    # degenerate fits take no weight and no gradient
    score = torch.where(ok, score, torch.full_like(score, INVALID_SCORE))
    loss = torch.where(ok, loss, null.expand_as(loss))
    logits = score / cfg.score_temperature
    if cfg.null_hypothesis:
        null_logit = torch.full_like(logits[..., :1], cfg.outlier_ratio * X.shape[-2] / cfg.score_temperature)
        logits, loss = torch.cat([logits, null_logit], -1), torch.cat([loss, null], -1)
    w = torch.softmax(logits, -1)
    null_weight = w[..., -1] if cfg.null_hypothesis else torch.zeros_like(w[..., 0])
    best_ratio = score.detach().amax(-1) / X.shape[-2]
    return (w * loss).sum(-1), null_weight.detach(), best_ratio.clamp_min(0.0)


def reinforce_objective(
    probs: Tensor,
    X: Tensor,
    Y: Tensor,
    pose_loss: PoseLoss,
    cfg: ReinforceConfig = ReinforceConfig(),
    generator: torch.Generator | None = None,
) -> ReinforceResult:
    """MicKey's pose objective for a batch of pairs.

    probs (B, N0, N1) correspondence probabilities (matching x confidences, differentiable);
    X (B, N0, 3), Y (B, N1, 3) the 3D keypoints of each image in its camera's frame (metric
    depths lifted through the camera: `camera.backproject(kpts, depth)`, differentiable).
    """
    B, N0, N1 = probs.shape
    flat = probs.reshape(B, N0 * N1)
    idx, valid = sample_sets(flat, cfg.num_sets, cfg.set_size, generator)
    i0, i1 = idx // N1, idx % N1
    Xs = X.gather(1, i0.flatten(1).unsqueeze(-1).expand(-1, -1, 3)).view(*idx.shape, 3)
    Ys = Y.gather(1, i1.flatten(1).unsqueeze(-1).expand(-1, -1, 3)).view(*idx.shape, 3)
    drawn = flat.gather(1, idx.flatten(1)).view(idx.shape)
    losses, null_w, ratio = set_losses(Xs, Ys, drawn.detach(), pose_loss, cfg, generator)

    # log p of each draw, normalised per pair; invalid pairs are masked out below
    tiny = torch.finfo(drawn.dtype).tiny
    log_p = drawn.clamp_min(tiny).log() - flat.sum(-1).clamp_min(tiny).log()[:, None, None]
    reinforce = score_function_term(log_p, losses)
    direct = losses.mean(1)
    zero = torch.zeros_like(direct)
    return ReinforceResult(
        direct=torch.where(valid, direct, zero),
        score_function=torch.where(valid, reinforce - reinforce.detach(), zero),
        expected_loss=direct.detach(),
        valid=valid,
        null_weight=null_w.mean(1),
        inlier_ratio=ratio.mean(1),
    )


def batch_pose_loss(res: ReinforceResult, keep: Tensor) -> Tensor:
    """The pose loss of a batch from its per-pair terms and the (B,) pairs the curriculum keeps.

    Weighted as MicKey weights it: the direct term (keypoints, depths) is the mean over the kept
    pairs of each pair's mean over its sets, while the REINFORCE gradients are added up over the
    kept pairs, each pair's estimate being a mean over its sets (MicKey writes the per-pair
    gradients into the probability matrix and back-propagates them as they are, with no division
    by the number of pairs). So the REINFORCE term is not down-weighted by the batch size against
    the direct term and the depth loss. MicKey's baseline is the mean loss of all the pair's sets;
    ours leaves the set itself out, which scales each pair's estimate by S / (S - 1) for S sets
    (see :func:`score_function_term`). The value is the mean expected loss of the kept pairs.
    """
    kept = keep.to(res.direct.dtype)
    return (res.direct * kept).sum() / kept.sum().clamp_min(1) + (res.score_function * kept).sum()


def vcre_pose_loss(T_gt: Tensor, camera0: Camera, camera1: Camera, clip_px: float | None = None) -> PoseLoss:
    """Soft-clipped symmetric VCRE of (B, S, H) hypotheses against each pair's true pose.

    T_gt (B, 4, 4); camera0/camera1 batched (B) cameras of the images the VCRE is measured in
    (MicKey uses the original-resolution ones). `clip_px` None scales MicKey's clip to the pair's
    mean image width (the two frames of a Map-free pair share one size).
    """
    clip = soft_clip_px(clip_px, (camera0.size[:, 0] + camera1.size[:, 0]).to(T_gt.dtype) / 2)

    def b(x: Tensor | float) -> Tensor | float:
        return x[:, None, None] if isinstance(x, Tensor) else x

    cameras = [Camera(b(camera.K), b(camera.size)) for camera in (camera0, camera1)]

    def loss(R: Tensor, t: Tensor) -> Tensor:
        return vcre_loss(R, t, b(T_gt), *cameras, b(clip))

    return loss
