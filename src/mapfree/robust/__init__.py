"""Robust two-view metric pose solvers: MicKey's probabilistic Procrustes RANSAC and baselines.

Import solvers from their modules (`mapfree.robust.procrustes_ransac`, `.essential`, `.pnp`);
this package only re-exports the Procrustes RANSAC's configuration, MicKey's solver and the shared result type
(the one-to-one solver shares its module's name: `from mapfree.robust.procrustes_ransac import procrustes_ransac`).
"""

from mapfree.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "RansacOutput": "mapfree.robust.procrustes_ransac",
    "ProcrustesRansacConfig": "mapfree.robust.ransac_config",
    "RelativePose": "mapfree.robust.result",
    "mickey_pose_solver": "mapfree.robust.procrustes_ransac",
})
__all__ = ["RansacOutput", "ProcrustesRansacConfig", "RelativePose", "mickey_pose_solver"]
