"""Correlation-volume warping: how the two images' features meet before the pose head.

Every feature of image 0 gets a softmax distribution over the features of image 1 (their dot
products); image 1's features warped by it sit beside image 0's, with the expected position of the
match (2 channels) and the highest score (1 channel), all at image 0's resolution.
"""

from __future__ import annotations

import torch
from torch import nn

from mapfree.models.far.config import RegressionConfig


class CorrelationWarping(nn.Module):
    """(B, D, H, W) twice to (B, out_channels, H, W); no parameters."""

    def __init__(self, config: RegressionConfig):
        super().__init__()
        self.position_encoder = config.position_encoder
        self.max_score_channel = config.max_score_channel
        self.out_channels = 2 * config.channels + 2 * self.position_encoder + self.max_score_channel

    def forward(self, vol0: torch.Tensor, vol1: torch.Tensor) -> torch.Tensor:
        B, D, H, W = vol0.shape
        vol0, vol1 = vol0.reshape(B, D, H * W), vol1.reshape(B, D, H * W)
        scores = torch.bmm(vol0.transpose(1, 2), vol1)  # (B, HW0, HW1)
        attention = torch.softmax(scores, dim=2)
        volumes = [vol0, torch.bmm(vol1, attention.transpose(1, 2))]
        if self.position_encoder:
            u = torch.linspace(-1, 1, H, device=vol0.device)
            v = torch.linspace(-1, 1, W, device=vol0.device)
            grid = torch.stack(torch.meshgrid(u, v, indexing="ij")).reshape(2, H * W).expand(B, 2, H * W)
            volumes.append(torch.bmm(grid, attention.transpose(1, 2)))
        if self.max_score_channel:
            volumes.append(attention.max(dim=2, keepdim=True).values.transpose(1, 2))
        return torch.cat(volumes, dim=1).reshape(B, -1, H, W)
