"""The base of every expected failure caused by what a user gave (a file, a value, a resource).

`mapfree` commands print a :class:`UserError` as one line and exit with code 2; any other
exception is a bug in mapfree and keeps its traceback. The concrete errors also derive from
the built-in type a caller would catch (`ValueError`, `LookupError`, `FileNotFoundError`).
"""

from __future__ import annotations


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
