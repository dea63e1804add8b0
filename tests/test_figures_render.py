"""Every figure rendered from tiny inputs, then read back as pixels: not blank (pixel variance, the confidence
panels' own pixels included), within a page-width size, the study's pairs chosen by their errors and
equal training curves told apart."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from mapfree.api import estimate_poses
from mapfree.data.dataset import MapFreePairs
from mapfree.data.items import views
from mapfree.data.scenes import Pair
from mapfree.evaluation.aggregate import SceneResult, Thresholds
from mapfree.evaluation.evaluate import Evaluation, FrameTable
from mapfree.evaluation.metrics import FrameErrors
from mapfree.models import MicKey, MicKeyConfig
from mapfree.study.figures import example_pairs, training_curves_figure
from mapfree.viz import depth
from mapfree.viz.cameras import CameraPanel, plot_camera_panels
from mapfree.viz.depth import CONFIDENCE_CMAP, DepthRow, plot_depth_sources
from mapfree.viz.evaluation import TICK_PITCH_PT, plot_scene_errors, scene_ticks
from mapfree.viz.matches import plot_match_panels
from mapfree.viz.pair import PAIR_FIGURES, camera_panel, match_panel, pair_depths, save_pair_figures
from mickey_weights import seeded_state

MAX_WIDTH_PX = 2400
"""Page width: a figure wider than this at its saved dpi is shrunk past reading."""
MIN_STD = 4.0
"""Least standard deviation (0-255 grey levels) of a drawn figure or panel's pixels; one flat colour is ~0."""


def read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def pixel_std(pixels: np.ndarray) -> float:
    """The largest per-channel standard deviation over the pixels: 0 for one flat colour, whatever colour."""
    return float(pixels.reshape(-1, pixels.shape[-1]).std(axis=0).max())


def check_page_figure(path: Path, max_height: int = 3600) -> np.ndarray:
    """The PNG, asserted not blank and no wider than a page at its dpi."""
    image = read_png(path)
    assert pixel_std(image) > MIN_STD, f"{path.name} is blank"
    assert 600 <= image.shape[1] <= MAX_WIDTH_PX and image.shape[0] <= max_height, (path.name, image.shape)
    return image


def panel_std(fig: Figure, ax, image: np.ndarray) -> float:
    """Pixel standard deviation of the middle 60% of `ax` in the saved `image` of `fig`."""
    scale = image.shape[1] / (fig.get_figwidth() * fig.dpi)
    x0, y0, x1, y1 = np.asarray(ax.get_window_extent().extents) * scale
    top, bottom = image.shape[0] - y1, image.shape[0] - y0  # PNG rows run down
    w, h = x1 - x0, bottom - top
    crop = image[int(top + 0.2 * h): int(bottom - 0.2 * h), int(x0 + 0.2 * w): int(x1 - 0.2 * w)]
    assert crop.size
    return pixel_std(crop)


def confidence_axes(fig: Figure) -> list:
    """The axes showing a map (not an RGB image) in the confidence colours."""
    return [ax for ax in fig.axes if any(im.get_array().ndim == 2 and im.get_cmap().name.startswith(CONFIDENCE_CMAP)
                                         for im in ax.get_images())]


@pytest.fixture(scope="module")
def estimate(tiny_dataset):
    """A random tiny MicKey's estimate on a val pair of the tiny dataset at 224x280 (320 patches, as many as
    a real image has hundreds): (result, item)."""
    model = MicKey(MicKeyConfig.tiny())
    model.load_state_dict(seeded_state(model, 1))
    item = MapFreePairs(tiny_dataset, "val", resize=(224, 280))[1]
    view0, view1 = views(item)
    with torch.no_grad():
        result = estimate_poses(model.eval(), view0["image"][None], view1["image"][None], view0["camera"],
                                view1["camera"], generator=torch.Generator().manual_seed(0))[0]
    return result, item


