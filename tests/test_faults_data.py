"""Fault injection into the dataset readers: each broken file is an error naming it, before any heavy work."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from mapfree.cli import main
from mapfree.data.dataset import MapFreePairs
from mapfree.data.errors import DataFormatError
from mapfree.data.images import read_image
from mapfree.data.scenes import REFERENCE_FRAME, list_scenes
from mapfree.data.summary import summarize
from mapfree.evaluation.groundtruth import load_scene_truth

FRAME = "seq1/frame_00003.jpg"


@pytest.fixture
def broken(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A writable copy of the tiny dataset, to break."""
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    return root


def scene_dir(root: Path, split: str) -> Path:
    return root / split / "s00000"


def assert_cli_error(argv: list[str], capsys: pytest.CaptureFixture, *fragments: str) -> None:
    """`mapfree ARGV` exits 2 with one stderr line holding every fragment."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert all(f in err for f in fragments), err


def test_image_larger_than_intrinsics_is_an_error(broken: Path, capsys):
    image = scene_dir(broken, "val") / REFERENCE_FRAME
    pixels = cv2.imread(str(image))
    cv2.imwrite(str(image), cv2.resize(pixels, (2 * pixels.shape[1], 2 * pixels.shape[0])))
    message = f"{image}: image is 224x280 but intrinsics.txt says 112x140"
    with pytest.raises(DataFormatError) as info:
        MapFreePairs(broken, "val")  # up front, from the header
    assert str(info.value) == message
    with pytest.raises(DataFormatError, match="224x280 but intrinsics.txt says 112x140"):  # at decode time too
        MapFreePairs(broken, "val", pairs=[])._view(list_scenes(broken, "val")[0], REFERENCE_FRAME)
    assert_cli_error(["summary", "--data-root", str(broken)], capsys, message)


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_jpeg_is_an_error(broken: Path, capsys, keep: float):
    image = scene_dir(broken, "train") / FRAME
    data = image.read_bytes()
    image.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataFormatError, match="truncated JPEG") as info:
        read_image(image)
    assert info.value.path == image
    with pytest.raises(DataFormatError, match="truncated JPEG"):
        MapFreePairs(broken, "train")
    assert_cli_error(["summary", "--data-root", str(broken)], capsys, str(image), "truncated JPEG")


def test_jpeg_with_trailing_bytes_still_reads(broken: Path):
    image = scene_dir(broken, "train") / FRAME
    expected = read_image(image)
    image.write_bytes(image.read_bytes() + b"\x00\x00trailer")
    np.testing.assert_array_equal(read_image(image), expected)
    MapFreePairs(broken, "train")


@pytest.mark.parametrize("text", ["", "# frame fx fy cx cy width height\n", "\n\n"])
@pytest.mark.parametrize("name", ["intrinsics.txt", "poses.txt"])
def test_empty_or_header_only_files_are_errors(broken: Path, capsys, name: str, text: str):
    path = scene_dir(broken, "val") / name
    path.write_text(text)
    message = f"{path}: no frames: the file is empty or holds only comments"
    with pytest.raises(DataFormatError) as info:
        load_scene_truth(path.parent)
    assert str(info.value) == message
    with pytest.raises(DataFormatError) as info:
        MapFreePairs(broken, "val")
    assert str(info.value) == message
    assert_cli_error(["summary", "--data-root", str(broken)], capsys, message)


@pytest.mark.parametrize("name", ["intrinsics.txt", "poses.txt"])
def test_non_utf8_byte_names_file_and_line(broken: Path, capsys, name: str):
    path = scene_dir(broken, "val") / name
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"seq", b"s\xe9q", 1)
    path.write_bytes(b"".join(lines))
    message = f"{path}:3: byte 0xe9 is not UTF-8"
    for read in (lambda: load_scene_truth(path.parent), lambda: list_scenes(broken, "val")[0].check_files()):
        with pytest.raises(DataFormatError) as info:
            read()
        assert str(info.value) == message
    assert_cli_error(["summary", "--data-root", str(broken)], capsys, message)


TRUNCATIONS: dict[str, Callable[[bytes], bytes]] = {
    "half": lambda data: data[: len(data) // 2],
    "last byte": lambda data: data[:-1],
    "empty": lambda data: b"",
    "text": lambda data: b"idxs overlaps\n",
    "bad crc": lambda data: data.replace(data[100:108], bytes(8), 1),
}


@pytest.mark.parametrize("damage", TRUNCATIONS)
def test_truncated_or_corrupt_overlaps_is_an_error(broken: Path, capsys, damage: str):
    path = scene_dir(broken, "train") / "overlaps.npz"
    path.write_bytes(TRUNCATIONS[damage](path.read_bytes()))
    with pytest.raises(DataFormatError, match="not a valid overlaps file") as info:
        MapFreePairs(broken, "train")
    assert info.value.path == path
    assert_cli_error(["summary", "--data-root", str(broken)], capsys, str(path))


def test_single_array_instead_of_overlaps_archive(broken: Path):
    path = scene_dir(broken, "train") / "overlaps.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((3, 4)))
    with pytest.raises(DataFormatError, match="a single array, not an .npz archive"):
        list_scenes(broken, "train")[0].train_pairs()


def test_overlaps_naming_unlisted_frames_is_an_error(broken: Path):
    path = scene_dir(broken, "train") / "intrinsics.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith(FRAME)) + "\n")
    with pytest.raises(DataFormatError, match="names a frame that intrinsics.txt does not list") as info:
        MapFreePairs(broken, "train")
    assert info.value.path == path.parent / "overlaps.npz"


def test_missing_val_poses_is_an_error(broken: Path, capsys):
    path = scene_dir(broken, "val") / "poses.txt"
    path.unlink()
    with pytest.raises(DataFormatError, match="file not found"):
        MapFreePairs(broken, "val")
    assert_cli_error(["summary", "--data-root", str(broken)], capsys, f"{path}: file not found")


def test_summary_of_a_missing_or_split_less_root(tmp_path: Path, capsys):
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(DataFormatError, match="dataset folder not found"):
        summarize(missing)
    assert_cli_error(["summary", "--data-root", str(missing)], capsys, f"{missing}: dataset folder not found")
    (tmp_path / "other").mkdir()
    assert_cli_error(["summary", "--data-root", str(tmp_path)], capsys,
                     f"{tmp_path}: not a Map-free dataset: no train, val, test")


@pytest.mark.parametrize(("line", "message"), [
    ("seq1/frame_00003.jpg 1 0 0 0 0 0 0", "duplicate frame"),
    ("seq1/frame_00099.jpg 0 0 0 0 1 2 3", "zero-norm quaternion"),
])
def test_summary_evaluator_and_dataset_agree_on_poses(broken: Path, capsys, line: str, message: str):
    """A val line the dataset rejects is rejected by the evaluator's reader and by `summary` alike."""
    path = scene_dir(broken, "val") / "poses.txt"
    n_lines = len(path.read_text().splitlines())
    path.write_text(path.read_text() + line + "\n")
    expected = f"{path}:{n_lines + 1}: {message}"
    for read in (lambda: load_scene_truth(path.parent), lambda: MapFreePairs(broken, "val")):
        with pytest.raises(DataFormatError) as info:
            read()
        assert str(info.value) == expected
    assert_cli_error(["summary", "--data-root", str(broken)], capsys, expected)


def test_valid_dataset_still_reads(tiny_dataset: Path, capsys):
    assert main(["summary", "--data-root", str(tiny_dataset)]) == 0
    assert "val  :    2 scenes" in capsys.readouterr().out
    assert len(MapFreePairs(tiny_dataset, "train")) > 0
