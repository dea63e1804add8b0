"""Reading a PyTorch weights file safely: the one `torch.load(weights_only=True)` of the package.

Fetching checks a download with it before renaming it into place, and the models and learned matchers
read their checkpoints through it, so a truncated or pickled-object file fails the same way everywhere.
"""

from __future__ import annotations

from pathlib import Path

from mapfree.errors import InputError


def load_torch_file(path: Path, map_location="cpu") -> object:
    """torch.load of a weights-only file; FileNotFoundError or an InputError naming the file
    when it is missing, truncated, corrupt or holds Python objects."""
    import torch  # `mapfree weights list` and the catalogue stay free of torch

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle errors come in many types; name the file
        raise InputError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?), or one holding Python objects "
            f"that torch.load(weights_only=True) refuses ({type(e).__name__}: {load_failure(e)})"
        ) from None


def load_failure(error: Exception) -> str:
    """What a failed `torch.load` says in one line: for a refused pickle, the global it refused (torch's message
    leads with several lines of advice, terminal colours included, and ends suggesting to allow it)."""
    lines = [line.strip() for line in str(error).splitlines()]
    refused = next((line for line in lines if line.startswith(REFUSED_PREFIX)), None)
    if refused is not None:
        return refused.removeprefix(REFUSED_PREFIX).split(". Please use")[0]
    return lines[0] if lines else ""


REFUSED_PREFIX = "WeightsUnpickler error: "
"""How torch's weights-only unpickler starts the line that names what it refused."""
