"""Frame names of the Map-free layout: `seq{k}/frame_{n:05d}.jpg`."""

from __future__ import annotations

import re

_FRAME_RE = re.compile(r"^seq(\d+)/frame_(\d{5,})\.jpg$")


def parse_frame_name(name: str) -> tuple[int, int]:
    """(sequence, frame number) of a frame path; ValueError if it is not a Map-free frame name."""
    match = _FRAME_RE.match(name)
    if match is None:
        raise ValueError(f"not a Map-free frame name (expected seqK/frame_NNNNN.jpg): {name!r}")
    return int(match.group(1)), int(match.group(2))


def frame_name(seq: int, frame: int) -> str:
    """Inverse of :func:`parse_frame_name`."""
    return f"seq{seq}/frame_{frame:05d}.jpg"
