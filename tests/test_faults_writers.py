"""Fault injection for writers: nothing a command wrote or a user kept is replaced without --overwrite, one
writer per folder (a lock naming its holder; a dead holder's lock is taken over), and no output leaves its
output folder (`..`, absolute names, linked folders)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from mapfree.atomic import LOCK_FILE, FolderLockedError, folder_lock
from mapfree.cli import main
from mapfree.study.trivial import write_trivial_submission
from test_training_module import tiny_config

TRAIN_ONE_STEP = {"max_steps": 1, "limit_val_batches": 0}


def one_line_error(capsys: pytest.CaptureFixture, *needles: str) -> str:
    """The command's stderr, checked to be one line holding every needle."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_evaluate_json_and_plots_refuse_existing_outputs(tiny_dataset, tmp_path, capsys):
    submission = write_trivial_submission(tiny_dataset, "val", np.zeros(3), tmp_path / "s.zip")
    args = ["evaluate", str(submission), "--data-root", str(tiny_dataset)]
    metrics = tmp_path / "metrics.json"
    metrics.write_text("mine")
    assert main([*args, "--json", str(metrics)]) == 2
    one_line_error(capsys, str(metrics), "--overwrite")
    assert metrics.read_text() == "mine"
    assert main([*args, "--json", str(metrics), "--overwrite"]) == 0
    assert "metrics" in json.loads(metrics.read_text())

    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "scene_errors.png").write_bytes(b"mine")
    assert main([*args, "--plots", str(plots)]) == 2
    one_line_error(capsys, str(plots / "scene_errors.png"), "--overwrite")
    assert [p.name for p in plots.iterdir()] == ["scene_errors.png"]


def test_pretrain_refuses_an_existing_model_folder_before_any_work(tiny_dataset, tmp_path, capsys):
    config = tiny_config(tiny_dataset, tmp_path).save(tmp_path / "cfg.yaml")
    out = tmp_path / "features"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"mine")
    args = ["pretrain", "--config", str(config), "--out", str(out), "--steps", "1", "--batch-size", "2",
            "--views", "homography"]
    assert main(args) == 2
    one_line_error(capsys, str(out), "--overwrite")
    assert [p.name for p in out.iterdir()] == ["model.safetensors"]
    assert main([*args, "--overwrite"]) == 0
    assert (out / "model.safetensors").read_bytes() != b"mine" and not (out / LOCK_FILE).exists()


def test_train_keeps_a_hand_written_config_in_its_run_folder(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "runs" / "run"
    run.mkdir(parents=True)
    mine = run / "config.yaml"
    text = "# my notes, kept\n" + tiny_config(tiny_dataset, tmp_path / "runs", trainer=TRAIN_ONE_STEP).to_yaml()
    mine.write_text(text)
    assert main(["train", "--config", str(mine)]) == 2
    one_line_error(capsys, str(mine), "--overwrite")
    assert mine.read_text() == text and [p.name for p in run.iterdir()] == ["config.yaml"]

    assert main(["train", "--config", str(mine), "--overwrite"]) == 0  # asked: the resolved config replaces it
    assert "# my notes" not in mine.read_text() and not (run / LOCK_FILE).exists()


def test_a_second_writer_of_a_run_folder_gets_one_line(tiny_dataset, tmp_path, capsys):
    config = tiny_config(tiny_dataset, tmp_path / "runs", trainer=TRAIN_ONE_STEP).save(tmp_path / "cfg.yaml")
    run = tmp_path / "runs" / "run"
    with folder_lock(run):
        assert main(["train", "--config", str(config)]) == 2
        one_line_error(capsys, str(run), f"process {os.getpid()}")
        assert main(["pretrain", "--config", str(config), "--out", str(run), "--steps", "1"]) == 2
        one_line_error(capsys, str(run), f"process {os.getpid()}")
    assert not run.exists()  # the lock's folder goes with it: nothing was written


def test_a_lock_held_by_another_process_refuses_and_its_stale_file_is_taken_over(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from mapfree.atomic import folder_lock\n"
         f"with folder_lock({str(tmp_path)!r}):\n print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(FolderLockedError, match=f"process {holder.pid} on "), folder_lock(tmp_path):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    stale = json.loads((tmp_path / LOCK_FILE).read_text())
    assert stale["pid"] == holder.pid  # a killed holder leaves its file, not its lock
    with folder_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


@pytest.mark.parametrize("name", ["../x", "absolute", "link"])
def test_a_run_name_that_leaves_the_output_folder_is_refused(tiny_dataset, tmp_path, capsys, name):
    outside = tmp_path / "outside"
    name = str(outside / "run") if name == "absolute" else name
    outside.mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "link").symlink_to(outside)
    config = tiny_config(tiny_dataset, tmp_path / "runs", trainer=TRAIN_ONE_STEP).save(tmp_path / "cfg.yaml")
    assert main(["train", "--config", str(config), "--set", f"trainer.name={name}"]) == 2
    one_line_error(capsys, f"trainer.name {name}", str(tmp_path / "runs"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml", "outside", "runs"]
    assert list(outside.iterdir()) == []


def test_a_linked_folder_in_a_depth_prior_store_is_refused(tiny_dataset, tmp_path, capsys):
    store, outside = tmp_path / "prior", tmp_path / "outside"
    outside.mkdir()
    (store / "test").mkdir(parents=True)
    (store / "test" / "s00000").symlink_to(outside)
    assert main(["depth-prior", "--workers", "0", "--no-progress", "--data-root", str(tiny_dataset), "--split",
                 "test", "--out", str(store), "--teacher", "synthetic"]) == 2
    one_line_error(capsys, "depth-prior folder test/s00000/seq", str(store))
    assert list(outside.iterdir()) == []
