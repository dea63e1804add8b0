"""A 3D view of a pair's cameras: the reference, the true query and the estimated query (frusta)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mapfree.atomic import save_figure_atomic
from mapfree.geometry.camera import Camera
from mapfree.geometry.rotations import angle_between_rotations_deg
from mapfree.viz.style import styled

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


@styled
def plot_cameras(cameras: list[CameraPose], path: str | Path, title: str = "",
                 errors: tuple[float, float] | None = None, dpi: int = 120) -> Figure:
    """Frusta of `cameras` on metric axes with equal aspect, a legend and, given, the pose `errors` in the title."""
    centers = np.array([c.center for c in cameras])
    spread = float(np.ptp(centers, axis=0).max()) if len(cameras) > 1 else 0.0
    depth = max(0.2 * spread, 0.2)
    fig = Figure(figsize=(8.5, 7.5))
    ax = fig.add_subplot(projection="3d")
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
    heading = [title] if title else []
    if errors is not None:
        heading.append(f"translation error {errors[0]:.2f} m, rotation error {errors[1]:.1f}°")
    heading.append("reference camera frame, metres")
    ax.set_title("\n".join(heading))
    save_figure_atomic(fig, path, dpi=dpi)
    return fig
