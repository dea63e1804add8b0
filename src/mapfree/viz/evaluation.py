"""Plots of a benchmark evaluation: precision-recall curves and per-scene error distributions (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mapfree.atomic import save_figure_atomic
from mapfree.evaluation.evaluate import Evaluation


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_precision_recall(evaluation: Evaluation, path: str | Path) -> Path:
    """Precision against recall as the confidence threshold falls: pose criterion left, VCRE right."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    pose_label = evaluation.thresholds.pose_label
    for ax, labels in ((axes[0], [pose_label]), (axes[1], [k for k in evaluation.curves if k != pose_label])):
        for label in labels:
            curve = evaluation.curves[label]
            ax.step(np.r_[0.0, curve.recall], np.r_[1.0, curve.precision], where="pre",
                    label=f"{label}  (AUC {curve.auc:.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall (estimates kept / all scored frames)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    axes[0].set_ylabel("precision")
    fig.suptitle("Precision-recall by confidence (missing frames count as failures)")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_scene_errors(evaluation: Evaluation, path: str | Path) -> Path:
    """Per-scene box plots of translation, rotation and VCRE errors, with the thresholds; scenes
    without a pose file are marked."""
    plt = _pyplot()
    names = [row.scene for row in evaluation.scenes]
    frames = evaluation.frames
    t = evaluation.thresholds
    panels = (
        (frames.errors.translation, "translation error (m)", [t.translation_m]),
        (frames.errors.rotation, "rotation error (deg)", [t.rotation_deg]),
        (frames.errors.vcre, "VCRE (px)", list(t.vcre_px)),
    )
    fig, axes = plt.subplots(3, 1, figsize=(max(8.0, 0.18 * len(names) + 2), 9), sharex=True)
    positions = np.arange(len(names))
    for ax, (values, ylabel, limits) in zip(axes, panels):
        per_scene = [np.maximum(values[frames.scene == name], 1e-6) for name in names]  # log axis
        has = [i for i, v in enumerate(per_scene) if len(v)]
        if has:
            ax.boxplot([per_scene[i] for i in has], positions=positions[has], widths=0.6, showfliers=False)
        for limit in limits:
            ax.axhline(limit, color="tab:red", lw=0.8, ls="--")
        for i, row in enumerate(evaluation.scenes):
            if not row.has_file:
                ax.axvspan(i - 0.5, i + 0.5, color="0.85", zorder=0)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
    axes[-1].set_xticks(positions, names, rotation=90, fontsize=7)
    axes[-1].set_xlim(-0.5, len(names) - 0.5)
    axes[0].set_title("Per-scene errors (boxes: quartiles; dashed: thresholds; grey: no pose file)")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=100)
    plt.close(fig)
    return Path(path)


def save_evaluation_plots(evaluation: Evaluation, out_dir: str | Path) -> list[Path]:
    """Write `precision_recall.png` and `scene_errors.png` into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [plot_precision_recall(evaluation, out_dir / "precision_recall.png"),
            plot_scene_errors(evaluation, out_dir / "scene_errors.png")]
