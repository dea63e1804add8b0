"""Small inputs, bounded costs: configuration files (alias expansion, size, `base:` chains), sizes of images
and resizes, and the length of the one-line errors the commands print."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from mapfree.cli import main
from mapfree.configs.safe_yaml import MAX_FILE_BYTES
from mapfree.configs.typed import ConfigError
from mapfree.data.dataset import MapFreePairs
from mapfree.data.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, read_image
from mapfree.data.preprocess import prepare_view
from mapfree.errors import InputError
from mapfree.geometry.camera import Camera
from mapfree.models import MicKeyConfig
from mapfree.training import TrainConfig

LAUGH_ITEMS = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
LAUGHS = "\n".join([*LAUGH_ITEMS, "trainer: *i"]) + "\n"
"""A "billion laughs": a few hundred bytes whose aliases expand to 9**9 (387 million) values."""


def error_line(capsys) -> str:
    """The one stderr line a command printed (and that it was one line)."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_billion_laughs_fails_fast_with_one_short_line(tmp_path, capsys):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(LAUGHS)
    assert len(LAUGHS) < 600
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"{bomb}: YAML aliases expand to more than"):
        TrainConfig.load(bomb)
    with pytest.raises(ConfigError, match="aliases expand"):
        MicKeyConfig.load(bomb)
    with pytest.raises(ConfigError, match="override trainer: YAML aliases expand"):
        TrainConfig.load("synthetic_cpu", ["trainer={" + ", ".join(LAUGH_ITEMS) + "}"])
    assert main(["train", "--config", str(bomb)]) == 2
    line = error_line(capsys)
    assert str(bomb) in line and len(line) < 300
    assert time.perf_counter() - start < 10


def test_shared_anchors_within_the_limit_still_load(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("base: synthetic_cpu\noptim: &o {lr: 1.0e-3}\n")
    assert TrainConfig.load(path).optim.lr == 1e-3


def test_a_config_file_over_the_size_cap_is_refused_naming_it(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    big.write_text("trainer: {max_epochs: 1}\n" + "#" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ConfigError, match=f"{big}: .* bytes, larger than a configuration file may be"):
        TrainConfig.load(big)
    assert main(["train", "--config", str(big)]) == 2
    assert str(big) in error_line(capsys)


def diamond(folder: Path, levels: int) -> Path:
    """`levels` layers of two files, each naming both files of the layer below as its bases; the top file."""
    (folder / "l0a.yaml").write_text("base: synthetic_cpu\n")
    (folder / "l0b.yaml").write_text("optim: {lr: 1.0e-3}\n")
    for level in range(1, levels):
        for side in "ab":
            (folder / f"l{level}{side}.yaml").write_text(f"base: [l{level - 1}a, l{level - 1}b]\n")
    top = folder / "top.yaml"
    top.write_text(f"base: [l{levels - 1}a, l{levels - 1}b]\n")
    return top


def test_base_diamond_of_25_files_loads_each_file_once(tmp_path, monkeypatch):
    from mapfree.configs import loader

    reads: list[Path] = []
    read = loader._read_yaml
    monkeypatch.setattr(loader, "_read_yaml", lambda path: reads.append(path) or read(path))
    start = time.perf_counter()
    config = TrainConfig.load(diamond(tmp_path, 12))
    assert time.perf_counter() - start < 10
    assert config.optim.lr == 1e-3
    assert len(reads) == len(set(reads)) == 2 * 12 + 2  # the diamond, its top and synthetic_cpu


def test_a_base_chain_deeper_than_the_cap_names_the_chain(tmp_path):
    (tmp_path / "c0.yaml").write_text("optim: {lr: 1.0e-3}\n")
    for i in range(1, 20):
        (tmp_path / f"c{i}.yaml").write_text(f"base: c{i - 1}\n")
    assert TrainConfig.load(tmp_path / "c15.yaml").optim.lr == 1e-3  # 16 files
    with pytest.raises(ConfigError, match=r"c3.yaml: bases nest more than 16 deep: .*c19.yaml -> .*c4.yaml"):
        TrainConfig.load(tmp_path / "c19.yaml")


def test_a_long_error_message_is_cut_to_one_short_line(capsys):
    assert main(["train", "--config", "synthetic_cpu", "--set", "trainer.max_epochs=" + "x" * 100_000]) == 2
    line = error_line(capsys)
    assert line.startswith("mapfree train: error: override trainer.max_epochs")
    assert len(line) < 2100 and line.endswith("more characters)")


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that states its size and holds no pixels: what a reader sees before it decodes anything."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def test_resize_beyond_the_pixel_cap_fails_before_any_work(tiny_dataset, tmp_path, capsys):
    scene = next(p for p in sorted((tiny_dataset / "val").iterdir()) if p.is_dir())
    images = [str(scene / "seq0/frame_00000.jpg"), str(scene / "seq1/frame_00000.jpg")]
    pose = ["pose", *images, "--intrinsics", str(scene / "intrinsics.txt"), "--checkpoint", str(tmp_path / "none")]
    submit = ["submit", "--data-root", str(tiny_dataset), "--split", "val", "--out", str(tmp_path)]
    for args in (pose, submit):
        assert main([*args, "--resize", "20000x20000"]) == 2
        assert error_line(capsys).endswith("error: --resize: 20000x20000 is 400,000,000 pixels, more than the "
                                           "67,108,864 allowed (raise the cap with --max-pixels or MAPFREE_MAX_PIXELS)")
    assert main([*pose, "--resize", "700x700", "--max-pixels", "400000"]) == 2
    assert "--resize: 700x700 is 490,000 pixels, more than the 400,000 allowed" in error_line(capsys)
    with pytest.raises(InputError, match="resize: 20000x20000 is 400,000,000 pixels"):
        MapFreePairs(tiny_dataset, "val", resize=(20000, 20000))
    with pytest.raises(InputError, match="resize: 20000x20000 is 400,000,000 pixels"):
        prepare_view(np.zeros((4, 4, 3), np.uint8), Camera(np.eye(3), (4, 4)), (20000, 20000))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_an_image_over_the_pixel_cap_is_refused_from_its_header(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(MAX_PIXELS_ENV, str(DEFAULT_MAX_PIXELS))  # restored after --max-pixels sets it
    huge = png_header(tmp_path / "huge.png", 10_000, 10_000)
    with pytest.raises(InputError, match=f"{huge}: image: 10000x10000 is 100,000,000 pixels, more than the"):
        read_image(huge)
    with pytest.raises(InputError, match=f"{huge}: image too large to open"):
        read_image(png_header(huge, 30_000, 30_000))
    (tmp_path / "intrinsics.txt").write_text("huge.png 500 500 50 50 100 100\n")
    pose = ["pose", str(huge), str(huge), "--intrinsics", str(tmp_path / "intrinsics.txt"),
            "--checkpoint", str(tmp_path / "none")]
    png_header(huge, 10_000, 10_000)
    assert main(pose) == 2
    assert "10000x10000 is 100,000,000 pixels" in error_line(capsys)
    assert main([*pose, "--max-pixels", "100000000"]) == 2  # the cap raised: read, and found to hold no pixels
    assert error_line(capsys).endswith(f"{huge}: image does not decode")
