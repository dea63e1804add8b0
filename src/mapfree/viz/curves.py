"""Curves: precision-recall by confidence (of an evaluation or of several runs) and metrics during training."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mapfree.atomic import save_figure_atomic
from mapfree.evaluation.metrics import PRCurve
from mapfree.viz.style import styled

MARKERS = "os^Dv<>p"
"""Distinct markers of the curves on one axis, so equal curves stay visible."""
MAX_MARKERS = 50
"""A long curve marks about this many of its points."""


@styled
def plot_precision_recall(panels: Mapping[str, Mapping[str, PRCurve]], path: str | Path, title: str,
                          dpi: int = 100) -> Figure:
    """Precision against recall as the confidence threshold falls: a panel per {title: {legend name: curve}},
    the legend giving each curve's AUC.

    Over a recall interval the step shows the precision the AUC multiplies it by (frames without an
    estimate count as failures, so recall ends below 1 when some are missing).
    """
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (panel, curves) in zip(axes, panels.items()):
        for (name, curve), marker in zip(curves.items(), itertools.cycle(MARKERS)):
            ax.step(np.r_[0.0, curve.recall], np.r_[curve.precision[:1], curve.precision], where="pre",
                    marker=marker, ms=4, markevery=max(1, len(curve.recall) // MAX_MARKERS),
                    label=f"{name} (AUC {curve.auc:.3f})")
        ax.set(title=panel, xlabel="recall (estimates kept / scored query frames)", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(True)
        ax.legend(loc="upper right")
    axes[0].set_ylabel("precision")
    fig.suptitle(title)
    save_figure_atomic(fig, path, dpi=dpi)
    return fig


@styled
def plot_training_curves(histories: Mapping[str, Sequence[Mapping[str, float]]],
                         panels: Sequence[tuple[str, str, tuple[float, float] | None]], path: str | Path,
                         dpi: int = 100) -> Figure:
    """A panel per (metric key, title, y limits or None: from 0) of `panels`, a curve per run of `histories`
    ({run: the logged rows, each with its `step`}). A panel with nothing to draw says why; one with a
    single value per run says that too."""
    fig = Figure(figsize=(13, 3.8))
    for ax, (key, title, ylim) in zip(fig.subplots(1, len(panels)), panels):
        counts, last, top = [], 1.0, 1.0
        for k, (name, history) in enumerate(histories.items()):
            rows = [r for r in history if key in r]
            counts.append(len(rows))
            if rows:  # distinct, shrinking markers: equal values stay visible
                ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker=MARKERS[k % 4], ms=9 - 2 * (k % 4),
                        label=name)
                last, top = max(last, rows[-1]["step"]), max(top, *(r[key] for r in rows))
        ax.set(title=title, xlabel="training step", xlim=(0, 1.08 * last))
        ax.set_ylim(*(ylim or (0, 1.1 * top)))
        ax.grid(True)
        if max(counts, default=0) == 0:
            why = ("validation logged no finite value\nof this metric" if any(histories.values()) else
                   "no validation ran\n(training ended before the first\ntrainer.check_val_every_n_epoch)")
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
            continue
        ax.legend(loc="best")
        if max(counts) == 1:
            ax.text(0.5, 0.04, "one validation per run (after the last epoch)", ha="center", va="bottom",
                    transform=ax.transAxes, fontsize=8, color="0.35")
    save_figure_atomic(fig, path, dpi=dpi)
    return fig
