"""`mapfree demo [--out DIR] [--quick]`: the seed's experiment end to end, offline, on CPU."""

from __future__ import annotations

import argparse

from mapfree.cli._extras import require

HELP = ("Synthesise the benchmark, build depth priors, train MicKey with and without depth supervision, "
        "evaluate both and write a Table-1-style report.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="outputs/demo",
                        help="output folder; a non-empty one is refused unless --overwrite")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo's outputs in --out")
    parser.add_argument("--quick", action="store_true", help="tiny budget (about a minute), for CI and a first look")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds feature pretraining, both trainings, the depth teacher and the RANSAC sampling")


def run(args: argparse.Namespace) -> int:
    require("train", "mapfree demo")

    from mapfree.demo import FULL, QUICK, run_demo

    run_demo(args.out, QUICK if args.quick else FULL, seed=args.seed, overwrite=args.overwrite)
    return 0
