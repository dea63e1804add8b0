"""Dual-softmax descriptor matching with a learnable dustbin."""

from __future__ import annotations

import torch
from torch import nn


class DualSoftmaxMatcher(nn.Module):
    """Matching probabilities P[i, j] = softmax_rows(S)[i, j] * softmax_cols(S)[i, j], S = d0 d1^T / T.

    With a dustbin, S gets an extra row and column filled with the learnable score (init 1.0)
    before both softmaxes, so a patch can prefer "no match"; the dustbin entries are dropped
    from the output.
    """

    def __init__(self, temperature: float = 0.1, dustbin: bool = True, dustbin_init: float = 1.0):
        super().__init__()
        self.temperature = temperature
        self.dustbin = nn.Parameter(torch.tensor(float(dustbin_init))) if dustbin else None

    def forward(self, dsc0: torch.Tensor, dsc1: torch.Tensor) -> torch.Tensor:
        """(B, N0, D), (B, N1, D) descriptors to (B, N0, N1) matching probabilities."""
        sim = dsc0 @ dsc1.transpose(1, 2) / self.temperature
        if self.dustbin is None:
            return sim.softmax(1) * sim.softmax(2)
        b, n0, n1 = sim.shape
        bin_ = self.dustbin.to(sim.dtype)
        sim = torch.cat([torch.cat([sim, bin_.expand(b, n0, 1)], 2), bin_.expand(b, 1, n1 + 1)], 1)
        return (sim.softmax(1) * sim.softmax(2))[:, :-1, :-1]
