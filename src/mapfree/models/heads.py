"""MicKey's per-patch prediction heads: residual conv blocks with a linear self-attention block.

Every head has the same trunk (residual blocks of widths `dims`, attention after the third block)
and differs only in its output: a 1x1 projection to 2 (offset), 1 (confidence, depth) channels,
or, for descriptors, the last residual block itself without its final ReLU.
Heads return raw maps; activations live in :class:`mapfree.models.mickey.MicKey`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mapfree.models.attention import SelfAttentionBlock


class ResidualBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and an identity or 1x1 shortcut; final ReLU optional."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(out) if relu else out


class PatchHead(nn.Module):
    """Four residual blocks (attention after the third), then an optional 1x1 projection.

    With `out_channels=None` the head outputs the last block's map without the final ReLU
    (the descriptor head); otherwise a bias-free 1x1 conv gives `out_channels` raw values.
    """

    def __init__(
        self,
        in_channels: int,
        dims: Sequence[int],
        out_channels: int | None,
        batch_norm: bool = True,
        position_encoding: bool = True,
        attention_layers: int = 3,
        attention_heads: int = 8,
    ):
        super().__init__()
        if len(dims) != 4:
            raise ValueError(f"a MicKey head needs 4 block widths, got {list(dims)}")
        widths = [in_channels, *dims]
        self.blocks = nn.ModuleList(ResidualBlock(a, b, batch_norm) for a, b in zip(widths[:-1], widths[1:]))
        self.attention = SelfAttentionBlock(dims[2], attention_layers, attention_heads, position_encoding)
        self.out = nn.Conv2d(dims[3], out_channels, 1, bias=False) if out_channels is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks[:3]:
            x = block(x)
        x = self.attention(x)
        if self.out is None:
            return self.blocks[3](x, relu=False)
        return self.out(self.blocks[3](x))
