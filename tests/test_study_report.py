"""study.json, report.md and the forest plot of a small hand-made study (2 arms x 2 seeds x 4 scenes)."""

from __future__ import annotations

import copy
import json
import re

import cv2
import pytest

from mapfree.evaluation.aggregate import Thresholds
from mapfree.study.metrics import (
    CombinedMetrics,
    DepthMetrics,
    PoseMetrics,
    metric_label,
    primary_metric,
)
from mapfree.study.report import (
    build_study_json,
    headline,
    read_study_json,
    study_tables,
    validate_study_json,
    verdict_line,
    write_study,
)
from mapfree.study.run import reference_means
from mapfree.study.stats import Arm, compare_arms
from study_fakes import DEPTH_RATIOS, fake_run

SCENES = ["s00000", "s00001", "s00002", "s00003"]
THRESHOLDS = Thresholds.for_image_width(240)
PRIMARY = "AUC @ VCRE < 40.0px"


def strict_loads(text: str) -> dict:
    """json.loads that refuses NaN and Infinity."""

    def refuse(name: str) -> None:
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def study() -> dict:
    arms = [Arm("none", "no depth loss", [fake_run("none", seed, SCENES, references=("true depth",))
                                         for seed in (0, 1, 2)]),
            Arm("silog-metric", "scale-invariant log loss on the metric teacher",
                [fake_run("silog-metric", seed, SCENES, scale=0.8, references=("true depth",))
                 for seed in (0, 1, 2)])]
    metrics = CombinedMetrics((PoseMetrics(THRESHOLDS), DepthMetrics(DEPTH_RATIOS)))
    results = compare_arms(arms, SCENES, metrics, n_resamples=200, seed=0, primary=PRIMARY, trivial=0.0)
    references = {"trivial": {PRIMARY: 0.0, "Average Median Reprojection Error": float("nan")},
                  **reference_means({arm.name: list(arm.runs) for arm in arms}, SCENES, THRESHOLDS)}
    teachers = {"synthetic-metric": {"abs_rel": 0.12, "delta1": 0.85, "abs_rel_median_scaled": 0.08},
                "depth-anything-relative": {"abs_rel": float("nan"), "delta1": float("nan"),
                                            "abs_rel_median_scaled": 0.1, "abs_rel_affine": 0.07}}
    context = {"test_scenes": 4, "test_pairs": 32, "seeds": [0, 1, 2], "image_size": "240x320", "wall_time_s": 12.5,
               "headline_arm": "silog-metric", "provenance": {"mapfree": "0.1.0", "commit": "abc"}}
    return build_study_json(PRIMARY, results, teachers, references, context, headline(THRESHOLDS), 200, 0)


def test_headline_follows_the_thresholds():
    keys = headline(THRESHOLDS)
    assert keys[0] == PRIMARY == primary_metric(THRESHOLDS)
    assert {"Precision @ VCRE < 20.0px", "Precision @ VCRE < 40.0px", f"AUC @ {THRESHOLDS.pose_label}"} <= set(keys)
    assert {"depth/abs_rel", "depth/delta1", "Average Median Translation Error"} <= set(keys)
    assert headline(Thresholds())[0] == "AUC @ VCRE < 90px"
    assert metric_label(PRIMARY) == "VCRE AUC @ 40.0px"


def test_written_study_is_strict_json_and_report_states_the_verdicts(study, tmp_path):
    paths = write_study(tmp_path, study)
    written = strict_loads((tmp_path / "study.json").read_text())
    assert validate_study_json(written) == []
    assert written["teachers"]["depth-anything-relative"]["abs_rel"] is None
    assert [arm["name"] for arm in written["arms"]] == ["none", "silog-metric"]
    assert written["arms"][0]["effect_vs_none"] == {} and PRIMARY in written["arms"][1]["effect_vs_none"]
    report = paths["report"].read_text()
    line = verdict_line(written, written["arms"][1])
    assert re.fullmatch(r"silog-metric vs none on VCRE AUC @ 40\.0px: [+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\], "
                        r"(better|worse|no detectable difference) \(3 paired seeds, each run scored alone on 4 "
                        r"test scenes\)", line)
    assert f"- {line}" in report
    for text in ("none: true depth", "depth-anything-relative", "abs_rel_affine", "240x320", "forest.png",
                 "## Summary", "Headline, `silog-metric` vs `none`", "## Provenance", "- commit: abc",
                 "These trained models only", study_tables(written)):
        assert text in report
    summary = report.split("## Summary")[1].split("## Provenance")[0].strip().splitlines()
    assert len(summary) == 5
    image = cv2.imread(str(paths["forest"]))
    assert image is not None and image.shape[1] > 800


def test_report_shows_an_undefined_effect_without_an_interval(study, tmp_path):
    undefined = copy.deepcopy(study)
    undefined["arms"][1]["effect_vs_none"][PRIMARY].update(mean=0.01, ci95=None, verdict="undefined", n_seeds=1)
    report = write_study(tmp_path, undefined)["report"].read_text()
    assert "VCRE AUC @ 40.0px: +0.010 [no interval], undefined (1 paired seeds" in report


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d.pop("teachers"), "missing key 'teachers'"),
    (lambda d: d["arms"][1].pop("effect_vs_none"), "arms[1]: missing key 'effect_vs_none'"),
    (lambda d: d["teachers"]["synthetic-metric"].pop("abs_rel_median_scaled"), "'abs_rel_median_scaled'"),
    (lambda d: d["arms"][1]["effect_vs_none"].pop(PRIMARY), "no primary metric"),
    (lambda d: d["arms"][1]["effect_vs_none"][PRIMARY].update(ci95=None), "null with the verdict"),
    (lambda d: d["arms"][1]["effect_vs_none"][PRIMARY].update(ci95=[0.2, 0.1]), "low <= high"),
    (lambda d: d["arms"][1]["effect_vs_none"][PRIMARY].pop("n_seeds"), "'n_seeds'"),
    (lambda d: d["arms"][1]["effect_vs_none"][PRIMARY].pop("scenes_only"), "'scenes_only'"),
    (lambda d: d["arms"][0]["runs"][0]["metrics"].update({PRIMARY: float("nan")}), "not a number"),
    (lambda d: d["arms"][0]["effect_vs_none"].update(d["arms"][1]["effect_vs_none"]), "control arm"),
    (lambda d: d["arms"][0].update(name="baseline"), "lack the control"),
    (lambda d: d["context"].pop("test_scenes"), "'test_scenes'"),
    (lambda d: d.update(split="val"), "split"),
])
def test_validation_names_what_departs_from_the_schema(study, change, expected, tmp_path):
    broken = copy.deepcopy(study)
    change(broken)
    problems = validate_study_json(broken)
    assert any(expected in p for p in problems), problems
    with pytest.raises(ValueError, match="would not conform"):
        write_study(tmp_path, broken)
    assert not any(tmp_path.iterdir())


def test_tables_come_from_study_json_alone(study, tmp_path, capsys):
    from mapfree.cli import main

    path = write_study(tmp_path, study)["study"]
    assert main(["study", "--tables", str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == study_tables(read_study_json(path)).strip()
    assert "| `silog-metric` | 3 |" in printed and "Pitman-Morgan" in printed
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert main(["study", "--tables", str(broken)]) == 2
    assert "broken.json: not a study.json" in capsys.readouterr().err
