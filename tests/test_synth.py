"""The synthetic benchmark: determinism, format, covisibility."""

import filecmp
from pathlib import Path

import numpy as np
import pytest

from mapfree.cli import main
from mapfree.data import list_scenes
from mapfree.geometry.camera import intrinsics_matrix
from mapfree.geometry.covisibility import covisibility_matrix
from mapfree.geometry.transforms import look_at
from mapfree.synth import SynthConfig, generate_scene
from mapfree.synth.places import MAX_TEXTURE_SIDE, make_place
from mapfree.synth.world import Box


def test_generation_is_deterministic(tmp_path: Path):
    config = SynthConfig(seed=3, frames=4, size=(56, 70))
    generate_scene(tmp_path / "a", "val", 0, config)
    generate_scene(tmp_path / "b", "val", 0, config)
    cmp = filecmp.dircmp(tmp_path / "a/val/s00000", tmp_path / "b/val/s00000")
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    assert not filecmp.dircmp(tmp_path / "a/val/s00000/seq1", tmp_path / "b/val/s00000/seq1").diff_files
    generate_scene(tmp_path / "c", "val", 0, SynthConfig(seed=4, frames=4, size=(56, 70)))
    assert not filecmp.cmp(tmp_path / "a/val/s00000/poses.txt", tmp_path / "c/val/s00000/poses.txt", shallow=False)


def test_dataset_layout_and_metric_scale(tiny_dataset):
    for split in ("train", "val", "test"):
        for scene in list_scenes(tiny_dataset, split):
            for frame in scene.frames():
                assert scene.image_path(frame).is_file() and scene.depth_path(frame).is_file()
    train = list_scenes(tiny_dataset, "train")[0]
    assert (train.root / "overlaps.npz").is_file()
    assert {f.split("/")[0] for f in train.frames()} == {"seq0", "seq1"}
    val = list_scenes(tiny_dataset, "val")[0]
    centres = [np.linalg.norm(T[:3, :3].T @ T[:3, 3]) for T in val.poses.values()]
    assert 0.0 < np.median(centres) < 15.0  # queries walk metres, not kilometres, from the reference
    focal = {round(s.intrinsics[s.frames()[0]].K[0, 0], 3) for s in list_scenes(tiny_dataset, "train")}
    assert len(focal) == 2  # focal lengths vary between scenes


def test_covisibility_of_a_plane_seen_by_shifted_cameras():
    """A fronto-parallel wall; camera b shifted sideways by half the footprint sees half of it."""
    W = H = 20
    K = intrinsics_matrix(10.0, 10.0, (W - 1) / 2, (H - 1) / 2)
    depth = np.full((H, W), 2.0)  # wall 2 m away: footprint is 2 * 2 * W/2 / f = 4 m wide
    Ta = look_at(np.array([0.0, -2.0, 0.0]), np.array([0.0, 0.0, 0.0]))
    Tb = look_at(np.array([2.0, -2.0, 0.0]), np.array([2.0, 0.0, 0.0]))
    cov = covisibility_matrix(np.stack([depth, depth]), np.stack([K, K]), np.stack([Ta, Tb]))
    np.testing.assert_allclose(np.diag(cov), 1.0)
    assert cov[0, 1] == pytest.approx(0.5, abs=0.05) and cov[1, 0] == pytest.approx(0.5, abs=0.05)
    # A wall 1 m in front of b's view of that surface occludes it: nothing agrees.
    occluded = covisibility_matrix(np.stack([depth, depth / 2]), np.stack([K, K]), np.stack([Ta, Tb]))
    assert occluded[0, 1] == 0.0


def test_synth_cli_writes_and_summarises(tmp_path: Path, capsys):
    assert main(["synth", "--out", str(tmp_path / "d"), "--train-scenes", "1", "--val-scenes", "1",
                 "--test-scenes", "0", "--frames", "5", "--resize", "56x70", "--workers", "1",
                 "--contact-sheet", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert "train:    1 scenes" in out and "56x70" in out
    assert (tmp_path / "s.png").stat().st_size > 0
    assert main(["summary", "--data-root", str(tmp_path / "d")]) == 0


def test_cli_reports_bad_data_without_traceback(tmp_path: Path, capsys):
    scene = tmp_path / "val" / "s00000"
    scene.mkdir(parents=True)
    (scene / "intrinsics.txt").write_text("seq0/frame_00000.jpg 500 500 270\n")
    assert main(["summary", "--data-root", str(tmp_path)]) == 2
    assert "intrinsics.txt:1: expected 7 fields" in capsys.readouterr().err


def test_each_surface_gets_its_own_texture_at_metric_density():
    """Textures cover their surface once (no tiling a few metres apart), up to the size cap."""
    world = make_place(np.random.default_rng(0))
    assert len({p.texture for p in world.primitives}) == len(world.primitives) == len(world.textures)
    for prim in world.primitives:
        texture_size = world.textures[prim.texture].shape[1::-1]  # (width, height) in texels
        for texels, metres in zip(texture_size, prim.surface_size):
            covered = texels / world.texels_per_metre
            assert texels == MAX_TEXTURE_SIDE or metres <= covered < metres + 1 / world.texels_per_metre


def test_box_faces_map_to_disjoint_texture_regions():
    """Opposite faces of a box must not show the same texels (a false match across views)."""
    box = Box(np.zeros(3, np.float32), np.array([0.5, 0.3, 0.4], np.float32), 0.0, 0)
    origins = [np.array(o, np.float32) for o in ([3, 0, 0], [-3, 0, 0], [0, 3, 0], [0, -3, 0], [0, 0, 3], [0, 0, -3])]
    stride = box.surface_size[1]
    bands = []
    for origin in origins:
        ray = (-origin)[None]  # straight at the centre: hits the face facing `origin`
        t = box.intersect(origin, ray)
        uv, _ = box.surface(origin, ray, t)
        bands.append(int(np.floor(uv[0, 0] / stride + 0.5)))
    assert sorted(bands) == list(range(6))
