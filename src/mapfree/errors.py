"""The base of every expected failure caused by what a user gave (a file, a value, a resource).

`mapfree` commands print a :class:`UserError` as one line and exit with code 2; any other
exception is a bug in mapfree and keeps its traceback. The concrete errors also derive from
the built-in type a caller would catch (`ValueError`, `LookupError`, `FileNotFoundError`).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


class UserError(Exception):
    """An expected failure whose message tells the user what to fix."""


class InputError(UserError, ValueError):
    """A value, argument or file content the user gave is invalid; a ValueError, so callers that
    catch ValueError keep working."""


class EncodingError(InputError):
    """A text file the user named is not UTF-8."""


def decode_utf8(data: bytes, source: object) -> str:
    """`data` as UTF-8 text; EncodingError naming `source`, the line and the byte offset of the first bad byte
    (a user fixes the file at that offset; a bare UnicodeDecodeError names neither file nor line)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise EncodingError(f"{source}:{line}: byte 0x{data[e.start]:02x} at offset {e.start} is not UTF-8") from None


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""OSError numbers of a write that failed for want of space (the device, or the user's quota)."""


class DiskFullError(UserError, OSError):
    """A write failed because the disk (or quota) is full: the user frees space, nothing is wrong with mapfree."""

    @classmethod
    def writing(cls, path: str | os.PathLike) -> DiskFullError:
        """The error for a failed write of `path`, naming it and the space left where it goes."""
        folder = Path(path).absolute().parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        try:
            free = f"{_bytes(shutil.disk_usage(folder).free)} free in {folder}"
        except OSError:
            free = f"free space in {folder} unknown"
        return cls(errno.ENOSPC, f"{path}: no space left on the device ({free})")

    def __str__(self) -> str:
        return str(self.strerror)


def _bytes(n: int) -> str:
    """`n` bytes for a message: '312 bytes', '1.5 MiB'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
