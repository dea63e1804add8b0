"""Figures of one MicKey pose estimate: its matches, its depth and confidence maps, and its cameras in 3D."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from mapfree.viz.cameras import CameraPanel, CameraPose, plot_camera_panels, pose_errors
from mapfree.viz.depth import DepthRow, plot_depth_panels
from mapfree.viz.matches import MatchPanel, plot_match_panels

if TYPE_CHECKING:
    from mapfree.geometry.camera import Camera
    from mapfree.models.mickey import Features
    from mapfree.models.pose import MicKeyPose

PAIR_FIGURES = ("matches.png", "depth_confidence.png", "cameras.png")
"""The files `save_pair_figures` writes, in its order."""

REFERENCE_COLOR, TRUTH_COLOR, ESTIMATE_COLOR = "0.25", "tab:green", "tab:orange"


def _maps(features: Features) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) patch depth in metres and confidence of a one-image batch."""
    h, w = features.grid
    return (features.depth[0].float().reshape(h, w).cpu().numpy(),
            features.scr[0].float().reshape(h, w).cpu().numpy())


def match_panel(result: MicKeyPose, image0: np.ndarray, image1: np.ndarray, title: str = "") -> MatchPanel:
    """The winning RANSAC round's correspondences: inliers coloured by probability, outliers red."""
    i, j = result.matches.T
    return MatchPanel(image0, image1, result.features0.kpts[0].cpu().numpy()[i],
                      result.features1.kpts[0].cpu().numpy()[j], result.match_scores, result.inliers, title)


def pair_matches(result: MicKeyPose, image0: np.ndarray, image1: np.ndarray, path: str | Path,
                 title: str = "") -> Figure:
    """The figure of :func:`match_panel`."""
    return plot_match_panels([match_panel(result, image0, image1, title)], path)


def pair_depths(result: MicKeyPose, image0: np.ndarray, image1: np.ndarray, path: str | Path,
                title: str = "") -> Figure:
    """Both images with their predicted patch depths (one metre scale) and confidences (one scale spanning
    their percentiles)."""
    rows = []
    for label, image, features in (("reference", image0, result.features0), ("query", image1, result.features1)):
        depth, confidence = _maps(features)
        rows.append(DepthRow(image, {"predicted depth": depth}, confidences={"confidence": confidence}, label=label))
    return plot_depth_panels(rows, path, title)


def camera_panel(result: MicKeyPose, camera0: Camera, camera1: Camera,
                 truth: tuple[np.ndarray, np.ndarray] | None = None, title: str = "") -> CameraPanel:
    """The reference camera, the estimated query camera (if any) and, given `truth` (R, t), the true one."""
    cameras = [CameraPose("reference", np.eye(3), np.zeros(3), camera0, REFERENCE_COLOR)]
    true = None if truth is None else CameraPose("query, true", *truth, camera1, TRUTH_COLOR)
    estimate = (CameraPose("query, estimated", result.R, result.t, camera1, ESTIMATE_COLOR, "--")
                if result.valid else None)
    cameras += [c for c in (true, estimate) if c is not None]
    if estimate is None:
        title = f"{title}{' ' if title else ''}(no estimate)"
    errors = pose_errors(estimate, true) if estimate is not None and true is not None else None
    return CameraPanel(cameras, title, errors)


def pair_cameras(result: MicKeyPose, camera0: Camera, camera1: Camera, path: str | Path,
                 truth: tuple[np.ndarray, np.ndarray] | None = None, title: str = "") -> Figure:
    """The figure of :func:`camera_panel`."""
    return plot_camera_panels([camera_panel(result, camera0, camera1, truth, title)], path)


def save_pair_figures(out_dir: str | Path, result: MicKeyPose, image0: np.ndarray, image1: np.ndarray,
                      camera0: Camera, camera1: Camera) -> list[Path]:
    """Write `PAIR_FIGURES` into `out_dir` for the (H, W, 3) uint8 images and their cameras."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pair_matches(result, image0, image1, out / PAIR_FIGURES[0], "MicKey")
    pair_depths(result, image0, image1, out / PAIR_FIGURES[1], "MicKey depth and confidence")
    pair_cameras(result, camera0, camera1, out / PAIR_FIGURES[2], title="MicKey estimate")
    return [out / name for name in PAIR_FIGURES]
