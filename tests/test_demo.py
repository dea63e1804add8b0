"""`mapfree demo` is the study restricted to the control and `silog-metric`: its arguments, and a CI-size run
whose report says what it rests on and shows its figures."""

from __future__ import annotations

from dataclasses import replace

import cv2
import pytest

from mapfree.cli import main
from mapfree.cli.demo import demo_config
from mapfree.data.scenes import split_pairs
from mapfree.evaluation.aggregate import Thresholds
from mapfree.study import StudyConfig, run_study
from mapfree.study.figures import run_curves
from mapfree.study.runs import load_record
from test_study import CI_SIZE


def test_demo_arguments_choose_the_study_its_arms_and_seed(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("mapfree.study.run_study",
                        lambda config, out, overwrite=False: calls.append((config, out, overwrite)))
    assert main(["demo", "--out", str(tmp_path / "full"), "--seed", "3"]) == 0
    assert main(["demo", "--quick", "--out", str(tmp_path / "quick"), "--overwrite"]) == 0
    (full, full_out, full_overwrite), (quick, quick_out, quick_overwrite) = calls
    assert (full_out, full_overwrite, quick_out, quick_overwrite) == (str(tmp_path / "full"), False,
                                                                      str(tmp_path / "quick"), True)
    for config, seed in ((full, 3), (quick, 0)):
        assert [arm.name for arm in config.arms] == ["none", "silog-metric"]
        assert config.seeds == [seed] and config.pretrain.seed == seed and config.pretrain_draws == 1
    synthetic, packaged_quick = StudyConfig.load("synthetic"), StudyConfig.load("quick")
    assert full.synth == replace(synthetic.synth, test_scenes=32) and full.train == synthetic.train
    assert full.pretrain == replace(synthetic.pretrain, seed=3)
    assert full.workers == 2 and full.arm("silog-metric") == synthetic.arm("silog-metric")
    assert quick.synth == packaged_quick.synth and quick.train == packaged_quick.train


@pytest.mark.slow
def test_demo_at_ci_size_reports_its_pairs_and_figures(tmp_path):
    study = run_study(demo_config(quick=True, seed=1, overrides=[*CI_SIZE, "workers=1"]), tmp_path)
    assert [(arm["name"], [run["seed"] for run in arm["runs"]]) for arm in study["arms"]] == [
        ("none", [1]), ("silog-metric", [1])]
    pairs = len(split_pairs(tmp_path / "heldout", "test"))
    assert study["context"]["test_pairs"] == pairs > 0
    report = (tmp_path / "report.md").read_text()
    assert f"- test pairs (scored query frames): {pairs}" in report
    assert "(1 paired seeds, each run scored alone on 3 test scenes); these trained models only: [" in report
    assert "mean ± std over its runs" in report
    links = [line.split("](")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    assert sorted(links) == sorted(["forest.png", "figures/training_curves.png", "figures/precision_recall.png",
                                    "figures/matches_none.png", "figures/cameras_none.png",
                                    "figures/matches_silog-metric.png", "figures/cameras_silog-metric.png",
                                    "figures/pair_depth.png"])
    for link in links:
        image = cv2.imread(str(tmp_path / link))
        assert image is not None and image.shape[1] >= 1000
    # the precision-recall figure's curves are the ones whose areas study.json reports
    primary, arm = study["primary_metric"], study["arms"][1]
    record = load_record(tmp_path / "records" / "silog-metric-seed1.json")
    curve = run_curves(record, Thresholds.for_image_width(112))[primary.removeprefix("AUC @ ")]
    assert curve.auc == pytest.approx(arm["runs"][0]["metrics"][primary])
