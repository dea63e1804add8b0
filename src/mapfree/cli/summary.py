"""`mapfree summary --data-root ROOT`: describe a Map-free-format dataset."""

from __future__ import annotations

import argparse

from mapfree.cli._types import add_path_option

HELP = "Print scenes, frames, pairs, overlap and depth statistics of a Map-free-format dataset."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path_option(parser, "--data-root", "dataset folder holding train/, val/ and test/")


def run(args: argparse.Namespace) -> int:
    from mapfree.data.summary import format_summary, summarize

    print(format_summary(summarize(args.data_root)))
    return 0
