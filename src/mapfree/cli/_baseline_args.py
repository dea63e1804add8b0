"""Command-line options of the feature-matching + depth baselines (stdlib only)."""

from __future__ import annotations

import argparse


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("baselines (methods MATCHER+DEPTH+SOLVER)")
    group.add_argument("--weights-dir", default=None,
                       help="folder holding learned matchers' weights (the torch hub cache is searched too)")
    group.add_argument("--prior-store", default=None,
                       help="depth-prior store with metric depth, for the 'prior' depth (made by `mapfree depth-prior`)")


def baseline_context(args: argparse.Namespace, load_mickey=None):
    """The :class:`~mapfree.baselines.registry.BaselineContext` of parsed arguments."""
    from mapfree.baselines.registry import BaselineContext

    return BaselineContext(weights_dir=args.weights_dir, device=args.device, prior_root=args.prior_store,
                           split=args.split, load_mickey=load_mickey)
