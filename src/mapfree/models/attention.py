"""Linear self-attention over a patch map with a 2D sine positional encoding (MicKey's head block).

Linear attention ("Transformers are RNNs", elu+1 feature map) costs O(N) in the number of patches,
which keeps the heads cheap at 540x720 (1938 patches) and larger.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sine_position_encoding(channels: int, height: int, width: int, device=None) -> torch.Tensor:
    """(channels, height, width) encoding: channel groups of 4 hold sin/cos of x and sin/cos of y.

    Positions start at 1, frequencies are exp(-2k log(1e4) / (channels/2)), as in LoFTR/MicKey.
    """
    freqs = torch.exp(torch.arange(0, channels // 2, 2, device=device).float() * (-math.log(10000.0) / (channels // 2)))
    freqs = freqs[:, None, None]
    xs = torch.ones(height, width, device=device).cumsum(1)[None]
    ys = torch.ones(height, width, device=device).cumsum(0)[None]
    pe = torch.zeros(channels, height, width, device=device)
    pe[0::4] = torch.sin(xs * freqs)
    pe[1::4] = torch.cos(xs * freqs)
    pe[2::4] = torch.sin(ys * freqs)
    pe[3::4] = torch.cos(ys * freqs)
    return pe


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(B, N, H, D) queries/keys/values to (B, N, H, D) outputs with the elu+1 kernel.

    Values are divided by N before the key-value product and multiplied back afterwards, which
    keeps the sums inside the fp16 range.
    """
    q, k = F.elu(q) + 1, F.elu(k) + 1
    n = v.shape[1]
    kv = torch.einsum("bnhd,bnhv->bhdv", k, v / n)
    norm = 1 / (torch.einsum("bnhd,bhd->bnh", q, k.sum(dim=1)) + eps)
    return torch.einsum("bnhd,bhdv,bnh->bnhv", q, kv, norm) * n


class LinearAttentionLayer(nn.Module):
    """Self-attention layer: multi-head linear attention, merge, LayerNorm, MLP on [x, message]."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.merge = nn.Linear(dim, dim, bias=False)
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, 2 * dim, bias=False), nn.ReLU(inplace=True), nn.Linear(2 * dim, dim, bias=False)
        )
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        split = (b, n, self.heads, c // self.heads)
        message = linear_attention(self.q_proj(x).view(split), self.k_proj(x).view(split), self.v_proj(x).view(split))
        message = self.norm1(self.merge(message.reshape(b, n, c)))
        return x + self.norm2(self.mlp(torch.cat([x, message], dim=2)))


class SelfAttentionBlock(nn.Module):
    """A stack of linear self-attention layers applied to a (B, C, H, W) map."""

    def __init__(self, dim: int = 128, layers: int = 3, heads: int = 8, position_encoding: bool = True):
        super().__init__()
        self.dim, self.position_encoding = dim, position_encoding
        self.layers = nn.ModuleList(LinearAttentionLayer(dim, heads) for _ in range(layers))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c != self.dim:
            raise ValueError(f"attention block expects {self.dim} channels, got {c}")
        if self.position_encoding:
            x = x + sine_position_encoding(c, h, w, x.device).to(x.dtype)
        x = x.flatten(2).transpose(1, 2)
        for layer in self.layers:
            x = layer(x)
        return x.transpose(1, 2).reshape(b, c, h, w)
