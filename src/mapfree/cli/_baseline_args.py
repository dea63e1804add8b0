"""Command-line options of the feature-matching + depth baselines (stdlib only)."""

from __future__ import annotations

import argparse
from typing import Any

from mapfree.cli._model_args import model_loader
from mapfree.cli._types import parse_size


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("baselines (methods MATCHER+DEPTH+SOLVER)")
    group.add_argument("--weights-dir", default=None,
                       help="folder holding learned matchers' weights (the torch hub cache is searched too)")
    group.add_argument("--prior-store", default=None,
                       help="depth-prior store with metric depth, for the 'prior' depth "
                            "(made by `mapfree depth-prior`)")
    group.add_argument("--matcher-size", type=parse_size, default=None, metavar="WxH",
                       help="vismatch:NAME matchers see both images resized to WxH (matches come back in the "
                            "images' own pixels); omitted: the images as loaded")


def baseline_context(args: argparse.Namespace) -> Any:
    """The :class:`~mapfree.baselines.registry.BaselineContext` of the model and baseline options."""
    from mapfree.baselines.registry import BaselineContext

    return BaselineContext(weights_dir=args.weights_dir, device=args.device, prior_root=args.prior_store,
                           split=args.split, load_mickey=model_loader(args),
                           seed=args.seed, matcher_size=args.matcher_size)
