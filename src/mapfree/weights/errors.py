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


def import_command(name: str) -> str:
    """The command that places a copy of entry `name` fetched elsewhere into its cache."""
    return f"mapfree weights import {name} PATH"


def missing_weights(name: str, what: str, where: object, source: str, why: str = "") -> MissingWeightsError:
    """The one message for weights that are not here: the files, the folder searched (`why` they were not
    fetched, if known) and the two ways to get them, by download here or by a copy fetched elsewhere."""
    because = f" ({why})" if why else ""
    return MissingWeightsError(
        f"{name}: {what} not in {where}{because}; run `{fetch_command(name)}` where the network is available, "
        f"or fetch {source} on another machine and place it with `{import_command(name)}` "
        f"(or `{fetch_command(name)} --from PATH`)"
    )
