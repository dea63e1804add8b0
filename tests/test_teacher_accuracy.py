"""A teacher's accuracy on the patch grid, on hand-made predictions with known answers; the seed's 8-bit
target encoding of the store and which losses accept it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mapfree.cli import main
from mapfree.depth_prior import PriorStore
from mapfree.depth_prior.accuracy import teacher_accuracy
from mapfree.depth_prior.frames import list_frames
from mapfree.depth_prior.meta import METRIC_DEPTH, RELATIVE_INVERSE_DEPTH, SEED_8BIT_RELATIVE
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.runner import compute_store, seed_8bit
from mapfree.depth_prior.teachers import build_teacher
from mapfree.errors import InputError
from mapfree.training.data import check_prior_quantity

TRUTH = [np.array([[2.0, 4.0], [8.0, 16.0]]), np.array([[1.0, 3.0, np.nan], [5.0, 7.0, 9.0], [11.0, 13.0, 15.0]])]


def test_perfect_metric_prediction() -> None:
    result = teacher_accuracy(TRUTH, TRUTH, relative=False)
    assert result == {"frames": 2, "abs_rel": 0.0, "delta1": 1.0, "abs_rel_median_scaled": 0.0,
                      "delta1_median_scaled": 1.0, "abs_rel_affine": None, "delta1_affine": None}


@pytest.mark.parametrize("factor, delta1", [(1.2, 1.0), (1.3, 0.0), (0.7, 0.0)])
def test_metric_prediction_off_by_a_constant_factor(factor: float, delta1: float) -> None:
    result = teacher_accuracy([factor * t for t in TRUTH], TRUTH, relative=False)
    assert result["abs_rel"] == pytest.approx(abs(factor - 1)) and result["delta1"] == delta1
    assert result["abs_rel_median_scaled"] == pytest.approx(0.0, abs=1e-12) and result["delta1_median_scaled"] == 1.0


def test_frames_are_averaged_not_patches() -> None:
    # One perfect frame of 4 patches, one of 8 valid patches off by 1.2: the frame mean is 0.1 (pooled: 0.133).
    result = teacher_accuracy([TRUTH[0], 1.2 * TRUTH[1]], TRUTH, relative=False)
    assert result["abs_rel"] == pytest.approx(0.1)


def test_relative_prediction_affine_in_inverse_depth_is_exact_after_alignment() -> None:
    pred = [3.0 / t + 0.5 for t in TRUTH]
    result = teacher_accuracy(pred, TRUTH, relative=True)
    assert result["abs_rel"] is None and result["delta1"] is None  # a relative teacher has no raw metric depth
    assert result["abs_rel_affine"] == pytest.approx(0.0, abs=1e-9) and result["delta1_affine"] == 1.0
    assert result["abs_rel_median_scaled"] > 0.1  # the shift is not a scale
    scaled_only = teacher_accuracy([7.0 / t for t in TRUTH], TRUTH, relative=True)
    assert scaled_only["abs_rel_median_scaled"] == pytest.approx(0.0, abs=1e-12)


def test_inverted_relative_prediction_is_an_error_not_a_fit() -> None:
    result = teacher_accuracy([t.copy() for t in TRUTH], TRUTH, relative=True)  # depth given as inverse depth
    assert result["abs_rel_affine"] > 0.2 and result["delta1_affine"] < 0.7


def test_frames_without_comparable_patches_are_left_out_and_lengths_must_match() -> None:
    empty = np.full((2, 2), np.nan)
    result = teacher_accuracy([TRUTH[0], empty], [TRUTH[0], TRUTH[0]], relative=False)
    assert result["frames"] == 1 and result["abs_rel"] == 0.0
    assert teacher_accuracy([empty], [TRUTH[0]], relative=True)["abs_rel_affine"] is None
    with pytest.raises(ValueError, match="2 predicted frames but 1 true"):
        teacher_accuracy(TRUTH, TRUTH[:1], relative=False)


def test_seed_8bit_is_min_max_to_255_truncated_then_divided() -> None:
    maps = torch.tensor([[[2.0, 6.0], [4.0, 5.99]], [[-1.0, -1.0], [-1.0, 3.0]]])
    encoded = seed_8bit(maps)
    expected_levels = torch.tensor([[[0, 255], [127, 254]], [[0, 0], [0, 255]]], dtype=torch.float32)
    torch.testing.assert_close(encoded, expected_levels / 255, rtol=0, atol=0)  # 127.5 and 254.36 truncate
    assert torch.isnan(seed_8bit(torch.ones(1, 2, 2))).all()  # a constant map has no range


def test_seed_8bit_store_is_the_patch_mean_of_the_encoded_map(tiny_dataset: Path, tmp_path: Path) -> None:
    teacher = build_teacher("synthetic")
    report = compute_store(tiny_dataset, "test", tmp_path, teacher, workers=0, progress=False, dense=True,
                           encoding="seed-8bit")
    assert not report.failures
    store = PriorStore(tmp_path, "test")
    assert store.meta.quantity == SEED_8BIT_RELATIVE and "8-bit" in store.meta.units
    for ref in list_frames(tiny_dataset, "test")[:3]:
        encoded = seed_8bit(teacher.predict(torch.from_numpy(teacher.reader(ref, ref.native_size))[None]))
        prior = store.load(ref.scene, ref.frame)
        np.testing.assert_allclose(prior.values, patch_average(encoded)[0].numpy(), rtol=1e-6)
        levels = store.load_dense(ref.scene, ref.frame).astype(np.float64) * 255
        assert levels.min() == 0 and levels.max() == 255 and np.allclose(levels, np.round(levels), atol=0.1)
    with pytest.raises(InputError, match="this store was made with other settings"):
        compute_store(tiny_dataset, "test", tmp_path, teacher, workers=0, progress=False, dense=True)


def test_seed_8bit_is_refused_for_metric_teachers(tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="for relative teachers; the synthetic-metric teacher gives metric_depth"):
        compute_store(tiny_dataset, "test", tmp_path, build_teacher("synthetic-metric"), encoding="seed-8bit")
    assert main(["depth-prior", "--data-root", str(tiny_dataset), "--split", "test", "--out", str(tmp_path),
                 "--teacher", "synthetic-near-truth", "--encoding", "seed-8bit", "--workers", "0",
                 "--no-progress"]) == 2


@pytest.mark.parametrize("loss, accepted", [
    ("seed_mse", {RELATIVE_INVERSE_DEPTH, METRIC_DEPTH, SEED_8BIT_RELATIVE}),
    ("ssi", {RELATIVE_INVERSE_DEPTH}),
    ("silog", {METRIC_DEPTH}),
    ("l2", {METRIC_DEPTH}),
])
def test_losses_accept_only_the_targets_they_fit(loss: str, accepted: set[str]) -> None:
    for quantity in (RELATIVE_INVERSE_DEPTH, METRIC_DEPTH, SEED_8BIT_RELATIVE):
        if quantity in accepted:
            check_prior_quantity(quantity, loss, "store")
        else:
            with pytest.raises(InputError, match=f"store: depth.loss '{loss}' needs"):
                check_prior_quantity(quantity, loss, "store")
