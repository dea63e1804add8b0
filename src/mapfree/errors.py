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
