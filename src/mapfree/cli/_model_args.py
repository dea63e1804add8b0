"""Command-line options shared by the commands that load a MicKey model (stdlib only)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from mapfree.cli._types import TORCH_DTYPES, add_precision_argument


def add_model_arguments(parser: argparse.ArgumentParser, checkpoint_required: bool = True) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--checkpoint", required=checkpoint_required,
                       help="released MicKey .ckpt, this project's model folder / model.safetensors, a Hub repo id "
                            "org/name, or `mickey`: the released weights `mapfree weights download mickey` fetched")
    group.add_argument("--config", default=None,
                       help="MicKey YAML (released or this project's); omitted: config.yaml next to the checkpoint")
    group.add_argument("--dinov2-weights", default=None,
                       help="original dinov2_vit*14_pretrain.pth or its catalogue name (dinov2-vitl14, ...); "
                            "omitted: searched in the torch hub cache")
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


Size = tuple[int, int]


def model_sizes(context: Any) -> list[Size | None]:
    """The input size of the context's MicKey model (loading it), none without --checkpoint."""
    return [] if context.load_mickey is None else [context.mickey_model().input_size]


def saved_input_size(model_folder: str | Path) -> Size | None:
    """The input size a `save_pretrained` folder's config.yaml records (no weights are read)."""
    from mapfree.models.checkpoints import CONFIG_FILE
    from mapfree.models.config import MicKeyConfig

    return MicKeyConfig.load(Path(model_folder) / CONFIG_FILE).input_size


def inference_size(args: argparse.Namespace, sizes: Iterable[Size | None], frame_sizes: Iterable[Size],
                   source: str) -> Size | None:
    """--resize when given, else the size the models in play were trained at (one line when they disagree, or
    when `source`'s frames have another aspect ratio); said on stderr when it resizes."""
    import sys

    from mapfree.data.preprocess import model_input_size
    from mapfree.errors import InputError

    if args.resize is not None:
        return args.resize
    trained = set(sizes)
    if len(trained) > 1:
        listed = ", ".join("native" if s is None else f"{s[0]}x{s[1]}" for s in sorted(trained, key=str))
        raise InputError(f"the models were trained at different input sizes ({listed}): choose one with --resize WxH")
    size = model_input_size(next(iter(trained), None), frame_sizes, source)
    if size is not None:
        print(f"mapfree: resizing frames to {size[0]}x{size[1]}, the model's training input size (--resize to "
              "change)", file=sys.stderr)
    return size
