"""Argument types shared by several commands (a private module: not a subcommand)."""

from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' to (W, H); at least one 14x14 MicKey patch."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 540x720, got {text!r}") from None
    if w < 14 or h < 14:
        raise argparse.ArgumentTypeError("size must be at least 14x14")
    return w, h
