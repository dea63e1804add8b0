"""Errors raised for malformed dataset files; they always name the file and, when known, the line."""

from __future__ import annotations

from pathlib import Path

from mapfree.errors import UserError


class DataFormatError(UserError, ValueError):
    """A dataset file is missing, malformed or holds values that cannot be right."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line
