"""Patch-feature backbones: DINOv2 ViT-S/B/L/G (frozen, original state-dict layout) and a small CNN.

The ViT reproduces the module and parameter names of `dinov2_vit*14_pretrain.pth`, so the original
files load with `load_state_dict(strict=True)`. Positional embeddings are resized exactly as the
DINOv2 code that MicKey ships does it (bicubic, `scale_factor` with +0.1 on the target grid), which
is required to reproduce the released MicKey numbers on non-square inputs such as 540x720.

CPU inference in float32 with the `sdpa` attention runs each block through oneDNN with its linear
weights prepacked once (GELU and the LayerScale-scaled residual add fused into the matrix products),
which changes the outputs only by float round-off; `eager` keeps the released code's plain path.
The oneDNN calls, their switch and their torch-version guard live in :mod:`mapfree.models.cpu_fast_path`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mapfree.models import cpu_fast_path
from mapfree.models.cpu_fast_path import parameter_key

PATCH_SIZE = 14


@dataclass(frozen=True)
class ViTSpec:
    """Architecture of one DINOv2 size."""

    dim: int
    depth: int
    heads: int
    ffn: str  # "mlp" or "swiglu"


VIT_SPECS: dict[str, ViTSpec] = {
    "vits14": ViTSpec(384, 12, 6, "mlp"),
    "vitb14": ViTSpec(768, 12, 12, "mlp"),
    "vitl14": ViTSpec(1024, 24, 16, "mlp"),
    "vitg14": ViTSpec(1536, 40, 24, "swiglu"),
}
"""DINOv2 sizes S/B/L/G with patch 14, trained at 518 px (37x37 positional grid)."""


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch_size: int = PATCH_SIZE):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head softmax attention; `sdpa` uses the fused kernel, `eager` the explicit product."""

    def __init__(self, dim: int, heads: int, impl: str = "sdpa"):
        super().__init__()
        if impl not in ("sdpa", "eager"):
            raise ValueError(f"attention implementation must be 'sdpa' or 'eager', got {impl!r}")
        self.heads, self.impl = heads, impl
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if self.impl == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
            out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))

    def linears(self) -> tuple[nn.Linear, nn.Linear]:
        """The input and output projections, for the prepacked CPU path."""
        return self.fc1, self.fc2

    def hidden_packed(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """GELU(fc1(x)) with a prepacked fc1 weight, the activation fused into the product."""
        return cpu_fast_path.linear_gelu(x, weight, self.fc1.bias)


class SwiGLU(nn.Module):
    """DINOv2's fused SwiGLU FFN (ViT-g); hidden width rounded as in the original."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w3(self._gate(self.w12(x)))

    @staticmethod
    def _gate(x12: torch.Tensor) -> torch.Tensor:
        x1, x2 = x12.chunk(2, dim=-1)
        return F.silu(x1) * x2

    def linears(self) -> tuple[nn.Linear, nn.Linear]:
        """The input and output projections, for the prepacked CPU path."""
        return self.w12, self.w3

    def hidden_packed(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """silu(x1) * x2 of w12(x) with a prepacked w12 weight."""
        return self._gate(cpu_fast_path.linear(x, weight, self.w12.bias))


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


@dataclass
class DerivedCache:
    """A value derived from parameters (packed weights, a resized table), kept while `key` still matches.

    Keys hold the parameters' storage address and version, so loading or moving weights recomputes
    the value. Never pickled or deep-copied: a copy starts empty and recomputes on first use.
    """

    key: tuple = ()
    value: Any = None

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        """The value for `key`, built (and kept) when the key changed."""
        if self.key != key:
            self.key, self.value = key, build()
        return self.value

    def __deepcopy__(self, memo: dict) -> DerivedCache:
        return DerivedCache()

    def __reduce__(self) -> tuple:
        return DerivedCache, ()


class Block(nn.Module):
    def __init__(self, spec: ViTSpec, attention: str):
        super().__init__()
        self.norm1 = nn.LayerNorm(spec.dim, eps=1e-6)
        self.attn = SelfAttention(spec.dim, spec.heads, attention)
        self.ls1 = LayerScale(spec.dim)
        self.norm2 = nn.LayerNorm(spec.dim, eps=1e-6)
        self.mlp = (Mlp if spec.ffn == "mlp" else SwiGLU)(spec.dim, 4 * spec.dim)
        self.ls2 = LayerScale(spec.dim)
        self.packed = DerivedCache()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.attn.impl == "sdpa" and cpu_fast_path.available(x):
            return self._forward_packed(x)
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))

    def _packed_weights(self, rows: int) -> tuple[torch.Tensor, ...]:
        """qkv, scaled proj weight and bias, fc1, scaled fc2 weight and bias; repacked when a parameter changed."""
        def build() -> tuple[torch.Tensor, ...]:
            pack = cpu_fast_path.pack_linear_weight
            fc1, fc2 = self.mlp.linears()
            g1, g2 = self.ls1.gamma.detach(), self.ls2.gamma.detach()
            return (
                pack(self.attn.qkv.weight, rows),
                pack(self.attn.proj.weight * g1[:, None], rows), self.attn.proj.bias.detach() * g1,
                pack(fc1.weight, rows),
                pack(fc2.weight * g2[:, None], rows), fc2.bias.detach() * g2,
            )

        return self.packed.get(parameter_key(*self.parameters()), build)

    def _forward_packed(self, x: torch.Tensor) -> torch.Tensor:
        """The block with prepacked oneDNN products: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x))."""
        b, n, c = x.shape
        qkv_w, proj_w, proj_b, fc1_w, fc2_w, fc2_b = self._packed_weights(b * n)
        qkv = cpu_fast_path.linear(self.norm1(x), qkv_w, self.attn.qkv.bias)
        q, k, v = qkv.reshape(b, n, 3, self.attn.heads, c // self.attn.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        x = cpu_fast_path.linear_add(out, x, proj_w, proj_b)
        hidden = self.mlp.hidden_packed(self.norm2(x), fc1_w)
        return cpu_fast_path.linear_add(hidden, x, fc2_w, fc2_b)


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(1, 1 + n*n, C) class + patch embeddings resized to a (h, w) patch grid.

    Follows the DINOv2 code MicKey runs: float32 bicubic interpolation driven by
    `scale_factor = (grid + 0.1) / n` (not by `size`), returning the input unchanged for the
    native square grid. The result keeps the dtype of `pos_embed`.
    """
    n = math.isqrt(pos_embed.shape[1] - 1)
    h, w = grid
    if (h, w) == (n, n):
        return pos_embed
    table = pos_embed.float()
    patches = table[:, 1:].reshape(1, n, n, -1).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, scale_factor=((h + 0.1) / n, (w + 0.1) / n), mode="bicubic")
    if patches.shape[-2:] != (h, w):
        raise RuntimeError(f"positional embedding resized to {tuple(patches.shape[-2:])}, expected {(h, w)}")
    patches = patches.permute(0, 2, 3, 1).reshape(1, h * w, -1)
    return torch.cat([table[:, :1], patches], dim=1).to(pos_embed.dtype)


