"""`mapfree pretrain --config CFG --out DIR`: feature pretraining of a small CNN MicKey."""

from __future__ import annotations

import argparse
from pathlib import Path

from mapfree.cli._types import add_set_argument, positive_int
from mapfree.extras import require

HELP = ("Pretrain a CNN MicKey's backbone and descriptors to match the training pairs (depth maps + poses) "
        "or homography warps of the training images (no poses).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="synthetic_cpu",
                        help="training YAML or packaged config whose `model`, `data` and `pretrain` are used")
    add_set_argument(parser, "override a value of that config, e.g. --set data.root=DATA")
    parser.add_argument("--out", required=True, help="model folder to write (use it as init.checkpoint); a model "
                                                     "already there is refused unless --overwrite")
    parser.add_argument("--overwrite", action="store_true", help="replace the model in --out")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="optimiser steps (omitted: the config's pretrain section)")
    parser.add_argument("--views", choices=("pairs", "homography"), default=None,
                        help="pairs: training pairs matched through their depth maps and poses; homography: warps of "
                             "single images, for data without depth (omitted: the config's pretrain section)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="pairs, or images, per step (omitted: the config's pretrain section)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seeds the model, sampling and view changes (omitted: the config's pretrain section)")


def run(args: argparse.Namespace) -> int:
    require("train", "mapfree pretrain")

    from mapfree.atomic import refuse_existing
    from mapfree.training.config import TrainConfig
    from mapfree.training.pretrain import OUTPUT_FILES, pretrain_model

    if not args.overwrite:
        for name in OUTPUT_FILES:
            refuse_existing(Path(args.out) / name)
    flags = {"steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "views": args.views}
    overrides = [*args.overrides, *(f"pretrain.{k}={v}" for k, v in flags.items() if v is not None)]
    out = pretrain_model(TrainConfig.load(args.config, overrides), args.out)
    print(f"pretrained model: {out}\ntrain on it with: mapfree train --config {args.config} "
          f"--set init.checkpoint={out} --set 'optim.frozen=[backbone]' --set 'init.fresh=[descriptor_head]'")
    return 0
