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
        first_line = next(iter(str(e).splitlines()), "")
        raise InputError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?), or one holding Python objects "
            f"that torch.load(weights_only=True) refuses ({type(e).__name__}: {first_line})"
        ) from None
