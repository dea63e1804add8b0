"""Pure geometry: rotations, rigid transforms and pinhole cameras (NumPy, no torch)."""

from mapfree.geometry.camera import backproject, project, scale_intrinsics
from mapfree.geometry.rotations import (
    angle_between_rotations_deg,
    matrix_to_quaternion,
    quaternion_to_matrix,
)
from mapfree.geometry.transforms import (
    camera_center,
    compose_pose,
    invert_pose,
    relative_pose,
)

__all__ = [
    "angle_between_rotations_deg",
    "backproject",
    "camera_center",
    "compose_pose",
    "invert_pose",
    "matrix_to_quaternion",
    "project",
    "quaternion_to_matrix",
    "relative_pose",
    "scale_intrinsics",
]
