"""The user errors that still gave tracebacks: a full disk, a closed output pipe, non-UTF-8 inputs, weights folders
that are empty or mistyped, a batch of intrinsics for one pair, pose files inside a folder of a submission zip."""

from __future__ import annotations

import builtins
import errno
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mapfree import atomic
from mapfree.cli import main
from mapfree.data.scenes import list_scenes
from mapfree.errors import InputError, UserError
from mapfree.evaluation import SubmissionEntry, read_submission, write_submission
from mapfree.weights.errors import WeightsNotFoundError


def one_error_line(argv: list[str], capsys: pytest.CaptureFixture, *fragments: str) -> str:
    """`mapfree ARGV` exits 2 with one stderr line holding every fragment; returns that line."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and all(f in err for f in fragments), err
    return err


@pytest.fixture
def perfect(tiny_dataset: Path, tmp_path: Path) -> Path:
    estimates = {scene.name: [SubmissionEntry(f, scene.poses[f][:3, :3], scene.poses[f][:3, 3], 1.0)
                              for f in scene.benchmark_queries()] for scene in list_scenes(tiny_dataset, "val")}
    return write_submission(tmp_path / "perfect.zip", estimates)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every temporary output file `mapfree.atomic` writes fails with ENOSPC, as on a full disk."""
    real_open = builtins.open

    def opener(file, mode="r", *args, **kwargs):
        if atomic.TMP_MARK in str(file) and any(c in mode for c in "wax"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", opener, raising=False)


def test_full_disk_in_evaluate_json_is_one_line(perfect: Path, tiny_dataset: Path, tmp_path: Path, full_disk,
                                                capsys):
    out = tmp_path / "metrics.json"
    err = one_error_line(["evaluate", str(perfect), "--data-root", str(tiny_dataset), "--json", str(out)], capsys,
                         str(out), "no space left", "free")
    assert "MiB free" in err or "GiB free" in err or "KiB free" in err
    assert not out.exists()


def test_full_disk_in_submit_is_one_line(tiny_dataset: Path, tmp_path: Path, full_disk, capsys):
    one_error_line(["-q", "submit", "--method", "sift+true+procrustes", "--device", "cpu", "--data-root",
                    str(tiny_dataset), "--split", "val", "--out", str(tmp_path)], capsys,
                   str(tmp_path / "submission.zip"), "no space left")


def test_full_disk_in_train_and_pretrain_is_one_line(tiny_dataset: Path, tmp_path: Path, full_disk, capsys):
    from test_training_module import tiny_config

    config = tiny_config(tiny_dataset, tmp_path)
    path = tmp_path / "cfg.yaml"
    path.write_text(config.to_yaml())
    one_error_line(["-q", "train", "--config", str(path)], capsys, str(tmp_path / "run" / "config.yaml"),
                   "no space left")
    one_error_line(["-q", "pretrain", "--config", str(path), "--out", str(tmp_path / "pre"), "--steps", "1",
                    "--batch-size", "2"], capsys, str(tmp_path / "pre"), "no space left")


def test_full_disk_under_any_other_writer_is_one_line(tmp_path: Path, monkeypatch, capsys):
    """A writer outside `mapfree.atomic` (Lightning's logs, a checkpoint) that names its file."""
    from mapfree.cli import summary

    def full(args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "tb" / "events.out"))

    monkeypatch.setattr(summary, "run", full)
    one_error_line(["summary", "--data-root", str(tmp_path)], capsys,
                   f"{tmp_path / 'tb' / 'events.out'}: no space left", "free in")


def test_other_os_errors_keep_their_traceback(tmp_path: Path, monkeypatch):
    def broken(path, *args, **kwargs):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(atomic, "open", broken, raising=False)
    with pytest.raises(OSError) as info:
        atomic.write_text_atomic(tmp_path / "out.txt", "x")
    assert not isinstance(info.value, UserError)


