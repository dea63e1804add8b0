"""Argument types shared by several commands (a private module: not a subcommand)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer >= 1 (batch sizes, counts)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (worker processes)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' to (W, H); at least one 14x14 MicKey patch."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 540x720, got {text!r}") from None
    if w < 14 or h < 14:
        raise argparse.ArgumentTypeError("size must be at least 14x14")
    return w, h


def file_name_part(value: str) -> str:
    """A depth suffix or correspondence-set name: letters, digits, '_', '.', '-' (it becomes part of file names)."""
    from mapfree.data.correspondences import NAME_RE

    if not NAME_RE.match(value) or value == "depth":
        raise argparse.ArgumentTypeError(f"{value!r}: use letters, digits, '_', '.' or '-' (and not 'depth')")
    return value
