"""`mapfree demo [--out DIR] [--quick] [--seed N] [--overwrite]`: the study in ten minutes, offline, on CPU."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mapfree.extras import require

if TYPE_CHECKING:
    from mapfree.study import StudyConfig

HELP = ("A first look at the study (`mapfree study`): MicKey trained without depth supervision (`none`) and with "
        "the metric teacher's (`silog-metric`), one seed, evaluated on a held-out synthetic test split; writes "
        "study.json, report.md and its figures.")

ARMS = ["silog-metric"]
"""The arm the demo runs beside the control `none`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="outputs/demo",
                        help="output folder; rerunning the same demo there resumes it, a different study there is "
                             "refused unless --overwrite")
    parser.add_argument("--overwrite", action="store_true", help="replace whatever --out holds")
    parser.add_argument("--quick", action="store_true",
                        help="the packaged `quick` study instead of `demo` (a few minutes, for CI and a first look)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the feature pretraining, both trainings and their RANSAC sampling (the benchmark "
                             "and the teachers stay the same)")


def demo_config(quick: bool = False, seed: int = 0, overrides: Iterable[str] = ()) -> StudyConfig:
    """The packaged study `demo` (or `quick`) restricted to `none` and :data:`ARMS`, trained with `seed`."""
    from mapfree.study import StudyConfig
    from mapfree.study.pipeline import select

    config = StudyConfig.load("quick" if quick else "demo",
                              [f"seeds=[{seed}]", f"pretrain.seed={seed}", "pretrain_draws=1", *overrides])
    return select(config, ARMS, None)


def run(args: argparse.Namespace) -> int:
    require("train", "mapfree demo")

    from mapfree.study import run_study

    run_study(demo_config(args.quick, args.seed), args.out, overwrite=args.overwrite)
    return 0
