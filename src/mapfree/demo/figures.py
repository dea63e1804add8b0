"""The demo's figures: precision-recall curves, training curves, depth maps, sample matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mapfree.atomic import save_figure_atomic
from mapfree.demo.report import POSE
from mapfree.evaluation.evaluate import Evaluation
from mapfree.training.metric_names import POSE_AUC, vcre_metric


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_precision_recall(evaluations: dict[str, Evaluation], vcre_label: str, path: Path) -> Path:
    """Pose and VCRE precision-recall curves of every method on one figure."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, label in zip(axes, (POSE, vcre_label)):
        for name, evaluation in evaluations.items():
            curve = evaluation.curves[label]
            ax.step(np.r_[0, curve.recall], np.r_[curve.precision[:1], curve.precision], where="post",
                    label=f"{name} (AUC {curve.auc:.3f})")
        ax.set(title=label, xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=100)
    plt.close(fig)
    return path


def plot_training_curves(histories: dict[str, list[dict[str, float]]], vcre_px: float, path: Path) -> Path:
    """Validation VCRE AUC (at `vcre_px`, the run's first threshold), pose AUC and depth AbsRel
    after every validation, per run."""
    plt = _pyplot()
    keys = [(f"val/{vcre_metric(vcre_px)}", f"val VCRE AUC ({vcre_px:g} px)"), (f"val/{POSE_AUC}", "val pose AUC"),
            ("val/depth_abs_rel", "val depth AbsRel")]
    fig, axes = plt.subplots(1, len(keys), figsize=(13, 3.6))
    for ax, (key, title) in zip(axes, keys):
        for name, history in histories.items():
            rows = [r for r in history if key in r]
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="o", label=name)
        ax.set(title=title, xlabel="training step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=100)
    plt.close(fig)
    return path


def plot_depth_maps(images: list[np.ndarray], truths: list[np.ndarray], predictions: dict[str, list[np.ndarray]],
                    path: Path) -> Path:
    """Rows of val frames: image, true patch depth, and each model's predicted patch depth (same colour scale)."""
    plt = _pyplot()
    cols = 2 + len(predictions)
    fig, axes = plt.subplots(len(images), cols, figsize=(2.6 * cols, 3.2 * len(images)), squeeze=False)
    for row, image, truth, k in zip(axes, images, truths, range(len(images))):
        vmax = float(np.nanpercentile(truth, 98))
        panels = [("image", image, None), ("true depth (patch mean)", truth, "turbo")]
        panels += [(name, preds[k], "turbo") for name, preds in predictions.items()]
        for ax, (title, data, cmap) in zip(row, panels):
            if cmap is None:
                ax.imshow(data)
            else:
                ax.imshow(data, cmap=cmap, vmin=0, vmax=vmax)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=90)
    plt.close(fig)
    return path
