"""Map-free files: round trips and bad-input errors that name file and line."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mapfree.data import (
    Camera,
    DataFormatError,
    Overlaps,
    read_intrinsics,
    read_overlaps,
    read_poses,
    write_intrinsics,
    write_overlaps,
    write_poses,
)
from mapfree.data.frames import frame_name, parse_frame_name
from mapfree.data.images import read_depth, read_image, resize_image, resize_view, write_depth
from mapfree.data.scenes import benchmark_key, benchmark_keys
from mapfree.geometry.camera import intrinsics_matrix
from mapfree.geometry.transforms import compose_pose


def test_frame_names():
    assert parse_frame_name("seq1/frame_00042.jpg") == (1, 42)
    assert frame_name(0, 7) == "seq0/frame_00007.jpg"
    for bad in ("seq1/frame_42.jpg", "frame_00001.jpg", "seq1/frame_00001.png", "im0.jpg"):
        with pytest.raises(ValueError, match="not a Map-free frame name"):
            parse_frame_name(bad)


def test_intrinsics_round_trip(tmp_path: Path):
    data = {"seq0/frame_00000.jpg": Camera.from_matrix(intrinsics_matrix(590.1, 591.2, 269.5, 359.5), 540, 720),
            "seq1/frame_00005.jpg": Camera.from_matrix(intrinsics_matrix(580.0, 580.0, 270.0, 360.0), 540, 720)}
    write_intrinsics(tmp_path / "intrinsics.txt", data)
    assert (tmp_path / "intrinsics.txt").read_text().splitlines() == [
        "seq0/frame_00000.jpg 590.100000 591.200000 269.500000 359.500000 540 720",
        "seq1/frame_00005.jpg 580.000000 580.000000 270.000000 360.000000 540 720",
    ]
    back = read_intrinsics(tmp_path / "intrinsics.txt")
    assert back.keys() == data.keys()
    for k in data:
        np.testing.assert_allclose(back[k].K, data[k].K, atol=1e-6)
        assert (back[k].width, back[k].height) == (540, 720)


def test_poses_round_trip_world_to_camera_convention(tmp_path: Path):
    rng = np.random.default_rng(0)
    poses = {frame_name(1, i): compose_pose(Rotation.random(random_state=i).as_matrix(), rng.normal(size=3))
             for i in range(5)}
    write_poses(tmp_path / "poses.txt", poses)
    back = read_poses(tmp_path / "poses.txt")
    for k in poses:
        np.testing.assert_allclose(back[k], poses[k], atol=1e-8)
    # Line layout: qw qx qy qz tx ty tz, with R(q) the world-to-camera rotation (checked with scipy).
    name, *values = (tmp_path / "poses.txt").read_text().splitlines()[0].split()
    qw, qx, qy, qz, *t = map(float, values)
    np.testing.assert_allclose(Rotation.from_quat([qx, qy, qz, qw]).as_matrix(), poses[name][:3, :3], atol=1e-8)
    np.testing.assert_allclose(t, poses[name][:3, 3], atol=1e-8)


def test_hidden_test_poses_are_all_zero_lines(tmp_path: Path):
    write_poses(tmp_path / "poses.txt", {frame_name(1, 0): None})
    assert (tmp_path / "poses.txt").read_text().split()[1:] == ["0.000000000"] * 7
    assert read_poses(tmp_path / "poses.txt", allow_zero=True) == {}
    with pytest.raises(DataFormatError, match="poses.txt:1: zero-norm quaternion"):
        read_poses(tmp_path / "poses.txt")


@pytest.mark.parametrize(
    "line, message",
    [
        ("seq1/frame_00000.jpg 1 0 0 0 0 0", "expected 8 fields, got 7"),
        ("seq1/frame_00000.jpg 1 0 0 0 0 0 nan", "non-finite"),
        ("seq1/frame_00000.jpg 1 0 0 zero 0 0 0", "unparsable number"),
        ("seq1/frame_00000.jpg 0 0 0 0 1 2 3", "zero-norm quaternion"),
        ("seq1/frame_0.jpg 1 0 0 0 1 2 3", "not a Map-free frame name"),
    ],
)
@pytest.mark.parametrize("comment", [True, False])
def test_bad_pose_lines_name_file_and_line(tmp_path: Path, line: str, message: str, comment: bool):
    path = tmp_path / "poses.txt"
    path.write_text("# comment\n" * comment + "seq0/frame_00000.jpg 1 0 0 0 0 0 0\n" + line + "\n")
    with pytest.raises(DataFormatError, match=rf"poses.txt:{2 + comment}: .*{message}"):
        read_poses(path)


def test_benchmark_keys_are_the_scalar_keys():
    names = [frame_name(s, n) for s, n in ((0, 0), (1, 0), (1, 99999), (1, 123456), (2, 40210))]
    assert benchmark_keys(names).tolist() == [benchmark_key(name) for name in names] == [0, 0, 99999, 23456, 40210]


def test_bad_intrinsics_and_missing_file(tmp_path: Path):
    path = tmp_path / "intrinsics.txt"
    path.write_text("seq0/frame_00000.jpg 500 500 270 360 540\n")
    with pytest.raises(DataFormatError, match="intrinsics.txt:1: expected 7 fields"):
        read_intrinsics(path)
    path.write_text("seq0/frame_00000.jpg -500 500 270 360 540 720\n")
    with pytest.raises(DataFormatError, match="intrinsics.txt:1: focal"):
        read_intrinsics(path)
    with pytest.raises(DataFormatError, match="missing.txt: file not found"):
        read_intrinsics(tmp_path / "missing.txt")


def test_overlaps_round_trip_and_validation(tmp_path: Path):
    ov = Overlaps(np.array([[0, 1, 1, 3], [0, 2, 0, 5]]), np.array([0.25, 0.9]))
    write_overlaps(tmp_path / "overlaps.npz", ov)
    back = read_overlaps(tmp_path / "overlaps.npz")
    np.testing.assert_array_equal(back.idxs, ov.idxs)
    np.testing.assert_allclose(back.overlaps, ov.overlaps)
    np.savez(tmp_path / "bad.npz", idxs=ov.idxs, overlaps=np.array([0.5, 1.5]))
    with pytest.raises(DataFormatError, match=r"bad.npz: overlap #1 is outside \[0, 1\]"):
        read_overlaps(tmp_path / "bad.npz")
    np.savez(tmp_path / "nokey.npz", idxs=ov.idxs)
    with pytest.raises(DataFormatError, match="not a valid overlaps file"):
        read_overlaps(tmp_path / "nokey.npz")


def test_images_and_depth(tmp_path: Path):
    image = (np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), image)
    (tmp_path / "corrupt.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataFormatError, match="corrupt.jpg: image does not decode"):
        read_image(tmp_path / "corrupt.jpg")
    with pytest.raises(DataFormatError, match="image not found"):
        read_image(tmp_path / "none.jpg")

    K = np.array([[50.0, 0, 14.5], [0, 50.0, 19.5], [0, 0, 1]])
    small, camera = resize_view(image, Camera.from_matrix(K, 30, 40), (15, 20))
    assert small.shape == (20, 15, 3) and (camera.width, camera.height) == (15, 20)
    np.testing.assert_allclose(camera.K[:2, 2], [7.0, 9.5])  # still the image centre
    np.testing.assert_array_equal(small, cv2.resize(image, (15, 20), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(resize_image(image, (60, 20)),
                                  cv2.resize(image, (60, 20), interpolation=cv2.INTER_LINEAR))

    depth = np.array([[1.234, np.nan], [0.0, 70.0]], np.float32)
    write_depth(tmp_path / "d.png", depth)
    back = read_depth(tmp_path / "d.png")
    assert back[0, 0] == pytest.approx(1.234)
    assert np.isnan(back[0, 1]) and np.isnan(back[1, 0])  # unknown stays unknown, never zero
    assert np.isnan(back[1, 1])  # 70 m overflows uint16 millimetres: stored as unknown, not wrapped
