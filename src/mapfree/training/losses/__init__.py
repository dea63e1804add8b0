"""Training losses: MicKey's VCRE REINFORCE pose objective and depth supervision."""

from mapfree.training.losses.depth import DEPTH_LOSSES, depth_loss, depth_weight, per_image_depth_loss
from mapfree.training.losses.reinforce import (
    ReinforceConfig,
    ReinforceResult,
    reinforce_objective,
    score_function_term,
    vcre_pose_loss,
)
from mapfree.training.losses.vcre import symmetric_vcre, vcre_loss, virtual_grid

__all__ = [
    "DEPTH_LOSSES",
    "ReinforceConfig",
    "ReinforceResult",
    "depth_loss",
    "depth_weight",
    "per_image_depth_loss",
    "reinforce_objective",
    "score_function_term",
    "symmetric_vcre",
    "vcre_loss",
    "vcre_pose_loss",
    "virtual_grid",
]
