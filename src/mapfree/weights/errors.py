"""Errors about weights, each printed by the CLI as one line (exit code 2)."""

from __future__ import annotations

from mapfree.errors import UserError


class WeightsNotFoundError(UserError, FileNotFoundError):
    """A local weights path (file or folder) the user named is not there."""


class MissingWeightsError(UserError, FileNotFoundError):
    """Weights are in none of the places searched and could not be fetched (offline, or not asked to)."""


class DownloadError(UserError, OSError):
    """A download failed or its file did not verify (wrong checksum, empty, unreadable); nothing was kept."""


def fetch_command(name: str) -> str:
    """The command that puts catalogue entry `name` into its cache."""
    return f"mapfree weights download {name}"
