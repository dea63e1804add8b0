"""One way to choose an implementation by name: a `Registry` of named entries (usually factories).

    SOLVERS: Registry[SolverFactory] = Registry("solver")

    @SOLVERS.register("pnp")
    def pnp_solver(...): ...

    SOLVERS.get("pnp")()   # ValueError "unknown solver 'pnl'; choose one of ... (did you mean 'pnp'?)"

Entries that need heavy optional packages import them inside the factory, so listing or
looking up names never imports them. Stdlib only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mapfree.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in the order they were added; `kind` names them in error messages."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register `entry` under `name` (a name is registered once)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda entry: self.add(name, entry)

    def get(self, name: str) -> T:
        """The entry of `name`; ValueError listing the names (and the closest one) otherwise."""
        if name not in self._entries:
            raise InputError(self.unknown(name))
        return self._entries[name]

    def unknown(self, name: str) -> str:
        """The message for a name that is not registered."""
        message = f"unknown {self.kind} {name!r}; choose one of {', '.join(self._entries)}"
        close = difflib.get_close_matches(str(name), self._entries, n=1)
        return f"{message} (did you mean {close[0]!r}?)" if close else message

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        """The tuple of names, so a message that formats the registry lists them."""
        return repr(self.names())
