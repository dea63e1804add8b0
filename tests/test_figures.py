"""The paper figures: sizes, shared depth scale, counts in titles, non-blank curves, three cameras, and the
study's precision-recall curves drawn as the AUCs it reports."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mapfree.evaluation.aggregate import Thresholds
from mapfree.geometry.camera import Camera
from mapfree.study.figures import precision_recall_figure, training_curves_figure
from mapfree.study.metrics import PoseMetrics
from mapfree.viz.cameras import CameraPose, plot_cameras, pose_errors
from mapfree.viz.depth import DepthRow, plot_depth_panels, relative_error
from mapfree.viz.matches import plot_matches
from study_fakes import fake_run

K = np.array([[50.0, 0, 28], [0, 50.0, 21], [0, 0, 1]])
CAMERA = Camera.from_matrix(K, 56, 42)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG that must exist and decode."""
    image = cv2.imread(str(path))
    assert image is not None and path.stat().st_size > 0
    return image.shape[1], image.shape[0]


def rotation_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (42, 56, 3), dtype=np.uint8)


def test_depth_panels_share_one_scale_and_mark_missing_patches(image, tmp_path):
    truth = np.array([[1.0, 2.0, np.nan, 4.0]] * 3)
    rows = [DepthRow(image, {"true": truth, "prior": truth * 1.1, "model": truth * 0.5 + 3}, "true",
                     {"confidence": np.full((3, 4), 0.5)}, label="frame")] * 2
    fig = plot_depth_panels(rows, tmp_path / "depth.png")
    width, _ = png_size(tmp_path / "depth.png")
    assert width >= 1000
    images = [im for ax in fig.axes for im in ax.get_images()]
    depth = [im for im in images if im.get_cmap().name.startswith("turbo")]
    errors = [im for im in images if im.get_cmap().name.startswith("RdBu_r")]
    assert len(depth) == 2 * 3 and len(errors) == 2 * 2  # errors of prior and model against the truth
    assert len({im.get_clim() for im in depth}) == 1 and depth[0].get_clim()[0] == 0.0
    assert {im.get_clim() for im in errors} == {(-1.0, 1.0)}
    labels = {ax.get_xlabel() for ax in fig.axes}  # the colour bars
    assert "depth (m)" in labels and any(label.startswith("relative error") for label in labels)
    assert "without a value" in fig.legends[0].get_texts()[0].get_text()
    np.testing.assert_allclose(relative_error(truth * 1.1, truth)[0, [0, 1, 3]], 0.1)
    assert np.isnan(relative_error(truth, truth)[0, 2])


def test_match_figure_is_wide_with_counts_legend_and_score_colours(image, tmp_path):
    pts = np.array([[5.0, 5.0], [20.0, 30.0], [40.0, 10.0]])
    fig = plot_matches(image, image, pts, pts + 1, np.array([0.2, 0.9, 0.5]), np.array([True, True, False]),
                       tmp_path / "matches.png", "model")
    width, _ = png_size(tmp_path / "matches.png")
    assert width >= 1000
    ax = fig.axes[0]
    assert ax.get_title() == "model\n2 inliers of 3 sampled matches (67%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["inlier (2)", "outlier (1)"]
    assert any(a.get_ylabel() == "match probability (inliers)" for a in fig.axes)


def test_match_figure_without_matches(image, tmp_path):
    fig = plot_matches(image, image, np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0, bool),
                       tmp_path / "none.png")
    assert fig.axes[0].get_title() == "0 inliers of 0 sampled matches"
    assert png_size(tmp_path / "none.png")[0] >= 1000


def test_training_curves_of_a_quick_run_are_not_blank(tmp_path):
    one = [{"step": 12.0, "val/vcre_auc_28": 0.27, "val/pose_auc": 0.0, "val/depth_abs_rel": 1.6}]
    fig = training_curves_figure({"a": one, "b": one}, 28.0, tmp_path / "curves.png")
    assert png_size(tmp_path / "curves.png")[0] >= 1000
    assert all(len(ax.get_lines()) == 2 for ax in fig.axes)
    empty = training_curves_figure({"a": [], "b": []}, 28.0, tmp_path / "empty.png")
    assert all(not ax.get_lines() and "no validation ran" in ax.texts[0].get_text() for ax in empty.axes)
    no_depth = training_curves_figure({"a": [{k: v for k, v in one[0].items() if "depth" not in k}]}, 28.0,
                                      tmp_path / "no_depth.png")
    assert "no finite value" in no_depth.axes[2].texts[0].get_text() and len(no_depth.axes[0].get_lines()) == 1


def test_camera_figure_draws_three_cameras_with_errors(tmp_path):
    R, t = rotation_y(10), np.array([-0.5, 0.0, 0.1])
    truth = CameraPose("query, true", R, t, CAMERA, "tab:green")
    moved = truth.center + [0.3, 0, 0]
    estimate = CameraPose("query, estimated", rotation_y(14), -rotation_y(14) @ moved, CAMERA, "tab:orange")
    reference = CameraPose("reference", np.eye(3), np.zeros(3), CAMERA, "0.25")
    errors = pose_errors(estimate, truth)
    assert errors == pytest.approx((0.3, 4.0))
    fig = plot_cameras([reference, truth, estimate], tmp_path / "cameras.png", "pair", errors)
    assert png_size(tmp_path / "cameras.png")[0] >= 1000
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["reference", "query, true", "query, estimated"]
    assert "translation error 0.30 m, rotation error 4.0°" in ax.get_title()
    lo, hi = np.array([ax.get_xlim(), ax.get_ylim(), ax.get_zlim()]).T
    np.testing.assert_allclose(hi - lo, (hi - lo)[0])  # equal aspect
    np.testing.assert_allclose(truth.center, -R.T @ t)
    np.testing.assert_allclose(truth.frustum(1.0)[1], R.T @ (np.linalg.inv(K) @ [0, 0, 1] - t))


def test_precision_recall_figure_draws_each_arms_study_auc(tmp_path):
    scenes = [f"s{i:05d}" for i in range(4)]
    records = [fake_run("none", 0, scenes), fake_run("silog-metric", 0, scenes, scale=0.6)]
    thresholds = Thresholds()
    fig = precision_recall_figure(records, thresholds, tmp_path / "pr.png")
    assert png_size(tmp_path / "pr.png")[0] >= 1000
    estimates, missing = 4 * 6, 2  # fake_run: 6 estimates per scene, 2 missing in the first
    assert f"{estimates + missing} scored query frames in 4 scenes, seed 0" in fig._suptitle.get_text()
    for ax, label in zip(fig.axes, (thresholds.pose_label, thresholds.vcre_label(90))):
        metrics = [PoseMetrics(thresholds)(record, scenes)[f"AUC @ {label}"] for record in records]
        assert ax.get_title() == label
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            f"{record.arm} (AUC {auc:.3f})" for record, auc in zip(records, metrics)]
        for line, auc in zip(ax.get_lines(), metrics):
            recall, precision = line.get_xdata(), line.get_ydata()
            assert recall[-1] == pytest.approx(estimates / (estimates + missing))
            assert np.sum(np.diff(recall) * precision[1:]) == pytest.approx(auc)  # each step at its own precision
    assert len({tuple(line.get_ydata()) for line in fig.axes[1].get_lines()}) == 2