def rgb(view) -> np.ndarray:
    return (view["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def test_pose_figures_are_drawn_and_their_confidence_panels_show_the_softmax(estimate, tmp_path):
    result, item = estimate
    view0, view1 = views(item)
    assert float(result.features0.scr.sum()) == pytest.approx(1.0, abs=1e-4)  # a softmax over the patches
    paths = save_pair_figures(tmp_path, result, rgb(view0), rgb(view1), view0["camera"], view1["camera"])
    assert [p.name for p in paths] == list(PAIR_FIGURES)
    for path in paths:
        check_page_figure(path)
    fig = pair_depths(result, rgb(view0), rgb(view1), tmp_path / "depth.png")  # the figure pose --out draws
    image = read_png(tmp_path / "depth.png")
    panels = confidence_axes(fig)
    assert len(panels) == 2 and all(panel_std(fig, ax, image) > MIN_STD for ax in panels)
    assert any("percentile" in ax.get_xlabel() for ax in fig.axes)  # the colour bar says what its scale is


def test_the_blank_check_fails_the_old_fixed_zero_to_one_confidence_scale(estimate, tmp_path, monkeypatch):
    result, item = estimate
    view0, view1 = views(item)
    monkeypatch.setattr(depth, "confidence_range", lambda rows: (0.0, 1.0))
    fig = pair_depths(result, rgb(view0), rgb(view1), tmp_path / "old.png")
    image = read_png(tmp_path / "old.png")
    assert all(panel_std(fig, ax, image) < 1.0 for ax in confidence_axes(fig))


def test_study_depth_figure_has_a_row_per_source_and_fits_a_page(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (224, 168, 3), dtype=np.uint8)
    truth = rng.uniform(2, 20, (16, 12))
    truth[:3] = np.nan  # sky
    sources = {"true depth": truth, **{f"source {k}": truth * rng.uniform(0.2, 1.8, truth.shape) for k in range(8)}}
    rows = [DepthRow(image, sources, "true depth", label=side) for side in ("reference", "query")]
    fig = plot_depth_sources(rows, tmp_path / "depth.png", "pair")
    png = check_page_figure(tmp_path / "depth.png")
    assert png.shape[1] < png.shape[0]  # a column of rows, not the 16-panel strip
    maps = [ax for ax in fig.axes if ax.get_images()]
    assert len(maps) == 2 * 2 + 2 * 9 + 2 * 8  # images (over depth and error columns), depths, errors
    assert all(panel_std(fig, ax, png) > MIN_STD for ax in maps)
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    expected = [np.nanmean(np.abs(sources[f"source {k}"] / truth - 1)) for k in range(8) for _ in rows]
    assert notes == [f"AbsRel {value:.2f}" for value in expected]
    assert [ax.get_ylabel() for ax in fig.axes[::4][:len(sources) + 1]] == ["image", *sources]


def evaluation_of(vcre: list[float]) -> tuple[Evaluation, list[Pair]]:
    """An evaluation with one estimate per query frame `q{i}` of scene s0, its errors all VCRE."""
    n = len(vcre)
    frames = np.array([f"seq1/frame_{i:05d}.jpg" for i in range(n)], dtype=object)
    errors = FrameErrors(np.zeros(n), np.zeros(n), np.asarray(vcre, dtype=np.float64))
    table = FrameTable(np.array(["s0"] * n, dtype=object), frames, np.ones(n), errors)
    evaluation = Evaluation({}, [SceneResult("s0", True, n, n, 0, 0, 0, {})], {}, table, Thresholds())
    return evaluation, [Pair("s0", "seq0/frame_00000.jpg", frame) for frame in frames]


def test_example_pairs_are_the_median_and_a_typical_failure_or_the_best():
    evaluation, pairs = evaluation_of([10, 50, 200, 30, 120, 95])
    median, failure = example_pairs(evaluation, pairs, 90.0)
    assert median.pair == pairs[1] and median.caption == "median pair: VCRE 50.0 px, the median of 6 estimates"
    assert failure.pair == pairs[4]  # the middle one of 95, 120, 200
    assert failure.caption == "failure: VCRE 120.0 px > 90 px, a typical one (3 of 6 estimates fail 90 px)"
    evaluation, pairs = evaluation_of([10, 50, 30])
    assert [e.pair for e in example_pairs(evaluation, pairs, 90.0)] == [pairs[2]]  # no failure to show
    evaluation, pairs = evaluation_of([100, 300, 200, 40])
    median, best = example_pairs(evaluation, pairs, 90.0)
    assert median.pair == pairs[0] and median.caption.endswith("(a failure)")
    assert best.pair == pairs[3] and best.caption.startswith("best pair: VCRE 40.0 px, a success (3 of 4")
    evaluation, pairs = evaluation_of([100, 300])
    assert [e.pair for e in example_pairs(evaluation, pairs, 90.0)] == [pairs[0]]  # the failing median is the best
def test_example_figures_stack_two_pairs_within_a_page(estimate, tmp_path):
    result, item = estimate
    view0, view1 = views(item)
    T = item["T_0to1"].double().numpy()
    panels = [match_panel(result, rgb(view0), rgb(view1), title) for title in ("median pair", "failure")]
    fig = plot_match_panels(panels, tmp_path / "matches.png", "arm")
    check_page_figure(tmp_path / "matches.png")
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:2]] == ["median pair", "failure"]
    cameras = [camera_panel(result, view0["camera"], view1["camera"], (T[:3, :3], T[:3, 3]), title)
               for title in ("median pair", "failure")]
    assert all(isinstance(panel, CameraPanel) and len(panel.cameras) == 3 for panel in cameras)
    plot_camera_panels(cameras, tmp_path / "cameras.png", "arm")
    check_page_figure(tmp_path / "cameras.png")


