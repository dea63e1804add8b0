"""The one look of mapfree's figures, and how they are drawn without a backend.

Every plotting function of `mapfree.viz` is :func:`styled`: it draws inside :data:`STYLE` on a
:class:`matplotlib.figure.Figure` made directly (never through pyplot), which `savefig` renders to a
file by itself. So drawing works headless, selects no backend and leaves the importing program's
Matplotlib settings as they were.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import matplotlib

P = ParamSpec("P")
R = TypeVar("R")

STYLE: dict[str, Any] = {
    "figure.constrained_layout.use": True,
    "figure.titlesize": 10,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "grid.alpha": 0.3,
}
"""Matplotlib settings of every figure: constrained layout, title and legend sizes, faint grids."""


def styled(plot: Callable[P, R]) -> Callable[P, R]:
    """`plot`, drawing and saving its figure inside :data:`STYLE`."""

    @functools.wraps(plot)
    def draw(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(STYLE):
            return plot(*args, **kwargs)

    return draw
