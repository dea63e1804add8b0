"""Depth supervision of MicKey's patch depths against per-patch teacher targets.

The loss must fit what the teacher produces:

- ``ssi``: relative teachers (Depth Anything's affine-invariant inverse depth). Per image, the
  predicted inverse depth and the target are each normalised by least squares to zero mean
  and unit variance over the valid patches and compared with an MSE. This is invariant to the
  teacher's unknown scale and shift; it equals 2 (1 - Pearson correlation), so unlike a loss
  after a fitted affine alignment it penalises an inverted depth map instead of fitting it with
  a negative scale.
- ``l2``: metric teachers, squared error in metres.
- ``silog``: metric teachers, scale-invariant log loss mean(d^2) - lambda mean(d)^2 with
  d = log(pred) - log(target) (lambda = 0 is plain log-L2, 1 fully scale-invariant).
- ``seed_mse``: the seed paper's plain MSE between prediction and target whatever the target
  is, zeros included (the seed compared with the all-zero targets of missing files, see
  ``depth.missing=zeros``); kept only to reproduce its comparison. Its code also dropped the
  gradient, which is ``depth.gradient=false``, not part of this loss.

Targets that are NaN or infinite are masked out, and for the metric losses non-positive ones; images
with too few valid patches contribute nothing. Predicted depths are raw head outputs that
may be <= 0, so logarithms and inverses use a softplus floor that keeps a gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from mapfree.registry import Registry
from mapfree.training.config import DepthLossKind

MIN_VALID = 4
"""Fewest valid patches an image needs to take part (the ssi normalisation needs a variance)."""
_FLOOR_SHARPNESS = 20.0
_EPS = 1e-6


def positive_depth(depth: Tensor) -> Tensor:
    """Softplus floor: ~identity above 0.2 m, positive and differentiable everywhere."""
    return F.softplus(depth, beta=_FLOOR_SHARPNESS) + 1e-3


def valid_targets(target: Tensor, kind: str, mask: Tensor | None = None) -> Tensor:
    """Boolean mask of the targets a loss of `kind` can use."""
    valid = torch.isfinite(target)
    if kind in ("l2", "silog"):
        valid &= target > 0
    if mask is not None:
        valid &= mask.bool()
    return valid


def _masked_mean(x: Tensor, m: Tensor) -> Tensor:
    """Per-row mean of x over mask m (rows with no valid entry give 0)."""
    return (x * m).sum(-1) / m.sum(-1).clamp_min(1)


def _standardise(x: Tensor, m: Tensor) -> Tensor:
    mean = _masked_mean(x, m).unsqueeze(-1)
    var = _masked_mean((x - mean).square(), m).unsqueeze(-1)
    return (x - mean) / (var + _EPS).sqrt()


DepthLoss = Callable[[Tensor, Tensor, Tensor, float], Tensor]
"""(pred, target, valid mask as 0/1, silog lambda) -> (B,) losses; targets are 1 where not valid."""

DEPTH_LOSSES: Registry[DepthLoss] = Registry("depth loss")


@DEPTH_LOSSES.register("ssi")
def ssi_loss(pred: Tensor, t: Tensor, m: Tensor, silog_lambda: float) -> Tensor:
    inv_pred = 1.0 / positive_depth(pred)
    return _masked_mean((_standardise(inv_pred, m) - _standardise(t, m)).square(), m)


@DEPTH_LOSSES.register("l2")
def l2_loss(pred: Tensor, t: Tensor, m: Tensor, silog_lambda: float) -> Tensor:
    return _masked_mean((pred - t).square(), m)


@DEPTH_LOSSES.register("silog")
def silog_loss(pred: Tensor, t: Tensor, m: Tensor, silog_lambda: float) -> Tensor:
    d = positive_depth(pred).log() - t.log()
    return _masked_mean(d.square(), m) - silog_lambda * _masked_mean(d, m).square()


DEPTH_LOSSES.add("seed_mse", l2_loss)  # differs from l2 in which targets are valid, not in the formula


def per_image_depth_loss(pred: Tensor, target: Tensor, kind: DepthLossKind, mask: Tensor | None = None,
                         silog_lambda: float = 0.5) -> tuple[Tensor, Tensor]:
    """(B,) losses and (B,) bool of images with enough valid targets. pred, target (B, N)."""
    loss_fn = DEPTH_LOSSES.get(kind)
    valid = valid_targets(target, kind, mask)
    m = valid.to(pred.dtype)
    t = torch.where(valid, target, torch.ones_like(target)).to(pred.dtype)
    return loss_fn(pred, t, m, silog_lambda), valid.sum(-1) >= MIN_VALID


def depth_loss(pred: Tensor, target: Tensor, kind: DepthLossKind, mask: Tensor | None = None,
               silog_lambda: float = 0.5) -> Tensor:
    """Mean per-image depth loss over images with valid targets; a graph-connected 0 if there are none."""
    loss, ok = per_image_depth_loss(pred, target, kind, mask, silog_lambda)
    if not ok.any():
        return pred.sum() * 0.0
    return loss[ok].mean()


def depth_weight(step: int, weight: float, warmup_steps: int = 0, start_step: int = 0) -> float:
    """lambda at a global step: 0 before `start_step`, then a linear ramp to `weight` over `warmup_steps`."""
    if step < start_step:
        return 0.0
    if warmup_steps <= 0:
        return weight
    return weight * min(1.0, (step - start_step + 1) / warmup_steps)
