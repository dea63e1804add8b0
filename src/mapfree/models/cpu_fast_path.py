"""The CPU fast path: prepacked oneDNN linear and convolution calls with fused activations and adds.

This is the one module of `mapfree` that touches private torch attributes (the `torch.ops.mkldnn._*`
operators, `torch._C._nn.mkldnn_reorder_conv2d_weight` and `Tensor._version`); the models call only
the public functions below, and only where :func:`available` says so. Off the fast path the models
run plain PyTorch modules, which give the same outputs up to float round-off.

Switch: the environment variable `MAPFREE_CPU_FAST_PATH=0`, read at import, turns the fast path
off for the whole process; :func:`set_enabled` turns it off or on at run time (tests, benchmarks).

Guard: the private operators carry no stability promise, so a torch minor release may change their
arguments or meaning without a deprecation cycle. Probing that they exist (`hasattr`) would only
catch their removal, not a changed argument order or fused-op semantics, so the fast path also
requires a torch major.minor from :data:`TESTED_TORCH` (those on which `tests/test_model_fast_path.py`
and `tests/test_cpu_fast_path.py` passed). Any other torch takes the plain path: correct, only
slower. To admit a new release, run those tests on it and add its major.minor.
"""

from __future__ import annotations

import os
import re

import torch
from torch import nn

TESTED_TORCH: frozenset[tuple[int, int]] = frozenset({(2, 13)})
"""torch major.minor releases the fast path's operators were tested with."""

ENV_SWITCH = "MAPFREE_CPU_FAST_PATH"
"""Environment variable that turns the fast path off for the process when set to `0`."""

PackedConv = tuple[torch.Tensor, torch.Tensor | None, nn.Conv2d]
"""A prepacked oneDNN weight, its bias (None: none) and the convolution it came from (for its geometry)."""


def tested_torch(version: str) -> bool:
    """Whether a torch version string (`2.13.0+cpu`, `2.13.0a0+git...`) is a tested major.minor."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return match is not None and (int(match[1]), int(match[2])) in TESTED_TORCH


def operators_present() -> bool:
    """Whether this torch build registers every operator the fast path calls (builds without oneDNN do not)."""
    ops = torch.ops.mkldnn
    return (hasattr(ops, "_linear_pointwise") and hasattr(ops._linear_pointwise, "binary")
            and hasattr(ops, "_convolution_pointwise") and hasattr(ops._convolution_pointwise, "binary")
            and hasattr(ops, "_reorder_linear_weight") and hasattr(torch._C._nn, "mkldnn_reorder_conv2d_weight"))


SUPPORTED: bool = tested_torch(torch.__version__) and operators_present()
"""The installed torch passes the guard (a tested release with every operator); fixed at import."""

enabled: bool = os.environ.get(ENV_SWITCH, "1") != "0"
"""The switch; set it with :func:`set_enabled`."""


def set_enabled(on: bool) -> None:
    """Turn the fast path on or off for this process (overrides `MAPFREE_CPU_FAST_PATH`)."""
    global enabled
    enabled = on


def available(x: torch.Tensor) -> bool:
    """Whether a layer may take the fast path for input `x`.

    Requires the switch on and a supported torch, `x` float32 on CPU, no autograd (the fused calls
    have no backward), not being traced by `torch.compile` (which packs and fuses on its own), and
    oneDNN built in and enabled (`torch.backends.mkldnn.flags(enabled=False)` switches it off).
    """
    return enabled and SUPPORTED and x.device.type == "cpu" and x.dtype == torch.float32 and \
        not torch.is_grad_enabled() and not torch.compiler.is_compiling() and \
        torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def pack_linear_weight(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """A (out, in) linear weight reordered once into oneDNN's blocked layout (`rows`: the expected batch rows)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x @ W.T + b with a weight from :func:`pack_linear_weight`."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Exact (erf) GELU of x @ W.T + b, the activation fused into the product."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "none")


def linear_add(x: torch.Tensor, other: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x @ W.T + b + other, the add fused into the product."""
    return torch.ops.mkldnn._linear_pointwise.binary(x, other, weight, bias, "add")


def pack_conv(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None, input_shape: torch.Size) -> PackedConv:
    """`weight` (with `conv`'s geometry) reordered once into oneDNN's blocked layout for inputs shaped like
    `input_shape`."""
    packed = torch._C._nn.mkldnn_reorder_conv2d_weight(
        weight.to_mkldnn(), list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups, list(input_shape))
    return packed, bias, conv


def conv2d(x: torch.Tensor, packed: PackedConv, residual: torch.Tensor | None = None,
           relu: bool = False) -> torch.Tensor:
    """conv(x) [+ residual] [then ReLU] in one oneDNN call, with a convolution from :func:`pack_conv`."""
    weight, bias, module = packed
    geometry = (list(module.padding), list(module.stride), list(module.dilation), module.groups)
    if residual is None:
        return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, *geometry, "relu" if relu else "none", [], "")
    return torch.ops.mkldnn._convolution_pointwise.binary(
        x, residual, weight, bias, *geometry, "add", 1.0, "relu" if relu else None, [], "" if relu else None)


def parameter_key(*tensors: torch.Tensor) -> tuple:
    """Storage address and version counter of each tensor: changes when one is reloaded, moved or edited.

    Used on every path (not only the fast one) to tell when a value derived from parameters is stale.
    """
    return tuple((t.device, t.dtype, t.data_ptr(), t._version) for t in tensors)
