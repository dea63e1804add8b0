"""Console output of the `mapfree` command: `logging` levels, progress bars and Lightning's noise.

Results go to stdout with `print`; diagnostics go through `logging.getLogger(__name__)` to stderr.
:func:`configure` (called once by the CLI, callable from Python) sets the verbosity:

- `quiet`: warnings and errors only, no progress bars;
- `normal`: mapfree's info lines and progress bars; other libraries' warnings; Lightning's info
  lines (accelerator summary, `Trainer(...)` notes) hidden;
- `verbose`: mapfree's debug lines, every library's info lines (Lightning's included).

Lightning's advertising tips ("💡 Tip: ... litlogger") are dropped at every verbosity, and its notices about
the machine's Slurm (:data:`CLUSTER_NOTICES`) below verbose: a training run keeps them in its own log file
(:func:`run_log`), where whoever runs it on a cluster finds them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

Verbosity = Literal["quiet", "normal", "verbose"]
MAPFREE_LEVELS: dict[str, int] = {"quiet": logging.WARNING, "normal": logging.INFO, "verbose": logging.DEBUG}
LIGHTNING = ("lightning", "lightning_fabric", "pytorch_lightning")
"""Top-level names of Lightning's loggers (which set their own level, INFO, when imported)."""

CLUSTER_NOTICES = ("The `srun` command is available on your system but is not used",)
"""Lightning's warnings about how it was launched on a machine with Slurm's tools: nothing the user of a run can act
on (a study's runs and `mapfree train` choose their launch themselves)."""

_progress_bars = True
_verbosity: Verbosity = "normal"


class _Stderr(logging.StreamHandler):
    """A StreamHandler on whatever `sys.stderr` is when a record comes (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _Console(logging.Filter):
    """Drops Lightning's tips, and unless verbose its records below WARNING and its notices about Slurm."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("💡 Tip:"):
            return False
        if not self.verbose and any(notice in message for notice in CLUSTER_NOTICES):
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


@contextmanager
def run_log(path: str | Path) -> Iterator[Path]:
    """Every record (info and up) and warning of the block appended to the file `path` too, whatever the console
    shows: a run's own log, which keeps what `--quiet` hides (Lightning's notices included)."""
    path = Path(path)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
