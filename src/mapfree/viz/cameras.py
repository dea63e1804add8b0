"""A 3D view of a pair's cameras: the reference, the true query and the estimated query (frusta)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from mapfree.atomic import save_figure_atomic
from mapfree.geometry.camera import Camera
from mapfree.geometry.rotations import angle_between_rotations_deg
from mapfree.viz.style import styled

if TYPE_CHECKING:
    from mpl_toolkits.mplot3d.axes3d import Axes3D

_TO_PLOT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""Reference-camera coordinates (x right, y down, z forward) to plot axes (x, z, -y): up is up."""


@dataclass(frozen=True)
class CameraPose:
    """A camera in the reference camera's frame: world-to-camera R, t (x_cam = R x_ref + t) and its intrinsics."""

    label: str
    R: np.ndarray
    t: np.ndarray
    camera: Camera
    color: str
    linestyle: str = "-"

    @property
    def center(self) -> np.ndarray:
        """The camera centre in reference coordinates, -R^T t."""
        return -np.asarray(self.R).T @ np.asarray(self.t)

    def frustum(self, depth: float) -> np.ndarray:
        """(5, 3) reference coordinates: the centre, then the image corners at `depth` metres (clockwise)."""
        camera = self.camera.numpy()
        w, h = camera.width, camera.height
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
        rays = camera.backproject(corners, np.full(4, float(depth)))
        return np.vstack([self.center, (rays - np.asarray(self.t)) @ np.asarray(self.R)])


def pose_errors(estimate: CameraPose, truth: CameraPose) -> tuple[float, float]:
    """The benchmark's errors: camera-centre distance (m) and rotation angle (deg)."""
    return (float(np.linalg.norm(estimate.center - truth.center)),
            float(angle_between_rotations_deg(np.asarray(truth.R), np.asarray(estimate.R))))


@dataclass(frozen=True)
class CameraPanel:
    """One 3D view: its cameras, a title and, given, the estimate's pose errors (m, deg)."""

    cameras: list[CameraPose]
    title: str = ""
    errors: tuple[float, float] | None = None


def _draw_cameras(ax: Axes3D, panel: CameraPanel) -> None:
    """Frusta of the panel's cameras on metric axes with equal aspect, a legend and the errors in the title."""
    cameras = panel.cameras
    centers = np.array([c.center for c in cameras])
    spread = float(np.ptp(centers, axis=0).max()) if len(cameras) > 1 else 0.0
    depth = max(0.2 * spread, 0.2)
    points = []
    for camera in cameras:
        f = camera.frustum(depth) @ _TO_PLOT.T
        points.append(f)
        for corner in f[1:]:
            ax.plot(*np.stack([f[0], corner]).T, color=camera.color, lw=1.2, ls=camera.linestyle)
        ax.plot(*f[[1, 2, 3, 4, 1]].T, color=camera.color, lw=2.0, ls=camera.linestyle, label=camera.label)
        ax.plot(*f[[1, 2]].T, color=camera.color, lw=4.0, ls=camera.linestyle)  # the image's top edge
        ax.scatter(*f[0], color=camera.color, s=30, depthshade=False)
    points = np.concatenate(points)
    middle, half = (points.max(0) + points.min(0)) / 2, np.ptp(points, axis=0).max() / 2 * 1.1
    ax.set(xlim=(middle[0] - half, middle[0] + half), ylim=(middle[1] - half, middle[1] + half),
           zlim=(middle[2] - half, middle[2] + half), xlabel="x, right (m)", ylabel="z, forward (m)",
           zlabel="-y, up (m)")
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=25, azim=-60)
    ax.legend(loc="upper left", title="frusta (thick edge: image top)")
    heading = [panel.title] if panel.title else []
    if panel.errors is not None:
        heading.append(f"translation error {panel.errors[0]:.2f} m, rotation error {panel.errors[1]:.1f}°")
    heading.append("reference camera frame, metres")
    ax.set_title("\n".join(heading))


@styled
def plot_camera_panels(panels: Sequence[CameraPanel], path: str | Path, title: str = "", dpi: int = 120) -> Figure:
    """The 3D views of `panels` side by side (see :func:`plot_cameras`)."""
    width = 8.5 if len(panels) == 1 else 7.0  # two views stay within ~1700 px at 120 dpi
    fig = Figure(figsize=(width * len(panels), 7.5 + (0.4 if title else 0.0)))
    views = fig
    if title:  # its own strip: the layout leaves no room for a suptitle above 3D axes' titles
        heading, views = fig.subfigures(2, 1, height_ratios=(0.4, 7.5))
        heading.suptitle(title)
    for k, panel in enumerate(panels):
        _draw_cameras(views.add_subplot(1, len(panels), k + 1, projection="3d"), panel)
    save_figure_atomic(fig, path, dpi=dpi)
    return fig


def plot_cameras(cameras: list[CameraPose], path: str | Path, title: str = "",
                 errors: tuple[float, float] | None = None, dpi: int = 120) -> Figure:
    """Frusta of `cameras` on metric axes with equal aspect, a legend and, given, the pose `errors` in the title."""
    return plot_camera_panels([CameraPanel(cameras, title, errors)], path, dpi=dpi)
