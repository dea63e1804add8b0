"""Rotations, transforms and cameras against scipy and hand-computed cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from mapfree.geometry.camera import Camera, backproject, project, scale_intrinsics
from mapfree.geometry.rotations import angle_between_rotations_deg, matrix_to_quaternion, quaternion_to_matrix
from mapfree.geometry.transforms import camera_center, compose_pose, invert_pose, look_at, relative_pose

quaternions = st.lists(st.floats(-1, 1, allow_nan=False), min_size=4, max_size=4).filter(
    lambda q: np.linalg.norm(q) > 1e-3
)


@given(quaternions)
def test_quaternion_to_matrix_matches_scipy(q):
    q = np.array(q)
    expected = Rotation.from_quat(q[[1, 2, 3, 0]]).as_matrix()  # scipy is (x, y, z, w)
    np.testing.assert_allclose(quaternion_to_matrix(q), expected, atol=1e-12)


@given(quaternions)
def test_matrix_to_quaternion_round_trip(q):
    q = np.array(q) / np.linalg.norm(q)
    back = matrix_to_quaternion(quaternion_to_matrix(q))
    assert back[0] >= 0
    # q and -q are the same rotation: compare up to sign.
    assert min(np.abs(back - q).max(), np.abs(back + q).max()) < 1e-9


def test_matrix_to_quaternion_is_vectorised_and_handles_180_degrees():
    Rs = Rotation.from_rotvec([[np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi], [0.1, 0.2, 0.3]]).as_matrix()
    q = matrix_to_quaternion(Rs)
    np.testing.assert_allclose(quaternion_to_matrix(q), Rs, atol=1e-12)


def test_zero_quaternion_rejected():
    with pytest.raises(ValueError, match="zero-norm"):
        quaternion_to_matrix(np.zeros(4))


def test_angle_between_rotations():
    R = Rotation.from_rotvec([0, 0, np.deg2rad(30)]).as_matrix()
    assert angle_between_rotations_deg(np.eye(3), R) == pytest.approx(30.0)


@settings(max_examples=30)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.lists(st.floats(-5, 5), min_size=3, max_size=3))
def test_invert_and_relative_pose(rotvec, t):
    T = compose_pose(Rotation.from_rotvec(rotvec).as_matrix(), np.array(t))
    np.testing.assert_allclose(invert_pose(T) @ T, np.eye(4), atol=1e-9)
    np.testing.assert_allclose(relative_pose(T, T), np.eye(4), atol=1e-9)
    # The camera centre maps to the camera origin.
    np.testing.assert_allclose((T @ np.append(camera_center(T), 1))[:3], 0, atol=1e-9)


def test_look_at_uses_opencv_axes():
    T = look_at(np.array([0.0, -5.0, 1.0]), np.array([0.0, 0.0, 1.0]))
    target_cam = (T @ np.array([0, 0, 1.0, 1]))[:3]
    np.testing.assert_allclose(target_cam, [0, 0, 5], atol=1e-12)
    above_cam = (T @ np.array([0, 0, 2.0, 1]))[:3]
    assert above_cam[1] < 0  # y points down in the image


def test_scale_intrinsics_maps_pixel_edges():
    K = np.array([[500.0, 0, 269.5], [0, 500.0, 359.5], [0, 0, 1]])  # principal point at the image centre
    K2 = scale_intrinsics(K, 0.5, 0.5)
    # The centre of a 540x720 image is the centre of the 270x360 image.
    np.testing.assert_allclose(K2[:2, 2], [134.5, 179.5])
    np.testing.assert_allclose(np.diag(K2)[:2], [250.0, 250.0])
    # Projections scale consistently: x' = s (x + 0.5) - 0.5.
    X = np.array([0.3, -0.2, 2.0])
    np.testing.assert_allclose(project(X, K2), 0.5 * (project(X, K) + 0.5) - 0.5)


def test_backproject_inverts_project():
    K = np.array([[400.0, 0, 100], [0, 410.0, 120], [0, 0, 1]])
    pts = np.array([[0.5, -0.3, 2.0], [-1.0, 0.2, 7.5]])
    np.testing.assert_allclose(backproject(project(pts, K), pts[:, 2], K), pts)


def test_backproject_takes_numpy_and_batched_torch_alike():
    torch = pytest.importorskip("torch")
    K = np.array([[[400.0, 0, 100], [0, 410.0, 120], [0, 0, 1]], [[300.0, 0, 80], [0, 300.0, 60], [0, 0, 1]]])
    pixels, depth = np.random.default_rng(0).uniform(0, 200, (2, 5, 2)), np.linspace(1, 4, 10).reshape(2, 5)
    batched = backproject(torch.from_numpy(pixels), torch.from_numpy(depth), torch.from_numpy(K)).numpy()
    for b in range(2):
        np.testing.assert_array_equal(batched[b], backproject(pixels[b], depth[b], K[b]))
        np.testing.assert_allclose(project(batched[b], K[b]), pixels[b])


def test_camera_resize_and_crop_follow_the_pixel_rule():
    camera = Camera.from_matrix(np.array([[500.0, 0, 269.5], [0, 500.0, 359.5], [0, 0, 1]]), 540, 720)
    small = camera.resized((270, 360))
    np.testing.assert_array_equal(small.K, scale_intrinsics(camera.K, 0.5, 0.5))
    assert (small.width, small.height) == (270, 360)
    window = camera.cropped(10, 20, 100, 200)
    X = np.array([0.3, -0.2, 2.0])
    np.testing.assert_allclose(project(X, window.K), project(X, camera.K) - [10, 20])
    assert (window.width, window.height) == (100, 200)
