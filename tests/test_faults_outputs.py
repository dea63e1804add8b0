"""Fault injection for outputs: atomic writes, no clobbering without being asked, no writes through
symbolic links out of the output folder, strict JSON."""

from __future__ import annotations

import json
import resource
import signal
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from mapfree.atomic import UnsafeOutputError, append_text, json_text, write_json_atomic
from mapfree.cli import main
from mapfree.cli.demo import demo_config
from mapfree.data.errors import DataFormatError
from mapfree.data.scenes import list_scenes
from mapfree.depth_prior.failures import FailureLog
from mapfree.depth_prior.frames import FrameRef
from mapfree.evaluation.evaluate import evaluate_submission
from mapfree.evaluation.report import write_json
from mapfree.evaluation.submission import SubmissionEntry, write_submission
from mapfree.models import MicKey, MicKeyConfig
from mapfree.study import run as study_run
from mapfree.study.trivial import write_trivial_submission
from mapfree.synth import SynthConfig, generate_dataset
from mapfree.synth import generate as synth_generate
from mapfree.training import TrainConfig
from mapfree.viz.curves import plot_precision_recall
from mapfree.viz.evaluation import precision_recall_panels
from test_training_module import tiny_config

TINY = SynthConfig(seed=1, train_scenes=1, val_scenes=0, test_scenes=0, frames=4, size=(56, 70))


