"""Console output of the `mapfree` command: `logging` levels, progress bars and Lightning's noise.

Results go to stdout with `print`; diagnostics go through `logging.getLogger(__name__)` to stderr.
:func:`configure` (called once by the CLI, callable from Python) sets the verbosity:

- `quiet`: warnings and errors only, no progress bars;
- `normal`: mapfree's info lines and progress bars; other libraries' warnings; Lightning's info
  lines (accelerator summary, `Trainer(...)` notes) hidden;
- `verbose`: mapfree's debug lines, every library's info lines (Lightning's included).

Lightning's advertising tips ("💡 Tip: ... litlogger") are dropped at every verbosity.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

Verbosity = Literal["quiet", "normal", "verbose"]
MAPFREE_LEVELS: dict[str, int] = {"quiet": logging.WARNING, "normal": logging.INFO, "verbose": logging.DEBUG}
LIGHTNING = ("lightning", "lightning_fabric", "pytorch_lightning")
"""Top-level names of Lightning's loggers (which set their own level, INFO, when imported)."""

_progress_bars = True
_verbosity: Verbosity = "normal"


class _Stderr(logging.StreamHandler):
    """A StreamHandler on whatever `sys.stderr` is when a record comes (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _Console(logging.Filter):
    """Drops Lightning's tips, and its records below WARNING unless verbose."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("💡 Tip:"):
            return False
        lightning = record.name.split(".")[0] in LIGHTNING
        return self.verbose or record.levelno >= logging.WARNING or not lightning


def configure(verbosity: Verbosity = "normal") -> None:
    """Route `logging` and Python warnings to stderr at `verbosity`; show progress bars unless quiet."""
    global _progress_bars, _verbosity
    _verbosity = verbosity
    verbose = verbosity == "verbose"
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
    handler.addFilter(_Console(verbose))
    handler.setLevel(logging.WARNING if verbosity == "quiet" else logging.NOTSET)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("mapfree").setLevel(MAPFREE_LEVELS[verbosity])
    logging.captureWarnings(True)
    _progress_bars = verbosity != "quiet"


def progress(wanted: bool = True) -> bool:
    """Whether to draw a progress bar the caller `wanted`: never under `--quiet`."""
    return wanted and _progress_bars


def verbosity() -> Verbosity:
    """The verbosity :func:`configure` last set (worker processes take it over, quieter)."""
    return _verbosity
