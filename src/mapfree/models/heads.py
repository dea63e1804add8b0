"""MicKey's per-patch prediction heads: residual conv blocks with a linear self-attention block.

Every head has the same trunk (residual blocks of widths `dims`, attention after the third block)
and differs only in its output: a 1x1 projection to 2 (offset), 1 (confidence, depth) channels,
or, for descriptors, the last residual block itself without its final ReLU.
Heads return raw maps; activations live in :class:`mapfree.models.mickey.MicKey`.

With `fused` (the default), in evaluation mode on CPU in float32 without autograd, each residual
block runs as two oneDNN convolutions with BatchNorm folded into prepacked weights and the ReLUs and
the residual add fused, which changes the outputs only by float round-off; `fused=False` keeps the
released code's op-by-op path. The oneDNN calls, their switch and their torch-version guard live in
:mod:`mapfree.models.cpu_fast_path`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mapfree.models import cpu_fast_path
from mapfree.models.attention import SelfAttentionBlock
from mapfree.models.backbone import DerivedCache
from mapfree.models.cpu_fast_path import PackedConv, parameter_key


def fold_batch_norm(conv: nn.Conv2d, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weight and bias of `conv` followed by an evaluation-mode BatchNorm (or an Identity) as one convolution."""
    if isinstance(norm, nn.Identity):
        return conv.weight.detach(), None
    scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
    return conv.weight.detach() * scale[:, None, None, None], norm.bias.detach() - norm.running_mean * scale


class ResidualBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and an identity or 1x1 shortcut; final ReLU optional."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, fused: bool = True):
        super().__init__()
        self.fused = fused
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else nn.Identity()
        )
        self.packed = DerivedCache()

    def forward(self, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
        if self.fused and not self.training and cpu_fast_path.available(x):
            conv1, conv2, shortcut = self._packed_weights(x.shape)
            conv2d = cpu_fast_path.conv2d
            skip = x if shortcut is None else conv2d(x, shortcut)
            return conv2d(conv2d(x, conv1, relu=True), conv2, residual=skip, relu=relu)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(out) if relu else out

    def _packed_weights(self, input_shape: torch.Size) -> tuple[PackedConv, PackedConv, PackedConv | None]:
        """Both convolutions with their BatchNorm folded in, and the 1x1 shortcut; repacked when a tensor changed."""
        def build() -> tuple[PackedConv, PackedConv, PackedConv | None]:
            pack_conv = cpu_fast_path.pack_conv
            hidden_shape = (input_shape[0], self.conv1.out_channels, *input_shape[2:])
            shortcut = None
            if isinstance(self.shortcut, nn.Conv2d):
                shortcut = pack_conv(self.shortcut, self.shortcut.weight.detach(), None, input_shape)
            return (
                pack_conv(self.conv1, *fold_batch_norm(self.conv1, self.bn1), input_shape),
                pack_conv(self.conv2, *fold_batch_norm(self.conv2, self.bn2), hidden_shape),
                shortcut,
            )

        return self.packed.get(parameter_key(*self.parameters(), *self.buffers()), build)


class PatchHead(nn.Module):
    """Four residual blocks (attention after the third), then an optional 1x1 projection.

    With `out_channels=None` the head outputs the last block's map without the final ReLU
    (the descriptor head); otherwise a bias-free 1x1 conv gives `out_channels` raw values.
    `fused` lets the residual blocks take the prepacked oneDNN path in CPU float32 inference.
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
        fused: bool = True,
    ):
        super().__init__()
        if len(dims) != 4:
            raise ValueError(f"a MicKey head needs 4 block widths, got {list(dims)}")
        widths = [in_channels, *dims]
        self.blocks = nn.ModuleList(
            ResidualBlock(a, b, batch_norm, fused) for a, b in zip(widths[:-1], widths[1:]))
        self.attention = SelfAttentionBlock(dims[2], attention_layers, attention_heads, position_encoding)
        self.out = nn.Conv2d(dims[3], out_channels, 1, bias=False) if out_channels is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks[:3]:
            x = block(x)
        x = self.attention(x)
        if self.out is None:
            return self.blocks[3](x, relu=False).contiguous()
        return self.out(self.blocks[3](x)).contiguous()
