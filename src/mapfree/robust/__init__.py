"""Robust two-view metric pose solvers: MicKey's probabilistic Procrustes RANSAC and baselines.

Import solvers from their modules (`mapfree.robust.procrustes_ransac`, `.essential`, `.pnp`);
this package only re-exports the Procrustes RANSAC API and the shared result type.
"""

from mapfree.robust.procrustes_ransac import (
    ProcrustesRansacConfig,
    RansacOutput,
    mickey_pose_solver,
    procrustes_ransac,
)
from mapfree.robust.result import RelativePose

__all__ = [
    "RansacOutput",
    "ProcrustesRansacConfig",
    "RelativePose",
    "mickey_pose_solver",
    "procrustes_ransac",
]
