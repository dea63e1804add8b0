"""Curriculum over pairs: only the easiest top-k fraction of each batch contributes to the loss.

MicKey starts with the 30 % of pairs whose expected loss is lowest and widens the window by
5 points per epoch up to 80 %, so early training is not drowned by hopeless pairs. The
alternative ("overlap-score variant") keeps every pair but trains only on pairs whose
co-visibility lies within limits; that is a data filter, see the data module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class TopKCurriculum:
    """Fraction of pairs kept at an epoch: min(end, start + step * epoch); disabled keeps all."""

    enabled: bool = True
    start: float = 0.3
    end: float = 0.8
    step: float = 0.05

    def __post_init__(self) -> None:
        if not (0 < self.start <= 1 and 0 < self.end <= 1):
            raise ValueError(f"curriculum fractions must lie in (0, 1], got start={self.start}, end={self.end}")

    def fraction(self, epoch: int) -> float:
        if not self.enabled:
            return 1.0
        return min(self.end, self.start + self.step * epoch)


def topk_mask(losses: Tensor, fraction: float, valid: Tensor | None = None) -> Tensor:
    """(B,) bool selecting the max(1, floor(fraction * B)) valid pairs of lowest loss."""
    B = losses.shape[0]
    valid = torch.ones(B, dtype=torch.bool, device=losses.device) if valid is None else valid
    k = min(max(1, int(fraction * B + 1e-9)), int(valid.sum()))
    ranked = torch.where(valid, losses, torch.full_like(losses, float("inf")))
    mask = torch.zeros(B, dtype=torch.bool, device=losses.device)
    mask[ranked.argsort()[:k]] = True
    return mask
