"""Map-free assets as they are: `file:SUFFIX` depth PNGs, `npz:NAME` correspondences, the DPT teacher and
`depth-prior --export-png`, all offline on a synthetic benchmark written in map-free-reloc's formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mapfree.baselines.precomputed import PrecomputedMatcher
from mapfree.baselines.registry import parse_method
from mapfree.cli import main
from mapfree.data.correspondences import correspondences_path, read_correspondences, write_correspondences
from mapfree.data.dataset import MapFreePairs
from mapfree.data.images import read_depth
from mapfree.data.scenes import list_scenes
from mapfree.depth_prior import METRIC_DEPTH, RELATIVE_INVERSE_DEPTH, PriorStore
from mapfree.depth_prior.random_model import save_random_dpt
from mapfree.depth_prior.teachers import build_teacher
from mapfree.evaluation.evaluate import evaluate_submission
from mapfree.synth import SynthConfig, generate_dataset

PRECISION = "Precision @ Pose Error < (25.0cm, 5deg)"


@pytest.fixture(scope="module")
def assets_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 240x320 val scene with `dptkitti` depth PNGs and `correspondences_SIFT.npz` (read-only)."""
    root = tmp_path_factory.mktemp("assets")
    config = SynthConfig(seed=3, train_scenes=0, val_scenes=1, test_scenes=0, frames=10, size=(240, 320),
                         estimated_depth=("dptkitti",), correspondences=("SIFT",))
    generate_dataset(root, config, workers=1)
    return root


def submit_and_score(root: Path, out: Path, method: str, *extra: str) -> dict[str, float]:
    rc = main(["submit", "--data-root", str(root), "--split", "val", "--out", str(out), "--method", method,
               "--device", "cpu", *extra])
    assert rc == 0
    return evaluate_submission(out / "submission.zip", root, "val").metrics


def test_synth_writes_map_free_assets(assets_root: Path) -> None:
    scene = list_scenes(assets_root, "val")[0]
    corr = read_correspondences(correspondences_path(scene.root, "SIFT"), len(scene.queries()))
    assert corr.shape[0] == len(scene.queries()) == 10 and np.isfinite(corr).all(axis=2).any(axis=1).all()
    for frame in scene.frames():
        true, estimated = read_depth(scene.depth_path(frame)), read_depth(scene.depth_path(frame, "dptkitti"))
        both = np.isfinite(true) & np.isfinite(estimated)
        assert both.mean() > 0.5 and not np.allclose(true[both], estimated[both])  # estimated, not the truth
        assert np.median(np.abs(np.log(estimated[both] / true[both]))) < 0.5


def test_submit_with_estimated_depth_pngs(assets_root: Path, tmp_path: Path) -> None:
    metrics = submit_and_score(assets_root, tmp_path, "sift+file:dptkitti+pnp")
    assert PRECISION in metrics


def test_submit_with_precomputed_correspondences_on_resized_images(assets_root: Path, tmp_path: Path) -> None:
    # true correspondences (0.5 px noise) and true depth: every pose is right only if the file's native pixels
    # are moved to the resized images correctly
    metrics = submit_and_score(assets_root, tmp_path, "npz:SIFT+true+procrustes", "--resize", "120x160")
    assert metrics[PRECISION] == 1.0


def test_npz_coordinates_follow_the_pixel_centre_rule(assets_root: Path, tmp_path: Path) -> None:
    item = MapFreePairs(assets_root, "val", resize=(120, 160))[1]
    scene = list_scenes(assets_root, "val")[0]
    queries = scene.queries()
    rows = [np.zeros((0, 4)) for _ in queries]
    rows[queries.index(item["view1"]["frame"])] = np.array([[10.0, 20.0, 239.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    write_correspondences(correspondences_path(scene.root, "probe"), rows)
    matches = PrecomputedMatcher("probe")(item)
    # native 240x320 -> 120x160: x' = 0.5 (x + 0.5) - 0.5
    np.testing.assert_allclose(matches.kpts0, [[4.75, 9.75], [-0.25, -0.25]])
    np.testing.assert_allclose(matches.kpts1, [[119.25, -0.25], [0.25, 0.25]])
    assert len(PrecomputedMatcher("probe")(MapFreePairs(assets_root, "val")[0])) == 0  # padding rows are dropped


def test_method_components_take_arguments() -> None:
    assert parse_method("sift+file:dptkitti+pnp") == ("sift", "file:dptkitti", "pnp")
    assert parse_method("NPZ:LoFTR+True+PnP") == ("npz:LoFTR", "true", "pnp")  # file names keep their case
    with pytest.raises(ValueError, match="needs file:SUFFIX"):
        parse_method("sift+file+pnp")
    with pytest.raises(ValueError, match="needs npz:NAME"):
        parse_method("npz:../x+true+pnp")
    with pytest.raises(ValueError, match="takes no argument"):
        parse_method("sift+true:x+pnp")


def test_dpt_teacher_on_a_tiny_random_model_writes_a_store(assets_root: Path, tmp_path: Path) -> None:
    weights = save_random_dpt(tmp_path / "dpt")
    store = tmp_path / "store"
    rc = main(["depth-prior", "--data-root", str(assets_root), "--split", "val", "--out", str(store), "--teacher",
               "dpt", "--weights", str(weights), "--device", "cpu", "--workers", "0", "--no-progress"])
    assert rc == 0
    prior_store = PriorStore(store, "val")
    assert prior_store.meta.teacher == "dpt" and prior_store.meta.quantity == RELATIVE_INVERSE_DEPTH
    prior = prior_store.load(list_scenes(assets_root, "val")[0].name, "seq1/frame_00003.jpg")
    assert prior.grid_shape == (320 // 14, 240 // 14) and np.isfinite(prior.values).all()
    metric = build_teacher("dpt", str(save_random_dpt(tmp_path / "dpt-metric", metric=True)), "cpu")
    assert metric.quantity == METRIC_DEPTH and metric.config()["inverse_depth_affine"] == [6.016e-5, 5.79e-3]


def test_export_png_round_trips_through_read_depth(assets_root: Path, tmp_path: Path) -> None:
    store, exported = tmp_path / "store", tmp_path / "exported"
    rc = main(["depth-prior", "--data-root", str(assets_root), "--split", "val", "--out", str(store), "--teacher",
               "synthetic-metric", "--dense", "--workers", "0", "--no-progress", "--export-png", "est",
               "--export-root", str(exported)])
    assert rc == 0
    prior_store = PriorStore(store, "val")
    scene = list_scenes(assets_root, "val")[0]
    for frame in scene.frames():
        dense = prior_store.load_dense(scene.name, frame).astype(np.float32)
        png = read_depth(exported / "val" / scene.name / frame.replace(".jpg", ".est.png"))
        assert png.shape == dense.shape
        known = np.isfinite(dense) & (np.round(dense * 1000) <= np.iinfo(np.uint16).max)  # the PNG's range
        np.testing.assert_array_equal(np.isfinite(png), known)
        assert np.abs(png[known] - dense[known]).max() <= 1e-3
    assert not list(scene.root.rglob("*.est.png"))  # the mirror folder, not beside the frames


def test_relative_prior_export_is_refused_in_one_line(assets_root: Path, tmp_path: Path, capsys) -> None:
    rc = main(["depth-prior", "--data-root", str(assets_root), "--split", "val", "--out", str(tmp_path / "s"),
               "--teacher", "synthetic", "--dense", "--workers", "0", "--no-progress", "--export-png", "est"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "needs metric depth" in err and "\n" not in err
    assert not (tmp_path / "s").exists()  # refused before computing anything
