"""Batched, differentiable weighted Procrustes (Kabsch/Umeyama without scale) in torch.

Given correspondences X, Y (..., N, 3) and weights w (..., N) >= 0, `weighted_procrustes`
returns the rotation R and translation t minimising sum_i w_i |R x_i + t - y_i|^2:
t = y_bar - R x_bar with weighted centroids, and R the maximiser of <R, M> over SO(3) with
M = sum_i w_i (y_i - y_bar)(x_i - x_bar)^T / sum_i w_i. With M = U S V^T,
R = U diag(1, 1, d) V^T and d = det(U V^T) (the determinant correction that turns the best
orthogonal matrix into the best rotation when the optimum would be a reflection).

Gradient. Differentiating the optimality condition (R^T M symmetric) gives the derivative of
R through terms 1 / (s'_i + s'_j), where s' = (s1, s2, d s3) are the singular values with
the correction's sign. That is finite whenever the best rotation is unique, unlike autograd
through `torch.linalg.svd`, whose 1 / (s_i^2 - s_j^2) terms are infinite for repeated
singular values even when R is perfectly defined (symmetric point sets, e.g. a regular
tetrahedron). `_RotationFromCovariance` implements that gradient.

Degeneracy. The best rotation is unique iff s'_2 + s'_3 > 0: the points are neither
collinear nor coincident (and, in the reflection case, s2 != s3). A fit is reported invalid
(`valid` False) when s'_2 + s'_3 <= tol * s1, when the centred spread is negligible against
the coordinates' magnitude (coincident points up to rounding), when the total weight is
zero, or when M is not finite. Invalid fits return R = I and t = y_bar - x_bar; the gradient
of their R is exactly zero (no direction is meaningful where the rotation is not unique) and
the gradient through the centroids stays finite, so one degenerate hypothesis in a batch
never puts NaN into a backward pass. Near degeneracy the gradient of R grows like
1 / (s'_2 + s'_3), at most 1 / (tol * s1). Correspondences with a non-finite coordinate or
weight are ignored (weight 0).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class RigidFit(NamedTuple):
    """R (..., 3, 3), t (..., 3) with x -> R x + t, and the (...,) validity flag."""

    R: Tensor
    t: Tensor
    valid: Tensor


def default_tolerance(dtype: torch.dtype) -> float:
    """Relative rank tolerance: sqrt(machine epsilon) of `dtype` (3.5e-4 float32, 1.5e-8 float64)."""
    return torch.finfo(dtype).eps ** 0.5


class _RotationFromCovariance(torch.autograd.Function):
    """M (..., 3, 3) -> (R, s'): the rotation maximising <R, M> and the signed singular values.

    The backward pass uses the closed form dR = U D Omega V^T with
    Omega_ij = (d_i G_ij - d_j G_ji) / (s'_i + s'_j), G = U^T dM V, D = diag(d); denominators
    are floored at tol * s1 so the pass stays finite at degenerate M, whose R gradient the
    caller zeroes.
    """

    @staticmethod
    def forward(ctx, M: Tensor, tol: float) -> tuple[Tensor, Tensor]:
        U, S, Vh = torch.linalg.svd(M)
        floor = (tol * S[..., :1, None]).clamp_min(torch.finfo(M.dtype).tiny ** 0.5)
        d = torch.ones_like(S)
        d[..., 2] = torch.where(torch.linalg.det(U) * torch.linalg.det(Vh) < 0, -1.0, 1.0)
        R = (U * d.unsqueeze(-2)) @ Vh
        signed = S * d
        ctx.save_for_backward(U, Vh, d, signed, floor)
        ctx.mark_non_differentiable(signed)
        return R, signed

    @staticmethod
    def backward(ctx, grad_R: Tensor, _grad_signed: Tensor) -> tuple[Tensor, None]:
        U, Vh, d, signed, floor = ctx.saved_tensors
        A = d.unsqueeze(-1) * (U.transpose(-1, -2) @ grad_R @ Vh.transpose(-1, -2))
        denom = (signed.unsqueeze(-1) + signed.unsqueeze(-2)).clamp_min(floor)
        off_diagonal = 1.0 - torch.eye(3, dtype=A.dtype, device=A.device)
        grad_G = d.unsqueeze(-1) * (off_diagonal / denom) * (A - A.transpose(-1, -2))
        return U @ grad_G @ Vh, None


def weighted_procrustes(X: Tensor, Y: Tensor, w: Tensor | None = None, tol: float | None = None) -> RigidFit:
    """Rigid transform (R, t) minimising sum w |R X + t - Y|^2, batched and differentiable.

    X, Y: (..., N, 3); w: (..., N) non-negative weights, or None for equal weights. Leading
    dimensions broadcast. `tol` is the relative rank tolerance (default
    `default_tolerance(dtype)`). Returns `RigidFit(R, t, valid)`; see the module docstring for
    what `valid` means and how gradients behave at degenerate input. Never returns NaN.
    """
    if X.shape[-1] != 3 or Y.shape[-1] != 3:
        raise ValueError(f"points must be (..., N, 3), got {tuple(X.shape)} and {tuple(Y.shape)}")
    if w is None:
        w = torch.ones(X.shape[:-1], dtype=X.dtype, device=X.device)
    dtype = torch.promote_types(torch.promote_types(X.dtype, Y.dtype), torch.float32)
    X, Y, w = X.to(dtype), Y.to(dtype), w.to(dtype)
    tol = default_tolerance(dtype) if tol is None else tol

    usable = torch.isfinite(X).all(-1) & torch.isfinite(Y).all(-1) & torch.isfinite(w)
    X = torch.where(usable.unsqueeze(-1), X, 0.0)
    Y = torch.where(usable.unsqueeze(-1), Y, 0.0)
    w = torch.where(usable, w, 0.0)
    total = w.sum(-1, keepdim=True)
    has_weight = total[..., 0] > 0
    w = (w / torch.where(total > 0, total, 1.0)).unsqueeze(-1)

    x_bar = (w * X).sum(-2)
    y_bar = (w * Y).sum(-2)
    Xc, Yc = X - x_bar.unsqueeze(-2), Y - y_bar.unsqueeze(-2)
    M = (w * Yc).transpose(-1, -2) @ Xc
    finite = torch.isfinite(M).all(-1).all(-1)
    M = torch.where(finite[..., None, None], M, 0.0)
    with torch.no_grad():
        # second moments about the origin: the scale against which a spread counts as zero
        magnitude = ((w * X.square()).sum((-1, -2)) * (w * Y.square()).sum((-1, -2))).sqrt()
    R, signed = _RotationFromCovariance.apply(M, tol)
    valid = (
        has_weight
        & finite
        & (signed[..., 0] > torch.finfo(dtype).eps * magnitude)
        & (signed[..., 1] + signed[..., 2] > tol * signed[..., 0])
    )
    eye = torch.eye(3, dtype=dtype, device=X.device)
    R = torch.where(valid[..., None, None], R, eye)
    t = y_bar - (R @ x_bar.unsqueeze(-1)).squeeze(-1)
    return RigidFit(R, t, valid)
