"""Reading released RPR / FAR checkpoints: PyTorch Lightning files whose `state_dict` uses the
released module names, which this port keeps, so loading is a strict `load_state_dict`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from mapfree.errors import InputError
from mapfree.weights.loading import load_torch_file

LOSS_WEIGHTS = ("s_r", "s_t")
"""Learned loss weights (Kendall & Cipolla) a checkpoint may hold; inference ignores them."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The Lightning checkpoint's `state_dict` (or a bare state dict); InputError naming the file otherwise."""
    path = Path(path)
    state = load_torch_file(path)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path}: not a Lightning checkpoint or state dict of tensors")
    return state


def load_released(model: nn.Module, path: str | Path, ignore: Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """Load `path` into `model` strictly, leaving out keys under the `ignore` prefixes and the loss
    weights; returns the keys left out. InputError naming the file and the first mismatching keys."""
    state = read_state_dict(path)
    prefixes = tuple(f"{p}." for p in ignore)
    left_out = {k: v for k, v in state.items() if k.startswith(prefixes) or k in LOSS_WEIGHTS}
    wanted = {k: v for k, v in state.items() if k not in left_out}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(wanted))
    unexpected = sorted(set(wanted) - set(expected))
    wrong = sorted(k for k in set(expected) & set(wanted) if expected[k].shape != wanted[k].shape)
    if missing or unexpected or wrong:
        parts = [f"{what} {keys[:3]}{' ...' if len(keys) > 3 else ''}"
                 for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise InputError(f"{path}: does not fit {type(model).__name__} ({'; '.join(parts)}); "
                         "is it the checkpoint for this model and config?")
    model.load_state_dict(wanted)
    return left_out
