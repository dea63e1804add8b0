"""Curriculum over pairs: only the easiest top-k fraction of each batch contributes to the loss.

MicKey starts with the 30 % of pairs whose expected loss is lowest and widens the window by
5 points per epoch up to 80 %, so early training is not drowned by hopeless pairs. The
alternative ("overlap-score variant") keeps every pair but trains only on pairs whose
co-visibility lies within limits; that is a data filter, see the data module. The schedule's settings
are the `curriculum` section of the training config (`training.config.TopKCurriculum`).
"""

from __future__ import annotations

import torch
from torch import Tensor


def topk_mask(losses: Tensor, fraction: float, valid: Tensor | None = None) -> Tensor:
    """(B,) bool selecting the max(1, floor(fraction * B)) valid pairs of lowest loss."""
    B = losses.shape[0]
    valid = torch.ones(B, dtype=torch.bool, device=losses.device) if valid is None else valid
    k = min(max(1, int(fraction * B + 1e-9)), int(valid.sum()))
    ranked = torch.where(valid, losses, torch.full_like(losses, float("inf")))
    mask = torch.zeros(B, dtype=torch.bool, device=losses.device)
    mask[ranked.argsort()[:k]] = True
    return mask
