"""Against a real Slurm (`.ci/slurm_up` starts a one-node cluster; `make test-slurm` runs these): the study on
Slurm equals the local study bit for bit (submitted detached, then collected), a failing job is reported with its
log and the finished runs kept, `mapfree train` requeued mid-run ends with the uninterrupted run's weights, a
2-task depth-prior step and a job array write a complete verified store, two tasks get their ranks and one
address from Slurm and train as one DDP run. Two nodes cannot run on one machine: the 2-task tests show the rank
and address wiring a multi-node run relies on.

Skipped unless MAPFREE_SLURM_TESTS=1 (the normal suite stays fast) and a cluster answers `sinfo`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mapfree.depth_prior.frames import list_frames
from test_training_module import tiny_config


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and any(s.startswith(("idle", "mix", "alloc")) for s in done.stdout.split())


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.environ.get("MAPFREE_SLURM_TESTS") != "1", reason="Slurm tests: make test-slurm"),
    pytest.mark.skipif(os.environ.get("MAPFREE_SLURM_TESTS") == "1" and not _cluster_up(),
                       reason="no Slurm cluster answers sinfo (start one with .ci/slurm_up)"),
]
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
"""What the jobs see too: sbatch hands them the submitting environment."""
STUDY = ("study", "--quick", "--arms", "l2-metric", "--seeds", "1", "--set", "launcher.poll_s=1")
"""The quick study's every stage on two runs (the control and one depth arm), so the Slurm tests stay minutes."""


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), env=ENV, capture_output=True, text=True, timeout=timeout, check=False)


def mapfree(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "mapfree", *args, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


def job_field(job_id: str, name: str) -> str:
    shown = run("scontrol", "show", "job", job_id).stdout
    found = re.search(rf"\b{name}=(\S+)", shown)
    return found.group(1) if found else ""


def wait_until(condition, timeout: float, what: str, poll: float = 0.5) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}; the queue: {run('squeue').stdout}"
        time.sleep(poll)


def test_study_on_slurm_detached_then_collected_equals_the_local_study(tmp_path):
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    detached = ok(mapfree(*STUDY, "--out", str(on_slurm), "--launcher", "slurm", "--detach"))
    assert "submitted" in detached.stdout and not (on_slurm / "study.json").exists()
    job_files = sorted(on_slurm.glob("runs/*/seed0/slurm_job.json"))
    assert [p.parent.parent.name for p in job_files] == ["l2-metric", "none"]  # each run knows its job

    collected = ok(mapfree(*STUDY, "--out", str(on_slurm), "--launcher", "slurm"))
    assert re.search(r"Slurm: 0 jobs submitted, [1-5] already queued or running", collected.stderr)  # none twice
    assert re.search(r"\[ 2/2\] .* seed 0: trained and evaluated in job \d+", collected.stderr), collected.stderr
    ok(mapfree(*STUDY, "--out", str(local)))  # the same study in local worker processes
    same = ok(run(sys.executable, str(ROOT / "benchmarks" / "study_agreement.py"), str(local / "study.json"),
                  str(on_slurm / "study.json"), "--identical"))
    assert same.stdout.startswith("identical apart from provenance and wall_time_s"), same.stdout


def test_a_failing_job_is_reported_with_its_log_and_the_finished_runs_are_kept(tmp_path):
    quick = ROOT / "src" / "mapfree" / "configs" / "study" / "quick.yaml"
    config = tmp_path / "broken.yaml"
    config.write_text(f"base: {quick}\nseeds: [0]\npretrain_draws: 1\nheadline_arm: null\n"
                      "synth: {train_scenes: 2, val_scenes: 1, test_scenes: 2}\n"
                      "arms:\n  - {name: none, description: the control}\n"
                      "  - {name: broken, description: starts from a missing checkpoint,\n"
                      "     train: {init: {checkpoint: /nonexistent/model-last}}}\n")
    out = tmp_path / "study"
    failed = mapfree("study", "--config", str(config), "--out", str(out), "--launcher", "slurm",
                     "--set", "launcher.poll_s=1")
    assert failed.returncode != 0
    assert re.search(r"broken seed 0: job \d+ failed: \S*CheckpointError: init.checkpoint: not found: "
                     r"/nonexistent/model-last; its log ends:", failed.stderr), failed.stderr
    assert "/nonexistent/model-last" in failed.stderr.split("its log ends:")[1]  # the job's own error, from its log
    assert "1 of 2 runs finished and are kept" in failed.stderr.splitlines()[-1]
    assert (out / "records" / "none-seed0.json").is_file() and not (out / "records" / "broken-seed0.json").exists()

    again = mapfree("study", "--config", str(config), "--out", str(out), "--launcher", "slurm",
                    "--set", "launcher.poll_s=1")
    assert again.returncode != 0  # still broken; the finished run and stages were not submitted again
    assert re.search(r"broken seed 0: job \d+ ended unfinished; resubmitted as job \d+", again.stderr), again.stderr
    assert "Slurm: 1 jobs submitted, 0 already queued or running, 1 of 2 runs finished" in again.stderr


