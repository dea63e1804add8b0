"""The one Camera: NumPy and torch alike, batched as per item, collated by torch, round trips of its operations."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from mapfree.geometry.camera import Camera, intrinsics_matrix, scale_intrinsics

K0 = intrinsics_matrix(500.0, 505.0, 269.5, 359.5)
K1 = intrinsics_matrix(320.0, 318.0, 161.0, 118.5)


def _numpy_batch() -> Camera:
    return Camera(np.stack([K0, K1]), np.array([[540.0, 720.0], [320.0, 240.0]]))


def _torch(camera: Camera) -> Camera:
    return Camera(torch.from_numpy(camera.K), torch.from_numpy(camera.size))


def test_from_matrix_is_one_float64_camera():
    camera = Camera.from_matrix(K0.astype(np.float32), 540, 720)
    assert camera.K.dtype == camera.size.dtype == np.float64 and camera.K.shape == (3, 3)
    assert (camera.width, camera.height) == (540, 720)
    assert camera.to(dtype=torch.float32).width == 540


def test_resized_keeps_the_pixel_centre_formulas():
    camera = Camera.from_matrix(K0, 540, 720)
    small = camera.resized((270, 360))
    np.testing.assert_array_equal(small.K, scale_intrinsics(K0, 0.5, 0.5))
    np.testing.assert_array_equal(small.K[:2, 2], [0.5 * (269.5 + 0.5) - 0.5, 0.5 * (359.5 + 0.5) - 0.5])
    np.testing.assert_array_equal(small.size, [270, 360])
    other = camera.resized((100, 90))  # unequal factors
    assert other.K[0, 0] == 500.0 * (100 / 540) and other.K[1, 1] == 505.0 * (90 / 720)


def test_numpy_and_torch_give_the_same_numbers():
    cameras = _numpy_batch()
    tensors = _torch(cameras)
    rng = np.random.default_rng(0)
    pixels, depth = rng.uniform(0, 300, (2, 6, 2)), rng.uniform(1, 9, (2, 6))
    points = cameras.backproject(pixels, depth)
    # matrix products: the two libraries' kernels round differently in the last bits
    np.testing.assert_allclose(tensors.backproject(torch.from_numpy(pixels), torch.from_numpy(depth)).numpy(),
                               points, rtol=1e-13)
    np.testing.assert_allclose(tensors.project(torch.from_numpy(points)).numpy(), cameras.project(points), rtol=1e-13)
    sizes = np.array([[270.0, 360.0], [160.0, 120.0]])
    for ours, theirs in ((cameras.resized(sizes), tensors.resized(torch.from_numpy(sizes))),  # elementwise: exact
                         (cameras.cropped(10, 20, 100, 80), tensors.cropped(10, 20, 100, 80))):
        np.testing.assert_array_equal(theirs.K.numpy(), ours.K)
        np.testing.assert_array_equal(theirs.size.numpy(), ours.size)


def test_a_batch_computes_what_each_camera_computes():
    cameras = _numpy_batch()
    rng = np.random.default_rng(1)
    pixels, depth = rng.uniform(0, 300, (2, 6, 2)), rng.uniform(1, 9, (2, 6))
    sizes = np.array([[270.0, 360.0], [160.0, 120.0]])
    points, resized = cameras.backproject(pixels, depth), cameras.resized(sizes)
    cropped = cameras.cropped(3, 4, 50, 60)
    for b, (K, (w, h)) in enumerate(zip(cameras.K, cameras.size)):
        one = Camera.from_matrix(K, int(w), int(h))
        np.testing.assert_array_equal(points[b], one.backproject(pixels[b], depth[b]))
        np.testing.assert_array_equal(cameras.project(points)[b], one.project(points[b]))
        np.testing.assert_array_equal(resized.K[b], one.resized(tuple(sizes[b].astype(int))).K)
        np.testing.assert_array_equal(cropped.K[b], one.cropped(3, 4, 50, 60).K)


def test_default_collate_stacks_cameras_into_a_batched_camera():
    items = [{"camera": Camera.from_matrix(K, w, h).to(dtype=torch.float32), "frame": name}
             for K, (w, h), name in ((K0, (540, 720), "a"), (K1, (320, 240), "b"))]
    batch = default_collate(items)
    assert isinstance(batch["camera"], Camera) and batch["frame"] == ["a", "b"]
    assert batch["camera"].K.shape == (2, 3, 3) and batch["camera"].size.shape == (2, 2)
    for b, item in enumerate(items):
        assert torch.equal(batch["camera"].K[b], item["camera"].K)
        assert torch.equal(batch["camera"].size[b], item["camera"].size)
    # what the dataset used to store: float32 K and (W, H)
    assert torch.equal(items[0]["camera"].K, torch.from_numpy(K0).float())
    assert torch.equal(items[0]["camera"].size, torch.tensor([540.0, 720.0]))


def test_resize_crop_project_backproject_round_trip():
    camera = Camera.from_matrix(K0, 540, 720)
    rng = np.random.default_rng(2)
    points = np.c_[rng.uniform(-1, 1, (8, 2)), rng.uniform(2, 6, 8)]
    pixels = camera.project(points)
    np.testing.assert_allclose(camera.backproject(pixels, points[:, 2]), points, rtol=1e-12)
    small = camera.resized((270, 360))
    np.testing.assert_allclose(small.project(points), 0.5 * (pixels + 0.5) - 0.5, rtol=1e-12)
    np.testing.assert_allclose(small.resized((540, 720)).K, camera.K, rtol=1e-12)
    window = camera.cropped(10, 20, 100, 200)
    np.testing.assert_allclose(window.project(points), pixels - [10, 20], rtol=1e-12)
    np.testing.assert_allclose(window.backproject(pixels - [10, 20], points[:, 2]), points, rtol=1e-12)
    assert (window.width, window.height) == (100, 200)


def test_the_camera_module_does_not_import_torch():
    code = ("import sys; from mapfree.geometry.camera import Camera; import numpy as np; "
            "Camera.from_matrix(np.eye(3), 4, 3).resized((2, 2)); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_batched_camera_has_no_single_width():
    with pytest.raises(TypeError):
        _ = _numpy_batch().width
