"""Device names from users (`--device`): checked against this machine before any work starts."""

from __future__ import annotations

import torch

from mapfree.errors import InputError


def checked_device(name: str, option: str = "--device") -> torch.device:
    """The cpu or CUDA device `name` if this machine has it; an InputError naming `option` otherwise."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"{option} {name}: not a device name (auto, cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"{option} {name}: no CUDA GPU is available here (use {option} cpu)")
        if device.index is not None and device.index >= count:
            raise InputError(f"{option} {name}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif device.type != "cpu":
        raise InputError(f"{option} {name}: only cpu and cuda devices are supported")
    return device
