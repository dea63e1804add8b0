"""The study's forest plot: each arm's effect vs the control on each headline metric, with its 95% interval."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mapfree.atomic import save_figure_atomic
from mapfree.study.metrics import higher_is_better, metric_label
from mapfree.study.stats import CONTROL

VERDICT_COLORS = {"better": "tab:green", "worse": "tab:red", "no detectable difference": "0.35",
                  "undefined": "0.7"}


def _panel(ax: Any, key: str, rows: list[tuple[str, Mapping[str, Any]]]) -> None:
    """One metric: a row per arm, its effect as a dot and its interval as a bar, coloured by the verdict."""
    for y, (_, effect) in enumerate(rows):
        color = VERDICT_COLORS[effect["verdict"]]
        if effect["ci95"] is not None:
            ax.hlines(y, *effect["ci95"], color=color, lw=2.5)
        if effect["mean"] is not None:
            ax.plot(effect["mean"], y, "o", color=color, ms=6, zorder=3)
        if effect["ci95"] is None:
            ax.annotate("no interval", (0, y), xytext=(4, 4), textcoords="offset points", fontsize=7, color=color)
    ax.axvline(0.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_title(metric_label(key), fontsize=10)
    arrow = "higher is better →" if higher_is_better(key) else "← lower is better"
    ax.set_xlabel(f"arm − {CONTROL}  ({arrow})", fontsize=8)
    ax.grid(alpha=0.3, axis="x")


def plot_forest(study: Mapping[str, Any], keys: Sequence[str], path: str | Path, dpi: int = 120) -> Path:
    """A panel per metric of `keys` that some arm has an effect on, a row per arm other than the control."""
    arms = [arm for arm in study["arms"] if arm["name"] != CONTROL]
    keys = [key for key in keys if any(key in arm["effect_vs_none"] for arm in arms)]
    if not keys:
        raise ValueError(f"{path}: no effects to plot (arms: {[arm['name'] for arm in study['arms']]})")
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=(4.3 * ncols, (0.35 * len(arms) + 1.3) * nrows + 1.0), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        _panel(ax, key, [(arm["name"], arm["effect_vs_none"][key]) for arm in arms if key in arm["effect_vs_none"]])
    for ax in axes[len(keys):]:
        ax.set_axis_off()
    handles = [Line2D([], [], color=color, marker="o", lw=2.5, label=name) for name, color in VERDICT_COLORS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    seeds = len(study["context"].get("seeds", []))
    fig.suptitle(f"Effect vs {CONTROL}: mean over training seeds of the paired difference, each run scored alone "
                 f"(dot), and its 95% t-interval over seeds (bar; up to {seeds} seeds per arm)", fontsize=10)
    save_figure_atomic(fig, path, dpi=dpi)
    return Path(path)
