"""`mapfree study` end to end at CI size: structure, the placebo, resuming, refusals, the held-out split."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mapfree.cli import main
from mapfree.data.files import read_poses_table
from mapfree.data.scenes import list_scenes
from mapfree.study.report import validate_study_json

CI_SIZE = ["synth.train_scenes=2", "synth.val_scenes=1", "synth.test_scenes=3", "synth.frames=6",
           "synth.size=[112, 140]", "pretrain.steps=2", "pretrain.batch_size=2", "bootstrap=100",
           "train={trainer: {max_epochs: 2, check_val_every_n_epoch: 1}, data: {pairs_per_scene: 3, batch_size: 2, "
           "num_workers: 0, val_max_pairs: 2}, solver: {rounds: 2, hypotheses: 20, samples: 64}}"]
ARMS = "seed-published,ssi-relative,oracle"


def study_args(out: Path, *extra: str) -> list[str]:
    sets = [arg for value in CI_SIZE for arg in ("--set", value)]
    return ["study", "--quick", "--out", str(out), "--arms", ARMS, "--workers", "2", *sets, *extra]


def study(out: Path, *extra: str) -> int:
    return main(study_args(out, *extra))


def strict(text: str) -> dict:
    def refuse(name: str):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow
def test_quick_study_end_to_end(tmp_path, capsys):
    """One CI-sized study (one test, so parallel test workers never run it twice), checked in turn."""
    assert study(tmp_path) == 0
    check_structure(tmp_path)
    check_evaluate_reproduces_each_run(tmp_path)
    check_placebo(tmp_path)
    check_truth_held_apart(tmp_path)
    check_resume(tmp_path)
    check_refusal(tmp_path, capsys)
    check_killed_study_resumes_to_the_same_result(tmp_path, tmp_path.parent / f"{tmp_path.name}_killed")


def check_killed_study_resumes_to_the_same_result(reference: Path, out: Path) -> None:
    """SIGKILL the whole study (its process group, workers included) once a run has checkpointed its
    first epoch, run it again: every run's numbers equal the uninterrupted study's."""
    process = subprocess.Popen([sys.executable, "-m", "mapfree", *study_args(out)], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(out.glob("runs/*/seed0/checkpoints/last.ckpt")) and time.monotonic() < deadline:
        assert process.poll() is None, "the study ended before any run checkpointed"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "study.json").exists()
    assert study(out) == 0
    resumed, uninterrupted = (strict((d / "study.json").read_text()) for d in (out, reference))
    assert [a["runs"] for a in resumed["arms"]] == [a["runs"] for a in uninterrupted["arms"]]


def check_structure(quick_study: Path) -> None:
    d = strict((quick_study / "study.json").read_text())
    assert validate_study_json(d) == []
    assert d["split"] == "test" and d["primary_metric"] == "AUC @ VCRE < 18.7px"  # 90 px scaled to 112 px
    assert [arm["name"] for arm in d["arms"]] == ["none", "seed-published", "ssi-relative", "oracle"]
    for teacher in d["teachers"].values():
        assert {"abs_rel", "delta1", "abs_rel_median_scaled"} <= teacher.keys()
    for arm in d["arms"]:
        assert [run["seed"] for run in arm["runs"]] == [0, 1]
        metrics = arm["runs"][0]["metrics"]
        assert {d["primary_metric"], "Average Median Reprojection Error", "depth/abs_rel", "depth/delta1_weighted",
                "depth/border_abs_rel", "depth/sky_confidence"} <= metrics.keys()
        if arm["name"] == "none":
            assert not arm["effect_vs_none"]
        else:
            effect = arm["effect_vs_none"][d["primary_metric"]]
            assert effect["verdict"] in ("better", "worse", "no detectable difference")
            assert effect["n_seeds"] == 2 and effect["method"].startswith("paired t")
            assert effect["scenes_only"]["verdict"] in ("better", "worse", "no detectable difference", "undefined")
        assert arm["stability"]["runs"] == 2
    assert any(name.startswith("trivial") for name in d["references"])
    assert {"none: teacher depth", "none: true depth"} <= d["references"].keys()
    report = (quick_study / "report.md").read_text()
    assert "seed-published vs none on VCRE AUC @ 18.7px" in report and (quick_study / "forest.png").is_file()
    draws = sorted(p.name for p in (quick_study / "pretrained_features").iterdir())
    assert draws == ["draw0", "draw1"]  # seed s starts from draw s mod 2


def check_evaluate_reproduces_each_run(quick_study: Path) -> None:
    """`mapfree evaluate` on a run's own submission, at its default thresholds, gives that run's row of study.json:
    each run is scored as the benchmark scores one submission, by the same rule for the thresholds."""
    d = strict((quick_study / "study.json").read_text())
    for arm in d["arms"]:
        for run in arm["runs"]:
            submission = quick_study / "runs" / arm["name"] / f"seed{run['seed']}" / "test" / "submission.zip"
            out = quick_study / f"eval_{arm['name']}_{run['seed']}.json"
            assert main(["--quiet", "evaluate", str(submission), "--data-root", str(quick_study / "heldout"),
                         "--split", "test", "--json", str(out)]) == 0
            scored = json.loads(out.read_text())["metrics"]
            out.unlink()
            row = {k: v for k, v in run["metrics"].items() if not k.startswith("depth/")}
            assert row == pytest.approx(scored), (arm["name"], run["seed"])


def check_placebo(quick_study: Path) -> None:
    arms = {arm["name"]: arm for arm in strict((quick_study / "study.json").read_text())["arms"]}
    assert arms["seed-published"]["runs"] == arms["none"]["runs"]
    effect = arms["seed-published"]["effect_vs_none"]
    assert all(e["mean"] in (0.0, None) and e["verdict"] in ("no detectable difference", "undefined")
               for e in effect.values())
    # ... while an arm whose depth loss has a gradient trains other weights
    assert arms["ssi-relative"]["runs"][0]["metrics"] != arms["none"]["runs"][0]["metrics"]


def check_truth_held_apart(quick_study: Path) -> None:
    for scene in list_scenes(quick_study / "data", "test"):
        assert not list(scene.root.rglob("*.depth.png"))
        assert not read_poses_table(scene.root / "poses.txt", allow_zero=True).names  # every pose hidden
    truth = list_scenes(quick_study / "heldout", "test")
    assert len(truth) == 3 and list(truth[0].root.rglob("*.depth.png"))


def check_resume(quick_study: Path) -> None:
    """A rerun reuses finished runs; a run whose record is gone (killed before its evaluation was written)
    is evaluated again from its trained model and gives the same numbers."""
    before = strict((quick_study / "study.json").read_text())
    record = quick_study / "records" / "ssi-relative-seed0.json"
    record.unlink()
    assert study(quick_study) == 0
    after = strict((quick_study / "study.json").read_text())
    assert [a["runs"] for a in after["arms"]] == [a["runs"] for a in before["arms"]]
    assert record.is_file()


def check_refusal(quick_study: Path, capsys) -> None:
    assert study(quick_study, "--set", "bootstrap=101") == 2
    assert "holds a different study" in capsys.readouterr().err


def test_study_arguments_are_checked(tmp_path, capsys):
    assert main(["study", "--quick", "--out", str(tmp_path), "--arms", "nonsense"]) == 2
    assert "no arm 'nonsense'" in capsys.readouterr().err
    assert main(["study", "--quick", "--out", str(tmp_path), "--seeds", "0"]) == 2
    assert main(["study", "--quick", "--out", str(tmp_path), "--set", "synth.test_scenes=abc"]) == 2
    assert not any(tmp_path.iterdir())


def test_packaged_studies_load_and_the_real_one_needs_no_synthesis():
    from mapfree.study import StudyConfig

    full = StudyConfig.load("synthetic")
    assert len(full.seeds) >= 10 and full.pretrain_draws > 1 and full.headline_arm == "silog-metric"
    assert {a.name for a in full.arms} == {
        "none", "seed-published", "seed-code-grad", "l2-metric", "ssi-relative", "silog-metric", "oracle"}
    replicate = StudyConfig.load("replicate")
    assert [a.name for a in replicate.arms] == ["none", "silog-metric"]
    assert replicate.synth.seed != full.synth.seed and not set(replicate.seeds) & set(full.seeds)
    budget = StudyConfig.load("budget")
    assert budget.synth == full.synth and set(budget.seeds) <= set(full.seeds)
    assert all(budget.pretrain_draw(s) == full.pretrain_draw(s) for s in budget.seeds)  # the same features
    real = StudyConfig.load("mapfree")
    assert real.synth is None and real.test_split == "val" and real.pretrain is None
    assert "oracle" not in {a.name for a in real.arms}
    assert np.all([a.target != "true" for a in real.arms])


@pytest.mark.slow
def test_real_data_path_runs_on_released_layouts(tiny_dataset, tmp_path):
    """The `mapfree` study (the real dataset's recipe) by configuration alone: an existing Map-free-layout
    dataset, its val split as the held-out split, no pretraining, Depth Anything teachers from local folders
    and MicKey in the released layout (DINOv2 .pth + Lightning checkpoint + YAML); everything random and tiny."""
    from mapfree.depth_prior.random_model import save_random_depth_anything
    from mickey_weights import small_released_config, write_released_files

    weights = tmp_path / "weights"
    weights.mkdir()
    ckpt, cfg, dino, _ = write_released_files(weights, small_released_config(), seed=1)
    relative = save_random_depth_anything(weights / "da_relative", input_size=56)
    metric = save_random_depth_anything(weights / "da_metric", metric=True, input_size=56)
    train_yaml = tmp_path / "released_tiny.yaml"
    train_yaml.write_text(
        "base: mickey\n"
        f"init: {{checkpoint: {ckpt}, config: {cfg}, dinov2_weights: {dino}}}\n"
        "trainer: {accelerator: cpu, devices: 1, strategy: auto, max_epochs: 1, log_every_n_steps: 1}\n"
        "data: {batch_size: 2, val_batch_size: 2, num_workers: 0, pairs_per_scene: 2, val_max_pairs: 2}\n"
        "loss: {num_sets: 2, set_size: 16, num_hypotheses: 4, min_set: 3}\n"
        "solver: {rounds: 1, hypotheses: 8, samples: 32}\n")
    out = tmp_path / "study"
    rc = main(["study", "--config", "mapfree", "--out", str(out), "--seeds", "1",
               "--arms", "seed-published,ssi-relative,silog-metric",
               "--set", f"data_root={tiny_dataset}", "--set", f"train_config={train_yaml}",
               "--set", "train.trainer.max_epochs=1",
               "--set", f"relative_teacher={{name: depth-anything, weights: {relative}, device: cpu, batch_size: 2}}",
               "--set", f"metric_teacher={{name: depth-anything, weights: {metric}, device: cpu, batch_size: 2}}",
               "--set", "bootstrap=50"])
    assert rc == 0
    d = strict((out / "study.json").read_text())
    assert validate_study_json(d) == [] and d["context"]["test_split"] == "val"
    assert d["teachers"] == {}  # no depth maps on the real dataset: nothing to measure a teacher against
    arms = {arm["name"]: arm for arm in d["arms"]}
    assert arms["seed-published"]["runs"][0]["metrics"] == arms["none"]["runs"][0]["metrics"]
    assert not any(key.startswith("depth/") for key in arms["none"]["runs"][0]["metrics"])
    assert "none: teacher depth" in d["references"] and "none: true depth" not in d["references"]
    assert not (out / "data").exists() and not (out / "pretrained_features").exists()
