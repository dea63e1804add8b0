"""Patch targets from depth and relative pose: where a view's patch centres land in another view."""

import torch

from mapfree.geometry.camera import Camera, intrinsics_matrix
from mapfree.geometry.reprojection import reprojected_patch_targets

GRID = (2, 3)
H, W = 28, 42
CAMERA = Camera(torch.as_tensor(intrinsics_matrix(20.0, 20.0, 20.5, 13.5), dtype=torch.float32)[None],
                torch.tensor([[float(W), float(H)]]))


def _pose(tx: float = 0.0) -> torch.Tensor:
    T = torch.eye(4)[None].clone()
    T[0, 0, 3] = tx
    return T


def _targets(depth0: torch.Tensor, depth1: torch.Tensor, T: torch.Tensor):
    return reprojected_patch_targets(depth0[None], depth1[None], CAMERA, CAMERA, T, GRID, 14)


def test_the_same_view_targets_every_patch_itself():
    depth = torch.full((H, W), 3.0)
    target, visible = _targets(depth, depth, _pose())
    assert visible.all() and torch.equal(target[0], torch.arange(6))


def test_a_sideways_move_by_one_patch_shifts_the_targets_and_drops_what_leaves_the_view():
    """A wall 2 m away: moving the camera 1.4 m to the left moves the image 14 px = one patch to the right."""
    depth = torch.full((H, W), 2.0)
    target, visible = _targets(depth, depth, _pose(tx=1.4))
    assert visible[0].tolist() == [True, True, False, True, True, False]
    assert target[0][visible[0]].tolist() == [1, 2, 4, 5]


def test_occluded_and_unknown_points_are_not_visible():
    depth0 = torch.full((H, W), 3.0)
    depth0[:14, :14] = float("nan")  # patch 0 has no depth (sky)
    depth1 = torch.full((H, W), 3.0)
    depth1[14:, 28:] = 1.0  # something 1 m away hides patch 5 in view 1
    target, visible = _targets(depth0, depth1, _pose())
    assert visible[0].tolist() == [False, True, True, True, True, False]
    assert ((target >= 0) & (target < 6)).all()  # indices stay usable where not visible
