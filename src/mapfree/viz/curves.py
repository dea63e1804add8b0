"""Curves: precision-recall by confidence (of an evaluation or of several runs) and metrics during training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mapfree.atomic import save_figure_atomic
from mapfree.evaluation.metrics import PRCurve
from mapfree.viz.style import styled

MARKERS = "os^Dv<>p"
"""Distinct markers of the curves on one axis, so equal curves stay visible."""
LINESTYLES = ("-", "--", ":", "-.")
"""Line styles of the training curves, cycled with the markers."""
MAX_MARKERS = 50
"""A long curve marks about this many of its points."""


@styled
def plot_precision_recall(panels: Mapping[str, Mapping[str, PRCurve]], path: str | Path, title: str,
                          dpi: int = 100) -> Figure:
    """Precision against recall as the confidence threshold falls: a panel per {title: {legend name: curve}},
    the legend giving each curve's AUC.

    Over a recall interval the step shows the precision the AUC multiplies it by (frames without an
    estimate count as failures, so recall ends below 1 when some are missing). Curves differ in line
    style and hollow marker size, so equal ones show through each other; the legend names them.
    """
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (panel, curves) in zip(axes, panels.items()):
        first: dict[tuple[bytes, bytes], str] = {}  # equal curves are drawn on top of each other: say so
        for k, (name, curve) in enumerate(curves.items()):
            same = first.setdefault((curve.recall.tobytes(), curve.precision.tobytes()), name)
            ax.step(np.r_[0.0, curve.recall], np.r_[curve.precision[:1], curve.precision], where="pre",
                    marker=MARKERS[k % len(MARKERS)], ms=max(3, 9 - k), mfc="none",
                    ls=LINESTYLES[k % len(LINESTYLES)], markevery=max(1, len(curve.recall) // MAX_MARKERS),
                    label=f"{name} (AUC {curve.auc:.3f})" + (f", same curve as {same}" if same != name else ""))
        ax.set(title=panel, xlabel="recall (estimates kept / scored query frames)", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(True)
        ax.legend(loc="upper right")
    axes[0].set_ylabel("precision")
    fig.suptitle(title)
    save_figure_atomic(fig, path, dpi=dpi)
    return fig


def dodge(histories: Mapping[str, Sequence[Mapping[str, float]]]) -> float:
    """How far (in steps) the runs' points spread either side of their validation step, so equal values stand
    side by side: a fifth of the smallest gap between the steps validated (0 counted as one); 0 without any."""
    steps = np.unique([0.0, *(r["step"] for history in histories.values() for r in history)])
    return 0.2 * float(np.diff(steps).min()) if len(steps) > 1 else 0.0


@styled
def plot_training_curves(histories: Mapping[str, Sequence[Mapping[str, float]]],
                         panels: Sequence[tuple[str, str, tuple[float, float] | None]], path: str | Path,
                         dpi: int = 100) -> Figure:
    """A panel per (metric key, title, y limits or None: from 0) of `panels`, a curve per run of `histories`
    ({run: the logged rows, each with its `step`}), told apart by colour, marker and line style and
    drawn side by side (:func:`dodge`), as the legend says. A panel with nothing to draw says why; one
    with a single value per run says that too."""
    fig = Figure(figsize=(14, 3.8))
    half = dodge(histories)
    shifts = np.linspace(-half, half, len(histories)) if len(histories) > 1 else np.zeros(1)
    last = max([1.0, *(r["step"] for history in histories.values() for r in history)])
    handles = {}
    for ax, (key, title, ylim) in zip(fig.subplots(1, len(panels)), panels):
        counts, top = [], 1.0
        for k, ((name, history), shift) in enumerate(zip(histories.items(), shifts)):
            rows = [r for r in history if key in r]
            counts.append(len(rows))
            if rows:
                handles[name], = ax.plot([r["step"] + shift for r in rows], [r[key] for r in rows], color=f"C{k}",
                                         marker=MARKERS[k % len(MARKERS)], ms=6, ls=LINESTYLES[k % len(LINESTYLES)],
                                         label=name)
                top = max(top, *(r[key] for r in rows))
        ax.set(title=title, xlabel="training step", xlim=(0, 1.08 * last + half))
        ax.set_ylim(*(ylim or (0, 1.1 * top)))
        ax.grid(True)
        if max(counts, default=0) == 0:
            why = ("validation logged no finite value\nof this metric" if any(histories.values()) else
                   "no validation ran\n(training ended before the first\ntrainer.check_val_every_n_epoch)")
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
        elif max(counts) == 1:
            ax.text(0.5, 0.04, "one validation per run (after the last epoch)", ha="center", va="bottom",
                    transform=ax.transAxes, fontsize=8, color="0.35")
    if handles:
        side_by_side = half and len(handles) > 1
        note = f"runs side by side:\nwithin ±{half:.3g} steps\nof each validation" if side_by_side else None
        fig.legend(handles=list(handles.values()), loc="outside right upper", title=note, title_fontsize=8)
    save_figure_atomic(fig, path, dpi=dpi)
    return fig
