"""The synthetic teachers err like Depth Anything (published figures, see `mapfree.depth_prior.synthetic`),
deterministically in (image, depth, seed, frame), with errors that repeat across the views of a surface, never
mask the sky, and can read their true depth from a separate root."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mapfree.data.images import read_depth
from mapfree.depth_prior import PriorStore
from mapfree.depth_prior.accuracy import measure_teacher, synthetic_calibration
from mapfree.depth_prior.crossview import crossview_error_correlation
from mapfree.depth_prior.frames import FrameRef, list_frames
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.runner import compute_store
from mapfree.depth_prior.synthetic import (
    CALIBRATED,
    FRAME_KEYED,
    NEAR_TRUTH,
    SyntheticTeacher,
    simulate,
    smooth_field,
    sobel_gradient,
)
from mapfree.depth_prior.teachers import SYNTHETIC_TEACHERS, build_teacher
from mapfree.errors import InputError
from mapfree.synth import SynthConfig, generate_dataset


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[FrameRef]:
    """40 frames at 240x320, the benchmark's CPU size (the bleeding is in pixels: the size matters)."""
    root = tmp_path_factory.mktemp("calibration")
    generate_dataset(root, SynthConfig(seed=1, train_scenes=2, val_scenes=0, test_scenes=0, frames=10,
                                       size=(240, 320)), workers=1)
    return list_frames(root, "train")


@pytest.fixture(scope="module")
def calibration(frames: list[FrameRef]) -> dict[str, dict]:
    """Every synthetic teacher's accuracy, and the relative kind of the near-truth model's."""
    figures = synthetic_calibration(frames[0].scene_root.parents[1], "train")
    figures["relative near truth"] = measure_teacher(SyntheticTeacher(False, NEAR_TRUTH), frames)
    return figures


def test_relative_teacher_is_as_accurate_as_depth_anything_on_eth3d(calibration: dict[str, dict]) -> None:
    rel = calibration["synthetic"]
    assert rel["frames"] == 40 and rel["abs_rel"] is None and rel["delta1"] is None  # no metric depth
    assert 0.10 <= rel["abs_rel_affine"] <= 0.15 and 0.85 <= rel["delta1_affine"] <= 0.92
    # The unknown shift is an error a scale alone cannot fix.
    assert rel["abs_rel_median_scaled"] > rel["abs_rel_affine"]
    assert calibration["relative near truth"]["abs_rel_affine"] < 0.10  # the earlier model: kinder than any


def test_metric_teacher_lies_between_virtual_kitti_and_diode_outdoor(calibration: dict[str, dict]) -> None:
    metric = calibration["synthetic-metric"]
    assert metric["abs_rel_affine"] is None
    assert 0.25 <= metric["abs_rel"] <= 0.45 and 0.35 <= metric["delta1"] <= 0.6
    assert 0.10 <= metric["abs_rel_median_scaled"] <= 0.15
    near = calibration["synthetic-near-truth"]
    assert near["abs_rel"] < 0.15 and near["delta1"] > 0.85 and near["abs_rel_median_scaled"] < 0.08


def _log_log_slopes(name: str, frames: list[FrameRef]) -> np.ndarray:
    """Per frame, the slope of log(predicted patch depth) against log(true patch depth): 1 without a bias
    that grows with distance."""
    teacher = build_teacher(name)
    slopes = []
    for ref in frames:
        pred = patch_average(teacher.predict(torch.from_numpy(teacher.reader(ref, ref.native_size))[None]))[0]
        truth = patch_average(torch.from_numpy(read_depth(ref.depth_path)))
        both = torch.isfinite(pred) & torch.isfinite(truth)
        slopes.append(np.polyfit(np.log(truth[both].numpy()), np.log(pred[both].numpy()), 1)[0])
    return np.array(slopes)


def test_metric_errors_do_not_average_out_over_frames(frames: list[FrameRef]) -> None:
    # Far depths come out too near in nearly every frame (no per-frame scale fixes that); the near-truth
    # model's slopes scatter around 1 (from about 0.89 to 1.12 per frame: that is the per-frame noise).
    slopes = _log_log_slopes("synthetic-metric", frames)
    assert np.mean(slopes) < 0.9 and np.mean(slopes < 0.95) >= 0.9
    assert abs(np.mean(_log_log_slopes("synthetic-near-truth", frames)) - 1) < 0.03


