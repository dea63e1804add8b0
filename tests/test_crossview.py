"""The cross-view error correlation: its matching and alignment on hand-made cases, and the study's figures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mapfree.depth_prior.crossview import log_errors, matched_patches
from mapfree.depth_prior.frames import list_frames
from mapfree.depth_prior.teachers import build_teacher
from mapfree.geometry.camera import Camera
from mapfree.study.teachers import crossview_figures

CAMERA = Camera.from_matrix([[50.0, 0.0, 28.0], [0.0, 50.0, 21.0], [0.0, 0.0, 1.0]], 56, 42)


def test_a_view_matches_itself_where_it_has_depth() -> None:
    depth = np.full((42, 56), 5.0)
    depth[:14] = np.nan  # sky: the top row of patches has no point to move
    index_a, index_b = matched_patches(depth, depth, CAMERA, CAMERA, np.eye(4))
    np.testing.assert_array_equal(index_a, np.arange(4, 12))
    np.testing.assert_array_equal(index_b, index_a)


def test_an_occluded_point_is_not_matched() -> None:
    depth = np.full((42, 56), 5.0)
    nearer = depth.copy()
    nearer[:, :28] = 2.0  # something in front of the left half in view B
    index_a, _ = matched_patches(depth, nearer, CAMERA, CAMERA, np.eye(4))
    assert set(index_a) == {2, 3, 6, 7, 10, 11}


def test_log_errors_remove_the_frame_scale_or_affine_map() -> None:
    truth = np.array([[2.0, 4.0], [8.0, np.nan]])
    np.testing.assert_allclose(log_errors(3.0 * truth, truth, relative=False)[:1], 0.0, atol=1e-12)
    relative = log_errors(7.0 / truth + 0.5, truth, relative=True)
    np.testing.assert_allclose(relative[np.isfinite(truth)], 0.0, atol=1e-9)
    assert math.isnan(relative[1, 1])


def test_study_figures_for_a_synthetic_teacher(tiny_dataset: Path) -> None:
    frames = list_frames(tiny_dataset, "val")
    figures = crossview_figures(build_teacher("synthetic-metric"), frames, None, tiny_dataset)
    assert set(figures) == {"crossview_error_corr", "crossview_error_corr_frame_keyed"}
    assert all(-1 <= v <= 1 for v in figures.values())
