"""A study's arms are typed partial training configs: checked when the study loads, built once per run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from mapfree.cli import main
from mapfree.configs.loader import apply_overrides, as_overrides
from mapfree.configs.typed import ConfigError
from mapfree.study import StudyConfig
from mapfree.study.pipeline import StudyData, run_jobs, thresholds
from mapfree.training import TrainConfig
from mapfree.training.config import DepthLossKind
from mapfree.training.losses.depth import DEPTH_LOSSES

ARMS = """
arms:
  - name: none
    description: control
  - name: silog
    description: the treatment
    target: metric
    train: {depth: {enabled: true, loss: silog}}
"""


def study_yaml(tmp_path: Path, arms: str = ARMS) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text("base: study/quick\nseeds: [0, 1]\nheadline_arm: silog\n" + arms)
    return path


def test_misspelt_arm_key_fails_the_study_at_load_naming_the_arm(tmp_path, capsys):
    path = study_yaml(tmp_path, ARMS.replace("loss: silog", "los: silog"))
    out = tmp_path / "out"
    assert main(["study", "--config", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "arm 'silog'" in err and "depth.los" in err and "did you mean loss" in err
    assert not out.exists()  # before anything was computed


@pytest.mark.parametrize("arm_train, words", [
    ("{depth: {enabled: true, loss: silog, weight: heavy}}", ["arm 'silog'", "depth.weight", "expected float"]),
    ("{depth: {enabled: true, loss: silog, source: gt, prior_root: null}, nonsense: {a: 1}}",
     ["arm 'silog'", "nonsense: unknown key"]),
    ("{depth: {enabled: true, loss: cubic}}", ["arm 'silog'", "depth.loss"]),
])
def test_arm_values_are_typed_and_checked_against_the_whole_tree(tmp_path, arm_train, words):
    path = study_yaml(tmp_path, ARMS.replace("{depth: {enabled: true, loss: silog}}", arm_train))
    with pytest.raises(ConfigError) as e:
        StudyConfig.load(path)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_cross_field_errors_of_an_arm_fail_at_load(tmp_path):
    """A depth term from a prior store needs the store the study computes for the arm's target: an arm whose
    target has no store (`none`) cannot read one, and that fails when the study loads, not inside the run."""
    path = study_yaml(tmp_path, ARMS.replace("    target: metric\n", ""))
    with pytest.raises(ConfigError, match="arm 'silog'.*prior_root"):
        StudyConfig.load(path)


def test_the_shared_budget_is_a_typed_tree_that_overrides_reach_key_by_key(tmp_path):
    config = StudyConfig.load("quick", ["train.trainer.max_epochs=7"])
    assert config.train["trainer"] == {"max_epochs": 7, "check_val_every_n_epoch": 2}
    with pytest.raises(ConfigError, match="train.trainer.max_epochs"):
        StudyConfig.load("quick", ["train.trainer.max_epochs=many"])
    with pytest.raises(ConfigError, match="train.trainer.max_epoch: unknown key"):
        StudyConfig.load("quick", ["train.trainer.max_epoch=3"])
    assert StudyConfig.load("mapfree").train == {"trainer": {"max_epochs": 100}}  # no CPU budget in the recipe


def test_as_overrides_is_the_inverse_of_applying_them():
    tree = {"trainer": {"max_epochs": 2, "resume": None, "progress_bar": False},
            "data": {"resize": [160, 120], "root": "data/x y"}, "depth": {"loss": "silog"}}
    assert apply_overrides(TrainConfig, {}, as_overrides(tree)) == tree


def test_each_run_gets_its_whole_training_config_built_by_the_parent(tmp_path):
    config = StudyConfig.load(study_yaml(tmp_path))
    data = StudyData(tmp_path / "data", tmp_path / "truth", [tmp_path / "draw0", tmp_path / "draw1"],
                     {"metric": tmp_path / "priors" / "metric"}, None)
    jobs = {(job.arm, job.seed): job for job in run_jobs(config, tmp_path / "out", data)}
    assert set(jobs) == {(arm, seed) for arm in ("none", "silog") for seed in (0, 1)}
    for (arm, seed), job in jobs.items():
        train = job.config
        assert isinstance(train, TrainConfig)
        assert train.data.root == str(tmp_path / "data") and train.init.checkpoint == str(tmp_path / f"draw{seed}")
        assert (train.trainer.out_dir, train.trainer.name) == (str(tmp_path / "out" / "runs" / arm), f"seed{seed}")
        assert (train.trainer.seed, train.trainer.resume, train.trainer.progress_bar) == (seed, "last", False)
        assert (train.trainer.max_epochs, train.data.pairs_per_scene) == (2, 8)  # the study's budget
        assert train.validation.image_width == config.synth.size[0]
        assert job.test.thresholds == thresholds(config, data) == train.thresholds
    treated, control = jobs["silog", 0].config, jobs["none", 0].config
    assert treated.depth.enabled and treated.depth.loss == "silog"
    assert treated.depth.prior_root == str(tmp_path / "priors" / "metric")
    assert not control.depth.enabled and control.depth.prior_root is None


def test_a_study_is_read_and_checked_without_importing_torch():
    """What lets `mapfree study` refuse a bad arm at once: the configuration tree imports no torch, Lightning
    or transformers (their packages export lazily), only the pipeline does."""
    code = ("import sys\nfrom mapfree.study.config import StudyConfig\n"
            "for name in ('synthetic', 'quick', 'budget', 'replicate', 'demo', 'mapfree'):\n"
            "    StudyConfig.load(name)\n"
            "print(sorted(m for m in ('torch', 'pytorch_lightning', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_configured_depth_losses_are_the_registered_ones():
    assert set(get_args(DepthLossKind)) == set(DEPTH_LOSSES.names())
