"""Logging: `trainer.logger` (CSV here; wandb and mlflow are extras), the learning-rate monitor,
Lightning's tips and notes kept out of the output, `--quiet` and `--verbose`."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mapfree.cli import main
from mapfree.training import train
from test_training_module import tiny_config

NOISE = ("Tip:", "litlogger", "GPU available", "TPU available", "was configured so", "LeafSpec")


def mapfree(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    """`mapfree ARGS` in a fresh interpreter (Lightning imported after the CLI configured logging, as for users),
    with `path` before PATH."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    if path is not None:
        env["PATH"] = os.pathsep.join([path, env.get("PATH", "")])
    return subprocess.run([sys.executable, "-m", "mapfree", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_csv_logger_writes_metrics_with_the_learning_rate(tiny_dataset, tmp_path):
    """Map images are logged every step here: a logger that cannot show them is skipped, not a crash."""
    config = tiny_config(tiny_dataset, tmp_path, trainer={"logger": "csv"})
    result = train(config)
    with (result.run_dir / "csv" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {"lr-Adam", "train/total", "val/median_vcre"} <= set(rows[0])
    assert {float(r["lr-Adam"]) for r in rows if r["lr-Adam"]} == {config.optim.lr}
    assert not (result.run_dir / "tb").exists()


@pytest.mark.parametrize("value", ["wandb", "mlflow", "[tensorboard, mlflow]"])
def test_a_logger_without_its_package_is_one_line_naming_the_extra(value, tmp_path, capsys):
    name = value.strip("[]").split(", ")[-1]
    if importlib.util.find_spec(name) is not None:
        pytest.skip(f"{name} is installed here")
    code = main(["train", "--config", "synthetic_cpu", "--set", f"trainer.out_dir={tmp_path}",
                 "--set", f"trainer.logger={value}"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"mapfree train: error: trainer.logger={name} needs {name} (not installed): pip install 'mapfree[{name}]'"]
    assert not list(tmp_path.iterdir())  # refused before anything is written


def test_unknown_logger_is_a_config_error(tmp_path, capsys):
    assert main(["train", "--config", "synthetic_cpu", "--set", "trainer.logger=neptune"]) == 2
    assert "trainer.logger: expected" in capsys.readouterr().err


@pytest.fixture(scope="module")
def train_args(tiny_dataset, tmp_path_factory) -> list[str]:
    """A tiny `mapfree train` resuming a run that has no checkpoint yet (an info line says so)."""
    out = tmp_path_factory.mktemp("logging")
    config = tiny_config(tiny_dataset, out, trainer={"progress_bar": True}).save(out / "cfg.yaml")
    return ["train", "--config", str(config), "--resume"]


def test_train_output_has_no_lightning_noise(train_args):
    result = mapfree(*train_args, "--set", "trainer.name=normal")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run folder:" in result.stdout
    assert "starting from scratch" in result.stderr
    assert [line for line in (result.stdout + result.stderr).splitlines() if any(n in line for n in NOISE)] == []


def test_quiet_hides_info_lines_and_progress_bars(train_args):
    result = mapfree("--quiet", *train_args, "--set", "trainer.name=quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run folder:" in result.stdout  # results still printed
    assert result.stderr == ""


def test_quiet_stays_quiet_where_slurm_is_installed_and_the_run_log_keeps_the_notice(train_args, tmp_path):
    """Slurm's client tools on PATH (an `srun` here) make Lightning warn that it was not launched by `srun`: not
    on the console under --quiet, but in the run's own `train.log`."""
    (tmp_path / "srun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "srun").chmod(0o755)
    result = mapfree("--quiet", *train_args, "--set", "trainer.name=quiet-slurm", path=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    run_log = Path(train_args[2]).parent / "quiet-slurm" / "train.log"
    assert "The `srun` command is available on your system but is not used" in run_log.read_text()


def test_verbose_shows_debug_and_lightning_info_but_no_tips(train_args):
    result = mapfree("--verbose", *train_args, "--set", "trainer.name=verbose")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DEBUG mapfree.training.run: training into" in result.stderr
    assert "GPU available" in result.stderr
    assert "Tip:" not in result.stderr
