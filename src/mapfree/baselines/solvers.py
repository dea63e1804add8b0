"""The metric solvers a baseline can use, behind one signature.

Each takes matches (N, 2) in both images, both cameras, depths (N,) (NaN where unknown)
and optionally the matches' scores (N,), and returns a :class:`~mapfree.robust.result.RelativePose`;
`needs_depth` says which images' depths it reads, so the pipeline never computes a depth it will
not use. Only Procrustes RANSAC uses the scores (they weight its minimal sets, as MicKey's match
probabilities do); OpenCV's essential-matrix and PnP RANSAC sample uniformly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mapfree.geometry.camera import Camera
from mapfree.registry import Registry
from mapfree.robust.essential import EssentialConfig, solve_essential_metric
from mapfree.robust.pnp import PnPConfig, solve_pnp
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig, procrustes_ransac
from mapfree.robust.result import RelativePose

Array = np.ndarray
SolveFn = Callable[[Array, Array, Camera, Camera, Array | None, Array | None, Array | None], RelativePose]


@dataclass(frozen=True)
class Solver:
    name: str
    solve: SolveFn = field(repr=False)
    needs_depth: tuple[bool, bool]

    def __call__(self, kpts0: Array, kpts1: Array, camera0: Camera, camera1: Camera, depth0: Array | None,
                 depth1: Array | None, scores: Array | None = None) -> RelativePose:
        return self.solve(kpts0, kpts1, camera0, camera1, depth0, depth1, scores)


SOLVERS: Registry[Callable[[], Solver]] = Registry("solver")
"""Solver name -> factory of the solver with its default settings."""


@SOLVERS.register("emat")
def essential_solver(config: EssentialConfig = EssentialConfig()) -> Solver:
    """Essential matrix + scale from both images' depths."""
    return Solver("emat", lambda k0, k1, c0, c1, d0, d1, _: solve_essential_metric(k0, k1, c0.K, c1.K, d0, d1, config),
                  (True, True))


@SOLVERS.register("pnp")
def pnp_solver(config: PnPConfig = PnPConfig()) -> Solver:
    """PnP on image 0's lifted matches; image 1's depth is never read."""
    return Solver("pnp", lambda k0, k1, c0, c1, d0, d1, _: solve_pnp(k0, k1, c0.K, c1.K, d0, d1, config), (True, False))


@SOLVERS.register("procrustes")
def procrustes_solver(config: ProcrustesRansacConfig = ProcrustesRansacConfig(), seed: int = 0) -> Solver:
    """Both images' matches lifted with their depths, then 3D-3D Procrustes RANSAC (MicKey's
    thresholds), minimal sets drawn in proportion to the match scores; seeded, so a submission is
    reproducible."""

    def solve(k0, k1, camera0, camera1, d0, d1, scores) -> RelativePose:
        X0, X1 = camera0.backproject(k0, d0), camera1.backproject(k1, d1)
        return procrustes_ransac(X0, X1, weights=scores, config=config, generator=seed)

    return Solver("procrustes", solve, (True, True))
