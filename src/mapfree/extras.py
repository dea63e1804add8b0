"""Optional dependencies by extra (`pip install 'mapfree[EXTRA]'`), checked before a command or a configured feature
(e.g. `trainer.logger=wandb`) needs them. It imports only `mapfree.errors`, so any layer may ask."""

from __future__ import annotations

import importlib.util

from mapfree.errors import UserError

EXTRAS: dict[str, tuple[str, ...]] = {
    "plots": ("matplotlib",),
    "baselines": ("torch", "safetensors", "kornia", "scipy", "matplotlib"),
    "depth": ("torch", "transformers"),
    "train": ("torch", "pytorch_lightning", "tensorboard", "kornia", "safetensors", "scipy", "matplotlib"),
    "slurm": ("torch", "pytorch_lightning", "tensorboard", "kornia", "safetensors", "scipy", "matplotlib", "submitit"),
    "wandb": ("wandb",),
    "mlflow": ("mlflow",),
    "matchers": ("torch", "safetensors", "kornia", "scipy", "matplotlib", "vismatch"),
}
"""The modules each extra of pyproject.toml installs (tests/test_packaging.py keeps the two in step)."""


class MissingExtraError(UserError, ImportError):
    """A command needs an optional dependency that is not installed."""


def require(extra: str, what: str) -> None:
    """Raise a one-line MissingExtraError naming `extra` when one of its modules is not installed.

    `what` names what needs it, e.g. 'mapfree train' or '--plots'.
    """
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"{what} needs {', '.join(missing)} (not installed): pip install 'mapfree[{extra}]'")