def _frame_with_sky(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(depth, image) of 60x45 pixels: ground receding from 3 to 30 m under 10 rows of sky, random texture."""
    rng = np.random.default_rng(seed)
    depth = np.repeat(np.geomspace(30.0, 3.0, 60, dtype=np.float32)[:, None], 45, axis=1)
    depth[:10] = np.nan
    return depth, rng.integers(0, 256, (60, 45, 3), dtype=np.uint8)


def test_errors_depend_only_on_image_depth_seed_and_frame() -> None:
    depth, image = _frame_with_sky()
    key = "s00000/seq1/frame_00004.jpg"
    threads = cv2.getNumThreads()
    for name, metric in (("synthetic", False), ("synthetic-metric", True)):
        errors = build_teacher(name, seed=3).errors
        first = simulate(depth, image, metric, errors, key)
        try:
            cv2.setNumThreads(1)
            np.testing.assert_array_equal(first, simulate(depth.copy(), image.copy(), metric, errors, key))
        finally:
            cv2.setNumThreads(threads)
        assert not np.allclose(first, simulate(depth, image, metric, errors, "s00000/seq1/frame_00005.jpg"))
        assert not np.allclose(first, simulate(depth, image, metric, build_teacher(name, seed=4).errors, key))
        assert not np.allclose(first, simulate(depth, _frame_with_sky(1)[1], metric, errors, key))  # reads the image


def test_teacher_upsampling_and_gradients_are_opencvs_without_its_rounding(monkeypatch) -> None:
    """The same bicubic interpolation and Sobel derivatives as OpenCV's (to float32 rounding), in NumPy: OpenCV's
    resize and vertical Sobel round differently between releases (4.10 and 5.1), so a teacher that called them
    gave other targets, and other trained runs, under another OpenCV."""
    grid = np.random.default_rng(0).normal(0.0, 0.1, (4, 4)).astype(np.float32)
    expected = cv2.resize(grid, (168, 224), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_allclose(smooth_field(grid, (224, 168)), expected, rtol=0, atol=1e-6)
    x = np.random.default_rng(1).random((30, 20)).astype(np.float32)
    for derivative, (dx, dy) in zip(sobel_gradient(x), ((1, 0), (0, 1))):
        expected = cv2.Sobel(x, cv2.CV_32F, dx, dy, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8
        np.testing.assert_allclose(derivative, expected, rtol=0, atol=1e-6)
    depth, image = _frame_with_sky()
    before = simulate(depth, image, True, CALIBRATED, "k")

    def refuse(*args, **kwargs):
        raise AssertionError("the teacher must not depend on OpenCV's resize or Sobel")

    monkeypatch.setattr(cv2, "resize", refuse)
    monkeypatch.setattr(cv2, "Sobel", refuse)
    np.testing.assert_array_equal(simulate(depth, image, True, CALIBRATED, "k"), before)


def test_teachers_never_mask_the_sky() -> None:
    depth, image = _frame_with_sky()
    sky = ~np.isfinite(depth)
    metric = simulate(depth, image, True, CALIBRATED, "a")
    assert np.isfinite(metric).all() and metric.max() <= CALIBRATED.max_depth
    assert np.median(metric[sky]) > 1.5 * np.median(metric[~sky])  # far, within the network's range
    relative = simulate(depth, image, False, CALIBRATED, "a")
    assert np.isfinite(relative).all()
    floor = relative.min()  # about the unknown shift: the sky's disparity is near zero above it
    assert np.median(relative[sky]) - floor < 0.35 * (np.median(relative[~sky]) - floor)


def test_teacher_maps_of_frames_with_sky_are_finite(frames: list[FrameRef]) -> None:
    with_sky = [ref for ref in frames[::5] if np.isnan(read_depth(ref.depth_path)).any()]
    assert with_sky
    for name in SYNTHETIC_TEACHERS:
        teacher = build_teacher(name)
        assert all(np.isfinite(teacher.reader(ref, ref.native_size)).all() for ref in with_sky)


def test_errors_repeat_across_views_of_a_surface(frames: list[FrameRef]) -> None:
    # The content-keyed model misreads a surface the same way in every view; the frame-keyed one's errors are
    # mostly drawn per frame (only its range compression repeats).
    for metric in (False, True):
        new = crossview_error_correlation(SyntheticTeacher(metric, CALIBRATED), frames)
        old = crossview_error_correlation(SyntheticTeacher(metric, FRAME_KEYED), frames)
        assert new.pairs == old.pairs == 30 and new.points == old.points > 1000
        assert new.correlation > old.correlation + 0.15, (metric, new, old)


def _without_depth(dataset: Path, tmp_path: Path, split: str) -> tuple[Path, Path]:
    """A copy of a split with its depth maps moved to a separate Map-free-layout root."""
    data, truth = tmp_path / "data", tmp_path / "truth"
    shutil.copytree(dataset / split, data / split)
    for png in sorted((data / split).glob("*/seq*/*.depth.png")):
        target = truth / png.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        png.rename(target)
    return data, truth


def test_depth_root_replaces_the_depth_beside_the_frames(tiny_dataset: Path, tmp_path: Path) -> None:
    data, truth = _without_depth(tiny_dataset, tmp_path, "test")
    beside = compute_store(tiny_dataset, "test", tmp_path / "beside", build_teacher("synthetic-metric"), workers=0,
                           progress=False)
    apart = compute_store(data, "test", tmp_path / "apart", build_teacher("synthetic-metric", depth_root=truth),
                          workers=0, progress=False)
    assert not beside.failures and not apart.failures and apart.written == beside.written > 0
    a, b = PriorStore(tmp_path / "apart", "test"), PriorStore(tmp_path / "beside", "test")
    assert a.meta.teacher_config["depth_root"] == str(truth.resolve())
    for ref in list_frames(data, "test"):
        np.testing.assert_array_equal(a.load(ref.scene, ref.frame).values, b.load(ref.scene, ref.frame).values)
    missing = compute_store(data, "test", tmp_path / "missing", build_teacher("synthetic"), workers=0, progress=False)
    assert missing.written == 0 and all("depth map not found" in f["error"] for f in missing.failures)
    held_out = measure_teacher(build_teacher("synthetic", depth_root=truth), list_frames(data, "test"),
                               depth_root=truth)
    assert held_out["frames"] == len(list_frames(data, "test")) and held_out["abs_rel_affine"] < 0.3


@pytest.mark.parametrize("name", ["depth-anything", "dpt"])
def test_network_teachers_refuse_a_depth_root(name: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"the {name} teacher predicts from the images"):
        build_teacher(name, str(tmp_path / "weights"), "cpu", depth_root=tmp_path)