def test_equal_training_curves_stand_side_by_side(tmp_path):
    one = [{"step": 12.0, "val/vcre_auc_28": 0.25, "val/pose_auc": 0.0, "val/depth_abs_rel": 0.7}]
    runs = {f"arm{k}": one for k in range(7)}
    fig = training_curves_figure(runs, 28.0, tmp_path / "curves.png")
    check_page_figure(tmp_path / "curves.png")
    for ax in fig.axes:
        lines = ax.get_lines()
        xs = [float(line.get_xdata()[0]) for line in lines]
        assert len(lines) == 7 and len(set(xs)) == 7 and max(abs(x - 12.0) for x in xs) <= 0.2 * 12.0 + 1e-9
        assert len({(line.get_marker(), line.get_linestyle()) for line in lines}) == 7
    legend = fig.legends[0]
    assert "side by side" in legend.get_title().get_text() and len(legend.get_texts()) == 7


@pytest.mark.parametrize("scenes", [65, 200])
def test_scene_errors_ticks_are_readable_and_the_figure_fits_a_page(tmp_path, scenes):
    rng = np.random.default_rng(0)
    names = [f"s{460 + i:05d}" for i in range(scenes)]
    scene = np.repeat(names, 5)
    n = len(scene)
    errors = FrameErrors(rng.lognormal(0, 1, n), rng.lognormal(2, 1, n), rng.lognormal(4.5, 0.8, n))
    rows = [SceneResult(name, True, 5, 5, 0, 0, 0, {}) for name in names]
    evaluation = Evaluation({}, rows, {}, FrameTable(scene, np.array(["f"] * n, dtype=object), np.ones(n), errors),
                            Thresholds())
    plot_scene_errors(evaluation, tmp_path / "scene_errors.png")
    width = check_page_figure(tmp_path / "scene_errors.png").shape[1]
    positions, labels = scene_ticks(names, width / 120)
    assert labels == [names[i] for i in positions] and positions[0] == 0
    pitch_pt = (width / 120 * 72) / scenes * (positions[1] - positions[0])
    assert pitch_pt >= TICK_PITCH_PT * 0.8  # upright 8 pt names do not touch (the axes take most of the width)
    assert len(labels) == scenes if scenes == 65 else len(labels) < scenes

