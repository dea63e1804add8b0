"""The study's Slurm launcher without a cluster: the `launcher:` section is typed and checked at load and is not
part of the study, a run's job asks for what its training config needs, and the CLI refuses what cannot work.
The jobs themselves run against a real Slurm in tests/test_slurm.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mapfree.cli import main
from mapfree.configs.typed import ConfigError
from mapfree.study.config import StudyConfig
from mapfree.study.pipeline import run_jobs, study_data
from mapfree.study.slurm import JOB_FILE, Queue, run_resources, units


def test_the_launcher_section_is_typed_checked_at_load_and_not_part_of_the_study():
    config = StudyConfig.load("quick", ["launcher.name=slurm", "launcher.partition=gpu", "launcher.gpus_per_node=4",
                                        "launcher.sbatch={constraint: a100}"])
    assert (config.launcher.name, config.launcher.partition, config.launcher.sbatch) == ("slurm", "gpu",
                                                                                         {"constraint": "a100"})
    assert config.to_yaml() == StudyConfig.load("quick").to_yaml()  # the same study, folder and digest
    with pytest.raises(ConfigError, match="launcher.name: expected one of 'local', 'slurm'"):
        StudyConfig.load("quick", ["launcher.name=pbs"])
    with pytest.raises(ConfigError, match="nodes must be at least 1"):
        StudyConfig.load("quick", ["launcher.nodes=0"])
    with pytest.raises(ConfigError, match="signal_s must be between 0 and the time limit"):
        StudyConfig.load("quick", ["launcher.time_min=1", "launcher.signal_s=90"])
    with pytest.raises(ConfigError, match="unknown key"):
        StudyConfig.load("quick", ["launcher.gpus=4"])


def test_units_and_resources_follow_the_study_and_each_runs_training_config(tmp_path: Path):
    config = StudyConfig.load("quick", ["launcher.name=slurm", "launcher.gpus_per_node=2", "launcher.prior_shards=3",
                                        "launcher.cpus_per_task=6"])
    data = study_data(config, tmp_path)
    jobs = run_jobs(config, tmp_path, data)
    found = units(config, tmp_path, data, jobs)
    assert [u.name for u in found[:3]] == ["benchmark and features", "priors (3 shards)", "priors verified"]
    assert found[1].tasks == 3 and found[2].after == [found[1]] and found[3].after == found[:3]
    assert [u.run for u in found[3:]] == jobs
    assert found[3].job_file == Path(jobs[0].config.trainer.out_dir) / jobs[0].config.trainer.name / JOB_FILE
    assert not any(u.done() for u in found)  # nothing made yet

    assert run_resources(config.launcher, jobs[0]) == {"nodes": 1, "ntasks_per_node": 2, "cpus_per_task": 6,
                                                      "gpus_per_node": 2}
    trainer = replace(jobs[0].config.trainer, accelerator="gpu", devices=4, num_nodes=2)
    named = replace(jobs[0], config=replace(jobs[0].config, trainer=trainer))
    assert run_resources(config.launcher, named) == {"nodes": 2, "ntasks_per_node": 4, "cpus_per_task": 6,
                                                    "gpus_per_node": 4}
    cpu = replace(config.launcher, gpus_per_node=0)
    assert run_resources(cpu, jobs[0]) == {"nodes": 1, "ntasks_per_node": 1, "cpus_per_task": 6}


def test_the_queue_reads_jobs_array_tasks_and_stuck_dependencies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    squeue = tmp_path / "squeue"
    squeue.write_text("#!/bin/sh\nprintf '12|RUNNING|None\\n13_[0-1]|PENDING|Dependency\\n14|PENDING|"
                      "DependencyNeverSatisfied\\n'\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    queue = Queue()
    assert queue.live("12") and queue.live("13") and not queue.live("1") and not queue.live(None)
    assert queue.stuck("14") and not queue.stuck("13")


def test_detach_needs_the_slurm_launcher(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["study", "--quick", "--out", str(tmp_path / "study"), "--detach"]) == 2
    assert "--detach needs the Slurm launcher" in capsys.readouterr().err
    assert not (tmp_path / "study").exists()  # refused before the folder is claimed
