"""Frame names of the Map-free layout: `seq{k}/frame_{n:05d}.jpg`."""

from __future__ import annotations

import re

FRAME_PATTERN = r"seq(\d+)/frame_(\d{5,})\.jpg"
"""A Map-free frame path: sequence and frame number (at least five digits)."""
_FRAME_RE = re.compile(f"^{FRAME_PATTERN}$")
_FRAME_LINES_RE = re.compile(f"(?:{FRAME_PATTERN}\n)*")


def all_frame_names(names: list[str]) -> bool:
    """Whether every name is a Map-free frame name (one regex pass over all of them, for long files)."""
    return _FRAME_LINES_RE.fullmatch("".join(f"{n}\n" for n in names)) is not None


def parse_frame_name(name: str) -> tuple[int, int]:
    """(sequence, frame number) of a frame path; ValueError if it is not a Map-free frame name."""
    match = _FRAME_RE.match(name)
    if match is None:
        raise ValueError(f"not a Map-free frame name (expected seqK/frame_NNNNN.jpg): {name!r}")
    return int(match.group(1)), int(match.group(2))


def frame_name(seq: int, frame: int) -> str:
    """Inverse of :func:`parse_frame_name`."""
    return f"seq{seq}/frame_{frame:05d}.jpg"
