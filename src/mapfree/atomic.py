"""Atomic outputs: every file or folder a command writes appears whole or not at all.

Writers fill a temporary sibling (same folder, so the rename never crosses file systems) and
`os.replace` it over the target: a failed write (disk full, an exception, a kill) leaves the
earlier output, or none, and no temporary behind. `os.replace` swaps a symbolic link itself,
never the file it points to, so no output is written through a link out of its folder;
`append_text` refuses links outright; `path_inside` refuses names (`..`, absolute, a linked folder)
that would put an output outside its folder. Strict JSON: non-finite numbers become `null`.
A folder a command writes into is held with `folder_lock`, so a second writer is refused.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import math
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from mapfree.errors import DISK_FULL_ERRNOS, DiskFullError, UserError

log = logging.getLogger(__name__)

TMP_MARK = ".partial-"
"""In the name of every temporary sibling (which also starts with a dot, so scene listings skip it)."""


class OutputExistsError(UserError, FileExistsError):
    """An output is already there and the command was not asked to replace it."""


class UnsafeOutputError(UserError, OSError):
    """An output path is a symbolic link that an append would write through, or a name leaving its folder."""


class FolderLockedError(UserError, BlockingIOError):
    """Another live process holds the folder a command was about to write into."""


def temporary_sibling(path: Path) -> Path:
    """A unique hidden name beside `path`, keeping its suffix (writers pick their format by it)."""
    return path.with_name(f".{path.stem}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_files(*paths: str | Path) -> Iterator[list[Path]]:
    """Yields temporary paths to write, one per target; all replace their targets together on
    success (renames only, so files that belong together, like a model's weights and config,
    never mix versions across a failed write) and are removed on failure. A full disk is a
    DiskFullError naming the output and the space left."""
    targets = [Path(p) for p in paths]
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
    temps = [temporary_sibling(p) for p in targets]
    try:
        yield temps
        for path, tmp in zip(targets, temps):
            if not tmp.is_file():
                raise FileNotFoundError(f"{path}: the writer produced no file")
        for path, tmp in zip(targets, temps):
            os.replace(tmp, path)
    except OSError as e:  # also a DiskFullError of a nested atomic write: named after the outermost output
        if e.errno in DISK_FULL_ERRNOS:
            raise DiskFullError.writing(targets[0] if len(targets) == 1 else targets[0].parent) from e
        raise
    finally:
        for tmp in temps:
            _remove(tmp)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary file path to write; it replaces `path` on success and is removed on failure."""
    with atomic_files(path) as (tmp,):
        yield tmp


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """`open(path, mode)` for writing, made atomic: the file is closed, then renamed into place."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
        yield f


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yields an empty temporary folder to fill; on success it takes the place of `path` (whatever was there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if path.is_dir() and not path.is_symlink():
            old = temporary_sibling(path)
            os.replace(path, old)
        elif path.is_symlink() or path.exists():
            path.unlink()
        os.replace(tmp, path)
        if old is not None:
            _remove(old)
    finally:
        _remove(tmp)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)


def strict_json(value: Any) -> Any:
    """`value` with non-finite floats (also NumPy scalars and arrays) as None and NumPy types as Python ones."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict_json(value.tolist())
    if isinstance(value, (np.bool_, np.integer)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def json_text(data: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    """Strict JSON text (`null` for NaN/Infinity; anything else non-JSON raises) ending in a newline."""
    return json.dumps(strict_json(data), indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"


def write_json_atomic(path: str | Path, data: Any, indent: int | None = None, sort_keys: bool = False) -> Path:
    return write_text_atomic(path, json_text(data, indent, sort_keys))


def save_figure_atomic(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """`fig.savefig(path)` (a Matplotlib figure) through a temporary file."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    return Path(path)


def append_text(path: str | Path, text: str) -> None:
    """Append to a log; a symbolic link in its place is refused, not followed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafeOutputError(f"{path}: is a symbolic link; refusing to write through it") from None
        raise
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(text)


def refuse_existing(path: str | Path, hint: str = "pass --overwrite to replace it") -> None:
    """OutputExistsError when a file (or link) is at `path`, or a non-empty folder."""
    path = Path(path)
    if path.is_symlink() or path.is_file() or (path.is_dir() and any(path.iterdir())):
        raise OutputExistsError(f"{path} already exists; {hint}")


def path_inside(root: str | Path, name: str | Path, what: str) -> Path:
    """`root / name`; UnsafeOutputError naming `what` when that leaves `root`: an absolute name, a `..` part,
    or a symbolic link on the way to a folder outside it (`root` itself may be a link)."""
    root, name = Path(root), Path(name)
    path = root / name
    if name.is_absolute() or ".." in name.parts or not path.resolve().is_relative_to(root.resolve()):
        raise UnsafeOutputError(f"{what} {name}: leaves the output folder {root} (as {path.resolve()}); "
                                "name a folder inside it, without '..', absolute paths or links out")
    return path


LOCK_FILE = ".lock"
"""The lock file in a folder a command writes into (see `folder_lock`)."""


def _open_locked(path: Path) -> int:
    """A descriptor of `path` holding its exclusive `flock`; FolderLockedError naming the holder if taken."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UnsafeOutputError(f"{path}: is a symbolic link; refusing to lock through it") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace")
            os.close(fd)
            try:
                who = "process {pid} on {host}".format(**json.loads(holder))
            except (ValueError, TypeError, KeyError):
                who = "another process"
            raise FolderLockedError(f"{path.parent} is being written by {who} (lock file {path}); wait until it "
                                    "ends, or write somewhere else") from None
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed this file while we opened it: lock the one there now


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold `folder/.lock` (the folder is created) while a command writes into `folder`.

    An advisory `flock` on a file that names its holder (pid and host, for the message a second writer
    gets: FolderLockedError). The kernel drops the lock of a process that dies, so a lock file that a
    killed process left is stale: it is taken over (logged) and rewritten. The file goes on release, and so
    do the folders made for it that are still empty (a command refused after taking the lock leaves nothing).
    """
    path = Path(folder) / LOCK_FILE
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = _open_locked(path)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        earlier = os.pread(fd, 256, 0).decode(errors="replace").strip()
        if earlier:
            log.info("%s: taking over the stale lock of %s (no longer running)", path, earlier)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)  # before the lock goes: a waiter that opened this file sees it gone
        os.close(fd)
        _remove_empty(made)


def _remove_empty(folders: list[Path]) -> None:
    """Remove `folders` (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
