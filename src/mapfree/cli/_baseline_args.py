"""Command-line options of the feature-matching + depth baselines (stdlib only)."""

from __future__ import annotations

import argparse


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("baselines (methods MATCHER+DEPTH+SOLVER)")
    group.add_argument("--weights-dir", default=None,
                       help="folder holding learned matchers' weights (the torch hub cache is searched too)")
    group.add_argument("--prior-store", default=None,
                       help="depth-prior store with metric depth, for the 'prior' depth (made by `mapfree depth-prior`)")

