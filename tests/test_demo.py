"""`mapfree demo` end to end on a tiny budget: every artefact is written and every number is real."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mapfree.demo import DemoBudget, run_demo
from mapfree.demo.report import MethodRow, markdown_table
from mapfree.demo.trivial import mean_training_translation, write_trivial_submission
from mapfree.evaluation import evaluate_submission
from mapfree.evaluation.aggregate import Thresholds
from mapfree.synth import SynthConfig
from mapfree.training.pretrain import PretrainConfig

TINY = DemoBudget(
    "test",
    SynthConfig(seed=1, train_scenes=2, val_scenes=1, test_scenes=0, frames=6, size=(112, 140)),
    PretrainConfig(steps=2, batch_size=2),
    ("trainer.max_epochs=1", "data.pairs_per_scene=2", "data.batch_size=2", "solver.rounds=2",
     "solver.hypotheses=20", "solver.samples=64"),
)


@pytest.mark.slow
def test_demo_writes_report_results_and_figures(tmp_path: Path):
    results = run_demo(tmp_path, TINY)
    names = [m["name"] for m in results["methods"]]
    assert names == ["Trivial (R = I, mean train t)", "MicKey", "MicKey + depth supervision"]
    for method in results["methods"][1:]:
        assert math.isfinite(method["depth_abs_rel"]) and 0 <= method["depth_delta1"] <= 1
        assert method["train_steps"] == 2 and method["seconds"] > 0
    diagnostics = results["diagnostics"]
    assert [d["name"] for d in diagnostics] == [f"{n}: its matches + true depth" for n in names[1:]]
    for row in diagnostics:
        assert (row["metrics"]["Estimates for % of frames"] >= 0
                and math.isfinite(row["metrics"]["Average Median Rotation Error"]))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == results
    assert (tmp_path / "pretrained_features" / "model.safetensors").is_file()
    report = (tmp_path / "report.md").read_text()
    assert "| MicKey + depth supervision |" in report
    assert "| MicKey + depth supervision: its matches + true depth |" in report
    for line in report.splitlines():
        if line.startswith("!["):
            assert (tmp_path / line.split("](")[1].rstrip(")")).is_file()


def test_trivial_baseline_uses_identity_and_mean_translation(tiny_dataset, tmp_path: Path):
    t = mean_training_translation(tiny_dataset)
    assert t.shape == (3,) and np.all(np.isfinite(t))
    zip_path = write_trivial_submission(tiny_dataset, "val", t, tmp_path / "trivial.zip")
    evaluation = evaluate_submission(zip_path, tiny_dataset, "val", Thresholds.for_image_width(112))
    assert evaluation.metrics["Estimates for % of frames"] == 1.0


def test_thresholds_scale_with_image_width_and_table_shows_them():
    thresholds = Thresholds.for_image_width(270)
    assert thresholds.vcre_px == (45.0, 22.5)
    row = MethodRow("m", {"AUC @ VCRE < 45.0px": 0.5, "Precision @ VCRE < 45.0px": 0.25}, seconds=3.0)
    table = markdown_table([row], thresholds)
    assert "| m | 0.500 | 25.0% |" in table and table.rstrip().endswith("| 3 |")
