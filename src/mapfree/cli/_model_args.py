"""Command-line options shared by the commands that load a MicKey model (stdlib only)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from typing import Any

from mapfree.cli._types import TORCH_DTYPES, add_precision_argument


def add_model_arguments(parser: argparse.ArgumentParser, checkpoint_required: bool = True) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--checkpoint", required=checkpoint_required,
                       help="released MicKey .ckpt, or this project's model folder / model.safetensors")
    group.add_argument("--config", default=None,
                       help="MicKey YAML (released or this project's); omitted: config.yaml next to the checkpoint")
    group.add_argument("--dinov2-weights", default=None,
                       help="original dinov2_vit*14_pretrain.pth; omitted: searched in the torch hub cache")
    group.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1, ...")
    add_precision_argument(group, "backbone precision (auto: the model config's)")


def backbone_dtype(precision: str) -> str | None:
    """`--precision` as MicKey's backbone dtype name; None ('auto') keeps the model config's."""
    return TORCH_DTYPES.get(precision)


def resolve_device(name: str) -> str:
    """'auto' to 'cuda' when a GPU is visible, else 'cpu'; other names checked against this machine
    (:func:`mapfree.devices.checked_device`)."""
    import torch

    from mapfree.devices import checked_device

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    checked_device(name)
    return name


def model_loader(args: argparse.Namespace) -> Callable[[], Any] | None:
    """Loader of the model the options name (--device already resolved); None without --checkpoint."""
    if args.checkpoint is None:
        return None
    from mapfree.models.mickey import MicKey

    return partial(MicKey.from_pretrained, args.checkpoint, args.config, args.dinov2_weights, args.device,
                   backbone_dtype(args.precision))
