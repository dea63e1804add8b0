"""Worker processes that die with their parent.

A pool's workers outlive a parent killed with SIGKILL (what the out-of-memory killer sends): they
finish their jobs, writing into the output folder for minutes, and race a rerun of the command.
Pools made by :func:`process_pool` run :func:`die_with_parent` first in every worker: on Linux the
kernel kills the worker when its parent exits (`prctl(PR_SET_PDEATHSIG, SIGKILL)`), elsewhere a
daemon thread polls the parent's pid; a parent that died before either was armed ends the worker
at once. Outputs are written atomically, so a killed worker leaves no partial file behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import Any

PR_SET_PDEATHSIG = 1
"""The `prctl` option of <linux/prctl.h>: the signal this process gets when its parent exits."""
POLL_SECONDS = 0.5
"""How often the portable watchdog looks at the parent's pid."""
ORPHANED_EXIT = 1
"""Exit status of a worker that ends because its parent is gone."""


def process_pool(workers: int, mp_context: BaseContext | None = None, initializer: Callable[..., Any] | None = None,
                 initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A `ProcessPoolExecutor` whose workers die with this process, then run `initializer(*initargs)`."""
    return ProcessPoolExecutor(workers, mp_context=mp_context, initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))


def _start_worker(parent: int, initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]) -> None:
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def die_with_parent(parent: int) -> None:
    """End this process when `parent` (the pid of its parent when it was started) exits: by the kernel's
    signal on Linux, else by a watchdog thread; at once when the parent is already gone."""
    if not _arm_death_signal():
        threading.Thread(target=watch_parent, args=(parent,), name="mapfree-parent-watchdog", daemon=True).start()
    if os.getppid() != parent:  # it died before the signal was armed, and this process was adopted
        os._exit(ORPHANED_EXIT)


def watch_parent(parent: int, interval: float = POLL_SECONDS) -> None:
    """Wait until this process's parent is no longer `parent`, then exit at once (no cleanup handlers:
    the worker's job is abandoned as a kill would abandon it)."""
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(ORPHANED_EXIT)


def _arm_death_signal() -> bool:
    """Ask Linux to send SIGKILL when the parent exits; False where `prctl` is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