def test_output_piped_into_a_closed_reader_exits_quietly(tiny_dataset: Path):
    """Was: a BrokenPipeError traceback (`mapfree summary DATA | head -0`); now silence and 141, as `yes | head`."""
    code = "import sys; from mapfree.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "summary", "--data-root", str(tiny_dataset)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b"", err.decode()


def test_a_non_utf8_intrinsics_file_names_file_and_byte_offset(tmp_path: Path, capsys):
    from mapfree.api import read_intrinsics_for

    path = tmp_path / "intrinsics.txt"
    path.write_bytes(b"im0.png 300 300 70 56 140 112\nim1.png 300 300 70 56 140 11\xe92\n")
    with pytest.raises(InputError, match=rf"{path}:2: byte 0xe9 at offset 58 is not UTF-8"):
        read_intrinsics_for(path, "im1.png")


def test_an_empty_weights_folder_is_one_line(tmp_path: Path):
    """Was: a ValueError traceback from transformers."""
    from mapfree.depth_prior.depth_anything import resolve_weights

    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsNotFoundError, match=rf"{tmp_path / 'empty'}: .*no config.json"):
        resolve_weights(str(tmp_path / "empty"))


def test_a_mistyped_relative_weights_folder_is_missing_not_a_hub_id(tmp_path: Path, monkeypatch):
    """`models/dpt-larg` when `models/` is here is a missing local folder, never sent to the Hub."""
    from mapfree.weights.local import resolve_local_or_repo

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(WeightsNotFoundError, match=r"models/dpt-larg: no such folder \(a local path"):
        resolve_local_or_repo("models/dpt-larg", "no such folder")
    assert resolve_local_or_repo("Intel/dpt-large") == ("Intel/dpt-large", False)


def test_a_batch_of_intrinsics_for_one_pair_is_one_line():
    """Was: a traceback from deep inside the resize; `estimate_pose` takes one pair."""
    from mapfree.api import estimate_pose

    image = np.random.default_rng(0).integers(0, 255, (112, 140, 3), dtype=np.uint8)
    K = np.array([[300.0, 0.0, 70.0], [0.0, 300.0, 56.0], [0.0, 0.0, 1.0]])
    with pytest.raises(InputError, match=r"K0 must be one \(3, 3\) intrinsics matrix .* got shape \(2, 3, 3\)"):
        estimate_pose(None, image, image, np.stack([K, K]), K)


def test_pose_files_inside_a_folder_of_the_zip_are_reported(tmp_path: Path):
    """Was: ignored by `evaluate` without a word."""
    path = tmp_path / "sub.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("results/pose_s00000.txt", "")
        zf.writestr("README.md", "notes")
    issues = [i for i in read_submission(path).issues if i.file == "results/pose_s00000.txt"]
    assert [i.severity for i in issues] == ["warning"]
    assert "inside a folder" in issues[0].message and "top level" in issues[0].message


def test_a_non_utf8_config_names_file_and_byte_offset(tmp_path: Path, capsys):
    """Was: a UnicodeDecodeError traceback naming neither."""
    path = tmp_path / "cfg.yaml"
    path.write_bytes(b"base: synthetic_cpu\noptim:\n  lr: 1e-3 # r\xe9glage\n")
    one_error_line(["train", "--config", str(path)], capsys, f"{path}:3: byte 0xe9 at offset 41 is not UTF-8")


def test_full_disk_while_writing_a_checkpoint_names_it(tmp_path: Path, monkeypatch):
    """Lightning writes checkpoints itself, outside `mapfree.atomic`: the error still names the checkpoint."""
    from pytorch_lightning.plugins import TorchCheckpointIO

    from mapfree.errors import DiskFullError
    from mapfree.training.callbacks import AtomicCheckpointIO

    def full(self, checkpoint, path, storage_options=None):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", full)
    with pytest.raises(DiskFullError, match=rf"{tmp_path / 'last.ckpt'}: no space left on the device \("):
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "last.ckpt")
    assert list(tmp_path.iterdir()) == []
