"""The demo's figures: precision-recall curves, training curves and depth panels (matches and cameras: `viz.pair`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mapfree.atomic import save_figure_atomic
from mapfree.demo.report import POSE
from mapfree.evaluation.evaluate import Evaluation
from mapfree.training.metric_names import POSE_AUC, vcre_metric
from mapfree.viz.depth import DepthRow, plot_depth_panels


def plot_precision_recall(evaluations: dict[str, Evaluation], vcre_label: str, path: Path) -> Path:
    """Pose and VCRE precision-recall curves of every method on one figure."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, label in zip(fig.subplots(1, 2), (POSE, vcre_label)):
        for name, evaluation in evaluations.items():
            curve = evaluation.curves[label]
            ax.step(np.r_[0, curve.recall], np.r_[curve.precision[:1], curve.precision], where="post",
                    label=f"{name} (AUC {curve.auc:.3f})")
        ax.set(title=label, xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(fontsize=7)
    save_figure_atomic(fig, path, dpi=100)
    return path


def plot_training_curves(histories: dict[str, list[dict[str, float]]], vcre_px: float, path: Path) -> Figure:
    """Validation VCRE AUC (at `vcre_px`, the run's first threshold), pose AUC and depth AbsRel
    after every validation, per run. An axis with nothing to draw says so; one with a single
    validation per run says that too."""
    keys = [(f"val/{vcre_metric(vcre_px)}", f"val VCRE AUC ({vcre_px:g} px)", (-0.02, 1.02)),
            (f"val/{POSE_AUC}", "val pose AUC", (-0.02, 1.02)), ("val/depth_abs_rel", "val depth AbsRel", None)]
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    for ax, (key, title, ylim) in zip(fig.subplots(1, len(keys)), keys):
        counts, last, top = [], 1.0, 1.0
        for k, (name, history) in enumerate(histories.items()):
            rows = [r for r in history if key in r]
            counts.append(len(rows))
            if rows:  # distinct, shrinking markers: equal values stay visible
                ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="os^D"[k % 4], ms=9 - 2 * (k % 4),
                        label=name)
                last, top = max(last, rows[-1]["step"]), max(top, *(r[key] for r in rows))
        ax.set(title=title, xlabel="training step", xlim=(0, 1.08 * last))
        ax.set_ylim(*(ylim or (0, 1.1 * top)))
        ax.grid(alpha=0.3)
        if max(counts, default=0) == 0:
            why = ("validation logged no finite value\nof this metric" if any(histories.values()) else
                   "no validation ran\n(training ended before the first\ntrainer.check_val_every_n_epoch)")
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
            continue
        ax.legend(fontsize=8, loc="best")
        if max(counts) == 1:
            ax.text(0.5, 0.04, "one validation per run (after the last epoch)", ha="center", va="bottom",
                    transform=ax.transAxes, fontsize=8, color="0.35")
    save_figure_atomic(fig, path, dpi=100)
    return fig


def plot_depth_maps(rows: list[DepthRow], path: Path) -> Figure:
    """Val frames: true patch depth, the teacher's prior and each model's prediction on one metre scale,
    with their relative errors against the truth."""
    return plot_depth_panels(rows, path, "Patch depth of val frames (patch means of the rendered depth as truth)")