@contextmanager
def disk_full(limit: int = 64) -> Iterator[None]:
    """Files of this process cannot grow past `limit` bytes (EFBIG, as a full disk gives ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def strict_loads(text: str):
    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def entries(scale: float) -> dict[str, list[SubmissionEntry]]:
    return {f"s{i:05d}": [SubmissionEntry(f"seq1/frame_{k:05d}.jpg", np.eye(3), np.full(3, scale * k), 0.5)
                          for k in range(0, 200, 5)] for i in range(3)}


@pytest.fixture(scope="module")
def evaluation(tiny_dataset, tmp_path_factory):
    zip_path = write_trivial_submission(tiny_dataset, "val", np.zeros(3), tmp_path_factory.mktemp("ev") / "t.zip")
    return evaluate_submission(zip_path, tiny_dataset, "val")


def failed_rewrite(path: Path, first, second) -> bytes:
    """Write with `first`, then fail `second` on a full disk; returns the bytes of the first write."""
    first(path)
    good = path.read_bytes()
    with disk_full(), pytest.raises(OSError):
        second(path)
    return good


@pytest.mark.parametrize("writer", ["submission", "evaluate-json", "config", "run-config", "figure"])
def test_failed_write_keeps_the_earlier_file_and_leaves_no_temporary(writer, evaluation, tmp_path):
    config = MicKeyConfig.tiny()
    writers = {
        "submission": (lambda p: write_submission(p, entries(1.0)), lambda p: write_submission(p, entries(2.0))),
        "evaluate-json": (lambda p: p.write_text("{}"), lambda p: write_json(evaluation, p)),
        "config": (lambda p: p.write_text("old: 1\n"), config.save),
        "run-config": (lambda p: p.write_text("old: 1\n"), TrainConfig.load("synthetic_cpu").save),
        "figure": (lambda p: p.write_bytes(b"png"),
                   lambda p: plot_precision_recall(precision_recall_panels(evaluation), p, "pr")),
    }
    names = {"submission": "submission.zip", "figure": "pr.png"}
    path = tmp_path / names.get(writer, "out.json")
    good = failed_rewrite(path, *writers[writer])
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_model_folder_never_mixes_weights_and_config(tmp_path, monkeypatch):
    MicKey(MicKeyConfig.tiny()).save_pretrained(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def fail(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(MicKeyConfig, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        MicKey(MicKeyConfig.tiny()).save_pretrained(tmp_path)  # other random weights
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_failure_log_and_json_output_do_not_write_through_symlinks(evaluation, tmp_path):
    outside, out = tmp_path / "outside.txt", tmp_path / "out"
    outside.write_text("keep me")
    log_path = out / "failures" / "train.rank0-of-1.jsonl"
    log_path.parent.mkdir(parents=True)
    log_path.symlink_to(outside)
    FailureLog(log_path).add(FrameRef("s00000", tmp_path, "seq0/frame_00000.jpg", (56, 70)), "boom")
    assert outside.read_text() == "keep me"
    assert not log_path.is_symlink() and "boom" in log_path.read_text()

    json_path = out / "metrics.json"
    json_path.symlink_to(outside)
    write_json(evaluation, json_path)
    assert outside.read_text() == "keep me" and not json_path.is_symlink()

    link = out / "appended.log"
    link.symlink_to(outside)
    with pytest.raises(UnsafeOutputError, match="symbolic link"):
        append_text(link, "x")
    assert outside.read_text() == "keep me"


def test_results_and_evaluate_json_are_strict(evaluation, tmp_path):
    results = {"metrics": {"AUC": np.float32("nan"), "n": np.int64(3)}, "seconds": float("inf"),
               "scale": np.array([1.0, np.nan])}
    data = strict_loads(write_json_atomic(tmp_path / "study.json", results).read_text())  # as write_study writes
    assert data == {"metrics": {"AUC": None, "n": 3}, "seconds": None, "scale": [1.0, None]}
    strict_loads(write_json(evaluation, tmp_path / "ev.json").read_text())
    with pytest.raises(TypeError):  # anything else that is not JSON fails loudly
        json_text({"x": object()})


def run_folder(tmp_path: Path) -> dict[Path, bytes]:
    run = tmp_path / "runs" / "run"
    (run / "checkpoints").mkdir(parents=True)
    files = {run / "checkpoints" / "last.ckpt": b"weights", run / "checkpoints" / "best-vcre.ckpt": b"best",
             run / "history.json": b"[]"}
    for path, data in files.items():
        path.write_bytes(data)
    return files


def test_train_into_an_existing_run_refuses_then_overwrites(tiny_dataset, tmp_path, capsys):
    files = run_folder(tmp_path)
    config = tiny_config(tiny_dataset, tmp_path / "runs", trainer={"max_steps": 1, "limit_val_batches": 0})
    args = ["train", "--config", str(config.save(tmp_path / "cfg.yaml"))]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "runs" / "run") in err
    assert "--resume" in err and "--overwrite" in err
    assert {p: p.read_bytes() for p in files} == files

    assert main([*args, "--overwrite"]) == 0
    run = tmp_path / "runs" / "run"
    assert not (run / "checkpoints" / "best-vcre.ckpt").exists()  # no stale best of the earlier run
    assert json.loads((run / "history.json").read_text()) == []
    assert (run / "model-last" / "model.safetensors").is_file()


def test_synth_refuses_a_non_empty_folder_and_overwrite_replaces_the_splits(tmp_path, capsys):
    out = tmp_path / "data"
    (out / "train" / "s00009").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    args = ["synth", "--out", str(out), "--train-scenes", "1", "--val-scenes", "0", "--test-scenes", "0",
            "--frames", "4", "--resize", "56x70", "--workers", "1"]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in (out / "train").iterdir()] == ["s00009"]

    assert main([*args, "--overwrite"]) == 0
    assert [s.name for s in list_scenes(out, "train")] == ["s00000"]
    assert (out / "notes.txt").read_text() == "mine"


def test_killed_synth_leaves_no_scene_that_reads_as_complete(tmp_path, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth_generate, "write_poses", killed)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path, TINY, workers=1)
    with pytest.raises(DataFormatError, match="partial dataset"):  # the marker says synth did not finish
        list_scenes(tmp_path, "train")
    assert list((tmp_path / "train").iterdir()) == []


def test_submit_pose_and_demo_refuse_existing_outputs(tiny_dataset, tmp_path, capsys):
    zip_path = write_submission(tmp_path / "submission.zip", entries(1.0))
    good = zip_path.read_bytes()
    assert main(["submit", "--data-root", str(tiny_dataset), "--split", "val", "--out", str(tmp_path),
                 "--method", "sift+true+procrustes", "--device", "cpu"]) == 2
    assert "submission.zip already exists" in capsys.readouterr().err and zip_path.read_bytes() == good
    assert main(["submit", "--data-root", str(tiny_dataset), "--split", "val", "--out", str(tmp_path),
                 "--method", "sift+true+procrustes", "--device", "cpu", "--overwrite"]) == 0
    assert zipfile.ZipFile(zip_path).testzip() is None and zip_path.read_bytes() != good

    scene = tiny_dataset / "val" / "s00000"
    dump = tmp_path / "dump.npz"
    dump.write_bytes(b"earlier")
    assert main(["pose", str(scene / "seq0/frame_00000.jpg"), str(scene / "seq1/frame_00000.jpg"),
                 "--intrinsics", str(scene / "intrinsics.txt"), "--checkpoint", str(tmp_path / "model"),
                 "--dump", str(tmp_path / "dump")]) == 2
    assert "dump.npz already exists" in capsys.readouterr().err and dump.read_bytes() == b"earlier"

    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 2
    assert "not empty and holds no study" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


def test_demo_refuses_a_different_study_and_overwrite_replaces_the_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "runs" / "none" / "seed0").mkdir(parents=True)
    (tmp_path / "study_config.yaml").write_text("another study\n")
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 2
    assert "holds a different study" in capsys.readouterr().err
    assert (tmp_path / "study_config.yaml").read_text() == "another study\n" and (tmp_path / "runs").is_dir()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study_run, "prepare", interrupted)
    assert main(["demo", "--quick", "--out", str(tmp_path), "--overwrite"]) == 130
    assert [p.name for p in tmp_path.iterdir()] == ["study_config.yaml"]  # nothing of the earlier study is left
    assert (tmp_path / "study_config.yaml").read_text() == demo_config(quick=True).to_yaml()
