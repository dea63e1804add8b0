"""`mapfree summary ROOT`: describe a Map-free-format dataset."""

from __future__ import annotations

import argparse

HELP = "Print scenes, frames, pairs, overlap and depth statistics of a Map-free-format dataset."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_root", help="dataset folder holding train/, val/ and test/")


def run(args: argparse.Namespace) -> int:
    from mapfree.data.summary import format_summary, summarize

    print(format_summary(summarize(args.data_root)))
    return 0
