"""map-free-reloc's relative pose regressor (RPR) and FAR built on it, loading the released checkpoints.

`RelPoseRegressor` is map-free-reloc's "rot6d_trans" or "3d3d" network; `FARNet` is FAR's learned part and
`far_pose` runs FAR on a pair given matches (two passes, the second with the prior-guided RANSAC).
"""

from mapfree.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "FARConfig": "mapfree.models.far.config",
    "RegressionConfig": "mapfree.models.far.config",
    "FARNet": "mapfree.models.far.far",
    "FARPass": "mapfree.models.far.far",
    "far_pose": "mapfree.models.far.far",
    "RelPoseRegressor": "mapfree.models.far.rpr",
})
__all__ = ["FARConfig", "RegressionConfig", "FARNet", "FARPass", "far_pose", "RelPoseRegressor"]