@pytest.mark.parametrize("requeue, val_check_interval", [("signal", 0.5), ("scontrol", 1.0)])
def test_a_requeued_training_job_ends_with_the_uninterrupted_runs_weights(tiny_dataset, tmp_path, requeue,
                                                                          val_check_interval):
    """`signal`: Slurm's warning (SIGUSR1) makes the run checkpoint and requeue itself (validating twice an
    epoch); `scontrol`: the job is requeued from outside without warning (`scontrol requeue`) and resumes from its
    last `last.ckpt`, here one per epoch (a `last.ckpt` of the validation on an epoch's last batch under
    `val_check_interval` < 1 does not resume exactly, with or without Slurm: not this test's subject)."""
    trainer = {"max_epochs": 20, "val_check_interval": val_check_interval}  # 40 steps; requeued after the first
    config = tiny_config(tiny_dataset, tmp_path, trainer=trainer).save(tmp_path / "cfg.yaml")
    script = tmp_path / "train.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --requeue --signal=USR1@60 --ntasks=1 --time=20\n"
                      f"srun {sys.executable} -m mapfree train --config {config} --set trainer.name=requeued\n")
    log = tmp_path / "job.log"
    job_id = ok(run("sbatch", "--parsable", "--open-mode=append", "-o", str(log), str(script))).stdout.strip()
    first = tmp_path / "requeued" / "checkpoints" / "last.ckpt"
    wait_until(first.exists, 300, "the job's first checkpoint", poll=0.1)
    if requeue == "signal":
        ok(run("scancel", "--signal=USR1", f"{job_id}.0"))  # to the srun step, as `--signal=USR1@60` does
    else:
        ok(run("scontrol", "requeue", job_id))
    wait_until(lambda: job_field(job_id, "Restarts") == "1", 120, "the job to be requeued")
    ok(mapfree("train", "--config", str(config), "--set", "trainer.name=whole"))  # the uninterrupted run
    run("scontrol", "update", f"JobId={job_id}", "StartTime=now")  # Slurm holds a requeued job back 2 minutes
    wait_until(lambda: job_field(job_id, "JobState") not in ("PENDING", "RUNNING", "COMPLETING"), 300,
               "the requeued job", poll=1)
    assert job_field(job_id, "JobState") == "COMPLETED", log.read_text()[-3000:]

    text = log.read_text()
    assert "requeued Slurm job: resuming" in text, text[-3000:]
    checkpointed = re.search(r"checkpointed at step \d+ .* and requeued job " + job_id,
                             (tmp_path / "requeued" / "train.log").read_text())
    assert bool(checkpointed) == (requeue == "signal")
    weights = load_file(tmp_path / "whole" / "model-last" / "model.safetensors")
    resumed = load_file(tmp_path / "requeued" / "model-last" / "model.safetensors")
    assert weights.keys() == resumed.keys() and all(torch.equal(weights[k], resumed[k]) for k in weights)
    assert (tmp_path / "whole" / "history.json").read_text() == (tmp_path / "requeued" / "history.json").read_text()


def test_a_two_task_step_and_a_job_array_write_a_complete_verified_store(tiny_dataset, tmp_path):
    store = tmp_path / "store"
    prior = [sys.executable, "-m", "mapfree", "depth-prior", "--data-root", str(tiny_dataset), "--out", str(store),
             "--teacher", "synthetic", "--workers", "0", "--no-progress"]
    step = ok(run("srun", "--ntasks=2", *prior))
    frames = list_frames(tiny_dataset, "train")
    written = dict(re.findall(r"rank (\d)/2: \d+ frames, 0 already stored, (\d+) written", step.stdout))
    assert sorted(written) == ["0", "1"] and sum(map(int, written.values())) == len(frames)
    verify = [*prior[:8], "--verify", "--world-size", "2"]
    assert "store complete" in ok(run(*verify)).stdout

    for ref in frames[:2]:  # one frame of each shard lost: the verification names the shards, the array redoes them
        (store / "train" / ref.scene / Path(ref.frame).with_suffix(".npz")).unlink()
    report = run(*verify)
    assert report.returncode == 1 and "shard 0 of 2: 1 missing" in report.stdout and "shard 1 of 2: 1 missing" \
        in report.stdout
    logs = tmp_path / "array-%a.log"
    ok(run("sbatch", "--wait", "--array=0-1", "-o", str(logs), "--wrap", " ".join(prior)))
    for task in (0, 1):
        assert f"rank {task}/2: " in (tmp_path / f"array-{task}.log").read_text()
        assert "1 written" in (tmp_path / f"array-{task}.log").read_text()
    assert "store complete" in ok(run(*verify)).stdout


def test_two_tasks_get_their_ranks_and_one_address_from_slurm():
    probe = ("from lightning_fabric.plugins.environments import SLURMEnvironment as E; "
             "from mapfree.training.slurm import allocation; e = E(auto_requeue=False); "
             "print(e.global_rank(), e.local_rank(), e.world_size(), e.main_address, e.main_port, "
             "*allocation('auto', 1))")
    done = ok(run("srun", "--nodes=1", "--ntasks-per-node=2", sys.executable, "-c", probe))
    rows = sorted(line.split() for line in done.stdout.splitlines())
    assert [row[:3] for row in rows] == [["0", "0", "2"], ["1", "1", "2"]]
    assert rows[0][3:5] == rows[1][3:5]  # one main address and port for both ranks
    assert all(row[5:] == ["2", "1"] for row in rows)  # devices: auto -> the step's 2 tasks on its 1 node


def test_ddp_training_over_two_tasks_of_one_step(tiny_dataset, tmp_path):
    """`srun` with two tasks: Lightning's Slurm environment makes one DDP run of them (`devices: auto` -> 2)."""
    config = tiny_config(tiny_dataset, tmp_path, trainer={"devices": "auto", "strategy": "ddp"})
    config = config.save(tmp_path / "cfg.yaml")
    ok(run("srun", "--nodes=1", "--ntasks-per-node=2", sys.executable, "-m", "mapfree", "train", "--config",
           str(config), "--set", "trainer.name=ddp"))
    text = (tmp_path / "ddp" / "train.log").read_text()
    assert "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2" in text and "Starting with 2 processes" in text
    assert (tmp_path / "ddp" / "model-last").is_dir()
