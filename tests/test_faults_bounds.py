"""Small inputs, bounded costs: configuration files (alias expansion, size, `base:` chains), sizes of images
and resizes, and the length of the one-line errors the commands print."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mapfree.cli import main
from mapfree.configs.safe_yaml import MAX_FILE_BYTES
from mapfree.configs.typed import ConfigError
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
