"""Forest plots: effects with their 95% intervals, a panel per metric and a row per arm, coloured by verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mapfree.atomic import save_figure_atomic
from mapfree.viz.style import styled

VERDICT_COLORS = {"better": "tab:green", "worse": "tab:red", "no detectable difference": "0.35",
                  "undefined": "0.7"}


@dataclass(frozen=True)
class EffectPanel:
    """One metric: its title, the x axis' label, and (row label, effect) per row; an effect holds `mean` and
    `ci95` ((lo, hi); either may be None) and its `verdict` (a key of :data:`VERDICT_COLORS`)."""

    title: str
    xlabel: str
    rows: Sequence[tuple[str, Mapping[str, Any]]]


def _panel(ax: Any, panel: EffectPanel) -> None:
    """A row per arm, its effect as a dot and its interval as a bar, coloured by the verdict."""
    for y, (_, effect) in enumerate(panel.rows):
        color = VERDICT_COLORS[effect["verdict"]]
        if effect["ci95"] is not None:
            ax.hlines(y, *effect["ci95"], color=color, lw=2.5)
        if effect["mean"] is not None:
            ax.plot(effect["mean"], y, "o", color=color, ms=6, zorder=3)
        if effect["ci95"] is None:
            ax.annotate("no interval", (0, y), xytext=(4, 4), textcoords="offset points", fontsize=7, color=color)
    ax.axvline(0.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(range(len(panel.rows)), [name for name, _ in panel.rows])
    ax.set_ylim(len(panel.rows) - 0.5, -0.5)
    ax.set_title(panel.title)
    ax.set_xlabel(panel.xlabel, fontsize=8)
    ax.grid(True, axis="x")


@styled
def plot_forest(panels: Sequence[EffectPanel], path: str | Path, title: str, dpi: int = 120) -> Path:
    """The panels on a grid of up to three columns, the verdicts' colours in a legend below."""
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    height = 0.35 * max(len(panel.rows) for panel in panels) + 1.3
    fig = Figure(figsize=(4.3 * ncols, height * nrows + 1.0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        _panel(ax, panel)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    handles = [Line2D([], [], color=color, marker="o", lw=2.5, label=name) for name, color in VERDICT_COLORS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(title)
    save_figure_atomic(fig, path, dpi=dpi)
    return Path(path)
