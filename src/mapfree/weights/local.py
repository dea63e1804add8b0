"""The one rule telling a local weights path from a Hugging Face Hub repo id.

An existing file or folder is local. A value that looks like a path (starts with `.`, `/` or `~`,
holds more than one `/` or an OS separator, ends in a weights file suffix, or is `org/name` where `org`
is a folder here) must be one: when it is not there, that is reported as such and never sent to the
Hub (not even its name looked up). Only a bare `org/name` (or `name`) is a repo id.
"""

from __future__ import annotations

import os
from pathlib import Path

from mapfree.weights.errors import WeightsNotFoundError

WEIGHTS_SUFFIXES = (".ckpt", ".pth", ".pt", ".bin", ".safetensors", ".yaml", ".yml", ".json", ".zip")


def looks_like_path(value: str) -> bool:
    """Whether `value` can only mean a local path (never a Hub id)."""
    return _path_shaped(value) or _local_folder(value) is not None


def _path_shaped(value: str) -> bool:
    return (value.startswith((".", "/", "~")) or value.count("/") > 1 or (os.sep != "/" and os.sep in value)
            or value.lower().endswith(WEIGHTS_SUFFIXES))


def _local_folder(value: str) -> Path | None:
    """The folder `org` of a value shaped like a Hub id `org/name` when that folder is here (then a missing
    `name` is a mistyped local path)."""
    folder = Path(value).parent
    return folder if not _path_shaped(value) and folder != Path(".") and folder.is_dir() else None


def resolve_local_or_repo(value: str | os.PathLike, missing: str = "no such file or folder") -> tuple[str, bool]:
    """(what to load, whether it is local). A `Path` is always local; a missing local path is a
    one-line WeightsNotFoundError "{value}: {missing} (a local path; ...)"."""
    path = Path(value).expanduser()
    if path.exists():
        return str(path), True
    text = os.fspath(value)
    if isinstance(value, os.PathLike) or looks_like_path(text):
        folder = _local_folder(text)
        why = (f": {folder} is a local folder, so it is not taken as a Hugging Face Hub id" if folder is not None
               else "; a Hugging Face Hub id is org/name")
        raise WeightsNotFoundError(f"{text}: {missing} (a local path{why})")
    return text, False