class DinoV2(nn.Module):
    """DINOv2 ViT/14 returning the final-norm patch tokens as a (B, C, H/14, W/14) map."""

    def __init__(self, size: str = "vitl14", attention: str = "sdpa", img_size: int = 518):
        super().__init__()
        if size not in VIT_SPECS:
            raise ValueError(f"unknown DINOv2 size {size!r}; choose one of {sorted(VIT_SPECS)}")
        spec = VIT_SPECS[size]
        self.size, self.channels = size, spec.dim
        grid = img_size // PATCH_SIZE
        self.patch_embed = PatchEmbed(spec.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, spec.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, spec.dim))
        self.mask_token = nn.Parameter(torch.zeros(1, spec.dim))
        self.blocks = nn.ModuleList(Block(spec, attention) for _ in range(spec.depth))
        self.norm = nn.LayerNorm(spec.dim, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        self.resized_pos_embed = DerivedCache()

    def grid_pos_embed(self, grid: tuple[int, int]) -> torch.Tensor:
        """Positional embeddings for a patch grid, resized once per grid while no gradient is taken."""
        if torch.is_grad_enabled() and self.pos_embed.requires_grad:
            return interpolate_pos_embed(self.pos_embed, grid)
        return self.resized_pos_embed.get((grid, *parameter_key(self.pos_embed)),
                                          lambda: interpolate_pos_embed(self.pos_embed.detach(), grid))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, height, width = x.shape
        grid = (height // PATCH_SIZE, width // PATCH_SIZE)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), self.patch_embed(x)], dim=1)
        tokens = tokens + self.grid_pos_embed(grid)
        for block in self.blocks:
            tokens = block(tokens)
        patches = self.norm(tokens)[:, 1:]
        return patches.transpose(1, 2).reshape(b, self.channels, *grid)


class ConvBackbone(nn.Module):
    """Small trainable CNN with one output per 14x14 patch, for CPU experiments and tests."""

    def __init__(self, channels: int = 64, width: int = 32):
        super().__init__()
        self.channels = channels
        self.layers = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 7, stride=7), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def vit_size_from_channels(channels: int) -> str:
    """DINOv2 size name from its embedding width (the released MicKey YAML stores only the width)."""
    for name, spec in VIT_SPECS.items():
        if spec.dim == channels:
            return name
    raise ValueError(f"no DINOv2 size has {channels} channels; known widths: {[s.dim for s in VIT_SPECS.values()]}")
