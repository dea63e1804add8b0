"""One VCRE rule for every command that scores: the benchmark's 90 and 45 px at 540 px wide, scaled to the width of
the frames scored (validation, the study, `evaluate`, `compare` alike), `--vcre-px` to choose, printed in reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mapfree.cli import main
from mapfree.data.scenes import frame_widths, list_scenes, split_pairs
from mapfree.errors import InputError
from mapfree.evaluation.aggregate import BENCHMARK_VCRE_PX, Thresholds
from mapfree.evaluation.submission import SubmissionEntry, write_submission
from mapfree.training.config import DataConfig, TrainConfig, ValidationConfig


def perfect_submission(root, out):
    """The ground truth of the val pairs as a submission zip."""
    scenes = {scene.name: scene for scene in list_scenes(root, "val")}
    poses = [(p.scene, p.frame1, scenes[p.scene].relative_pose(p.frame0, p.frame1)) for p in split_pairs(root, "val")]
    estimates = {name: [SubmissionEntry(frame, T[:3, :3], T[:3, 3], 1.0) for s, frame, T in poses if s == name]
                 for name in scenes}
    return write_submission(out / "submission.zip", estimates)


def test_the_rule_scales_the_benchmark_thresholds_to_the_width():
    assert Thresholds.for_image_width(540).vcre_px == BENCHMARK_VCRE_PX == (90, 45)  # keys print `90px`
    assert Thresholds.for_image_width(360).vcre_px == (60, 30)
    assert Thresholds.for_image_width(112).vcre_px == (18.7, 9.3)
    assert Thresholds.for_frames(np.array([360, 360])) == Thresholds.for_image_width(360)
    with pytest.raises(InputError, match="2 widths .*--vcre-px"):
        Thresholds.for_frames(np.array([360, 540]))


def test_validation_scores_at_the_width_of_the_val_frames(tiny_dataset):
    config = TrainConfig(data=DataConfig(root=str(tiny_dataset))).with_val_width()
    assert config.validation.image_width == 112
    assert config.thresholds == Thresholds.for_frames(sorted(frame_widths(tiny_dataset, "val")))
    given = TrainConfig(data=DataConfig(root=str(tiny_dataset)), validation=ValidationConfig(vcre_px=(30,)))
    assert given.with_val_width().thresholds.vcre_px == (30,)


def evaluate_json(args: list[str], out) -> dict:
    assert main([*args, "--json", str(out), "--overwrite"]) == 0
    return json.loads(out.read_text())


def test_evaluate_scores_like_validation_and_says_so(tiny_dataset, tmp_path, capsys):
    zip_path = perfect_submission(tiny_dataset, tmp_path)
    args = ["evaluate", str(zip_path), "--data-root", str(tiny_dataset), "--split", "val"]
    default = evaluate_json(args, tmp_path / "default.json")
    validation = TrainConfig(data=DataConfig(root=str(tiny_dataset))).with_val_width().thresholds
    assert default["thresholds"]["vcre_px"] == list(validation.vcre_px) and default["thresholds"]["image_width"] == 112
    assert f"AUC @ VCRE < {validation.vcre_px[0]}px" in default["metrics"]
    assert validation.describe() in capsys.readouterr().out
    chosen = evaluate_json([*args, "--vcre-px", "30"], tmp_path / "chosen.json")
    assert chosen["thresholds"]["vcre_px"] == [30] and "AUC @ VCRE < 30px" in chosen["metrics"]
    assert "VCRE 30 px (as given)" in capsys.readouterr().out
    old = evaluate_json([*args, "--vcre-thresholds", "30"], tmp_path / "old.json")
    assert old["metrics"] == chosen["metrics"]
    assert "--vcre-thresholds is deprecated, use --vcre-px" in capsys.readouterr().err
