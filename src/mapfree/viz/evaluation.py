"""Plots of a benchmark evaluation: precision-recall curves and per-scene error distributions (PNG)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mapfree.atomic import save_figure_atomic
from mapfree.evaluation.evaluate import Evaluation
from mapfree.evaluation.metrics import PRCurve
from mapfree.viz.curves import plot_precision_recall
from mapfree.viz.style import styled

PR_TITLE = "Precision-recall by confidence (missing frames count as failures)"
TICK_PITCH_PT = 11.0
"""The least spacing of two named scenes (points): an upright 8 pt name and a gap."""
MAX_WIDTH_PX = 2400
"""The widest per-scene error figure."""
PLOT_FILES = ("precision_recall.png", "scene_errors.png")
"""The files `save_evaluation_plots` writes into its folder."""


def precision_recall_panels(evaluation: Evaluation) -> dict[str, dict[str, PRCurve]]:
    """The panels of an evaluation's precision-recall figure: the pose criterion, then every VCRE threshold."""
    pose = evaluation.thresholds.pose_label
    return {pose: {pose: evaluation.curves[pose]},
            "VCRE": {label: curve for label, curve in evaluation.curves.items() if label != pose}}


def scene_ticks(names: list[str], width_in: float) -> tuple[np.ndarray, list[str]]:
    """Positions and names of the scenes labelled on an axis `width_in` inches wide: every scene when their
    upright 8 pt names fit (:data:`TICK_PITCH_PT` apart), else every k-th."""
    step = max(1, math.ceil(len(names) * TICK_PITCH_PT / (width_in * 72)))
    positions = np.arange(0, len(names), step)
    return positions, [names[i] for i in positions]


@styled
def plot_scene_errors(evaluation: Evaluation, path: str | Path, dpi: int = 120) -> Path:
    """Per-scene box plots of translation, rotation and VCRE errors, with the thresholds; scenes
    without a pose file are marked. At most ~2400 px wide: past ~100 scenes, every k-th is named."""
    names = [row.scene for row in evaluation.scenes]
    frames = evaluation.frames
    t = evaluation.thresholds
    panels = (
        (frames.errors.translation, "translation error (m)", [(t.translation_m, f"{t.translation_m:g} m")]),
        (frames.errors.rotation, "rotation error (deg)", [(t.rotation_deg, f"{t.rotation_deg:g}°")]),
        (frames.errors.vcre, "VCRE (px)", [(px, f"{px:g} px") for px in t.vcre_px]),
    )
    width = min(max(8.0, 0.2 * len(names) + 2), MAX_WIDTH_PX / dpi)
    fig = Figure(figsize=(width, 9))
    axes = fig.subplots(3, 1, sharex=True)
    positions = np.arange(len(names))
    for ax, (values, ylabel, limits) in zip(axes, panels):
        per_scene = [np.maximum(values[frames.scene == name], 1e-6) for name in names]  # log axis
        has = [i for i, v in enumerate(per_scene) if len(v)]
        if has:
            ax.boxplot([per_scene[i] for i in has], positions=positions[has], widths=0.6, showfliers=False)
        for limit, label in limits:
            ax.axhline(limit, color="tab:red", lw=0.8, ls="--")
            ax.annotate(label, (1.0, limit), xycoords=("axes fraction", "data"), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=8, color="tab:red")
        for i, row in enumerate(evaluation.scenes):
            if not row.has_file:
                ax.axvspan(i - 0.5, i + 0.5, color="0.85", zorder=0)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y")
    ticks, labels = scene_ticks(names, width)
    axes[-1].set_xticks(ticks, labels, rotation=90, fontsize=8)
    axes[-1].set_xticks(positions, minor=True)
    axes[-1].set_xlim(-0.5, len(names) - 0.5)
    named = f", one in {ticks[1]} named" if len(ticks) < len(names) else ""
    axes[-1].set_xlabel(f"scene ({len(names)}{named})")
    axes[0].set_title("Per-scene errors (boxes: quartiles and median; whiskers: 1.5 IQR; dashed red: thresholds; "
                      "grey: no pose file)")
    save_figure_atomic(fig, path, dpi=dpi)
    return Path(path)


def save_evaluation_plots(evaluation: Evaluation, out_dir: str | Path) -> list[Path]:
    """Write the `PLOT_FILES` (precision-recall curves, per-scene errors) into `out_dir`."""
    curves, errors = (Path(out_dir) / name for name in PLOT_FILES)
    curves.parent.mkdir(parents=True, exist_ok=True)
    plot_precision_recall(precision_recall_panels(evaluation), curves, PR_TITLE)
    return [curves, plot_scene_errors(evaluation, errors)]
