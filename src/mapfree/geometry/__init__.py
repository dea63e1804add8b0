"""Geometry: rotations, rigid transforms, pinhole cameras, covisibility (NumPy). The torch
module `mapfree.geometry.procrustes` (differentiable weighted Kabsch) is imported on its own
so that `import mapfree.geometry` stays torch-free."""

from mapfree.geometry.camera import Camera, backproject, project, scale_intrinsics
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
    "Camera",
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
