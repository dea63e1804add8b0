"""Depth-prior targets: patch averaging, teachers, the store, resume, failures and sharding."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mapfree.cli import main
from mapfree.data.images import read_depth, read_image
from mapfree.depth_prior import (
    METRIC_DEPTH,
    RELATIVE_INVERSE_DEPTH,
    MissingPriorError,
    PriorStore,
)
from mapfree.depth_prior.depth_anything import InputSpec
from mapfree.depth_prior.frames import Shard, list_frames
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.random_model import save_random_depth_anything
from mapfree.depth_prior.runner import compute_store
from mapfree.depth_prior.synthetic import SyntheticTeacher
from mapfree.depth_prior.teachers import build_teacher
from mapfree.depth_prior.verify import verify_store
from mapfree.errors import InputError


@pytest.fixture(scope="module")
def tiny_da(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised relative Depth Anything saved like a released checkpoint (56 px input)."""
    return save_random_depth_anything(tmp_path_factory.mktemp("da") / "tiny", arch="tiny", input_size=56)


def _cli(*args: str) -> int:
    return main(["depth-prior", "--workers", "0", "--no-progress", *args])


def _naive_patch_average(dense: np.ndarray, min_valid: float) -> np.ndarray:
    p = 14
    rows, cols = dense.shape[0] // p, dense.shape[1] // p
    out = np.full((rows, cols), np.nan)
    for i in range(rows):
        for j in range(cols):
            patch = dense[i * p : (i + 1) * p, j * p : (j + 1) * p]
            ok = np.isfinite(patch)
            if ok.sum() > 0 and ok.mean() >= min_valid:
                out[i, j] = patch[ok].mean()
    return out


@pytest.mark.parametrize("shape", [(720, 540), (50, 43), (28, 14)])
def test_patch_average_matches_naive_loop(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    dense = rng.uniform(0.5, 30, (2, *shape)).astype(np.float32)
    dense[rng.random(dense.shape) < 0.4] = np.nan  # holes: some patches fall under the valid share
    dense[0, :14, :14] = np.nan
    grids = patch_average(torch.from_numpy(dense), min_valid_fraction=0.6).numpy()
    assert grids.shape == (2, shape[0] // 14, shape[1] // 14)
    for grid, d in zip(grids, dense):
        naive = _naive_patch_average(d, 0.6)
        np.testing.assert_array_equal(np.isnan(grid), np.isnan(naive))
        np.testing.assert_allclose(grid[np.isfinite(grid)], naive[np.isfinite(naive)], rtol=1e-6)
    assert np.isnan(grids[0, 0, 0])


def test_mapfree_frame_gives_mickey_grid() -> None:
    assert patch_average(torch.ones(1, 720, 540)).shape == (1, 51, 38)
    assert InputSpec().input_size(720, 540) == (686, 518)  # Depth Anything's own resize of a Map-free frame


def test_synthetic_teacher_store_is_complete_and_follows_rendered_depth(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "prior"
    assert _cli("--data-root", str(tiny_dataset), "--out", str(out), "--teacher", "synthetic", "--batch-size", "8") == 0
    assert _cli("--data-root", str(tiny_dataset), "--out", str(out), "--verify") == 0
    store = PriorStore(out, "train")
    assert store.meta.quantity == RELATIVE_INVERSE_DEPTH and store.meta.teacher == "synthetic"
    frames = list_frames(tiny_dataset, "train")
    scales = []
    for ref in frames:
        prior = store.load(ref.scene, ref.frame)
        assert prior.grid_shape == (140 // 14, 112 // 14) and prior.image_size == (112, 140)
        depth = read_depth(ref.depth_path)
        truth = patch_average(torch.from_numpy(np.where(np.isfinite(depth), 1 / depth, 0.0))).numpy()
        assert prior.valid.all()  # sky is a near-zero inverse depth: every patch has a target
        assert np.corrcoef(truth.ravel(), prior.values.ravel())[0, 1] > 0.95
        scales.append(np.polyfit(truth.ravel(), prior.values.ravel(), 1)[0])
    assert np.ptp(np.log(scales)) > 0.5  # unknown scale per frame


@pytest.mark.parametrize("name, lowest, highest", [("synthetic-metric", 1.1, 2.0), ("synthetic-near-truth", 0.8, 1.25)])
def test_synthetic_metric_teachers_are_metres_with_sky_far(tiny_dataset: Path, tmp_path: Path, name: str,
                                                           lowest: float, highest: float) -> None:
    report = compute_store(tiny_dataset, "val", tmp_path, build_teacher(name), workers=0, progress=False)
    assert report.written == report.assigned and not report.failures
    store = PriorStore(tmp_path, "val")
    assert store.meta.quantity == METRIC_DEPTH and store.meta.units == "m" and store.meta.teacher == name
    ratios = []
    for ref in list_frames(tiny_dataset, "val"):
        prior = store.load(ref.scene, ref.frame)
        truth = patch_average(torch.from_numpy(read_depth(ref.depth_path))).numpy()
        both = prior.valid & np.isfinite(truth)
        assert prior.valid.all()  # teachers never mask: the sky gets the teacher's own far depth
        if np.isnan(truth).any():
            assert np.median(prior.values[np.isnan(truth)]) > 1.5 * np.median(prior.values[both])
        ratios.append(np.median(prior.values[both] / truth[both]))
    # Metres: each frame within a factor 2.5 of the truth; the calibrated teacher over-estimates the whole
    # dataset (its scale bias has one sign), the near-truth one does not.
    assert 0.4 < min(ratios) and max(ratios) < 2.5
    assert lowest < np.median(ratios) < highest


def test_depth_anything_through_the_cli_matches_the_model(tiny_dataset: Path, tiny_da: Path, tmp_path: Path,
                                                          capsys) -> None:
    out = tmp_path / "prior"
    args = ["--data-root", str(tiny_dataset), "--split", "test", "--out", str(out), "--teacher", "depth-anything",
            "--weights", str(tiny_da), "--dense", "--batch-size", "4", "--device", "cpu"]
    assert _cli(*args) == 0
    store = PriorStore(out, "test")
    assert store.meta.quantity == RELATIVE_INVERSE_DEPTH and store.meta.weights == str(tiny_da.resolve())
    teacher = build_teacher("depth-anything", str(tiny_da), "cpu")
    for ref in list_frames(tiny_dataset, "test")[:3]:
        maps = teacher.predict(torch.from_numpy(read_image(ref.image_path))[None])
        prior = store.load(ref.scene, ref.frame)
        np.testing.assert_allclose(prior.values, patch_average(maps)[0].numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(store.load_dense(ref.scene, ref.frame), maps[0].half().numpy(), rtol=5e-3)
        assert np.ptp(prior.values) > 0  # the random model is not constant
    capsys.readouterr()
    assert _cli(*args) == 0  # a rerun finds everything stored
    assert "11 already stored, 0 written" in capsys.readouterr().out
    assert _cli("--data-root", str(tiny_dataset), "--split", "test", "--out", str(out), "--verify") == 0


def test_metric_depth_anything_checkpoint_is_metric(tmp_path: Path) -> None:
    folder = save_random_depth_anything(tmp_path / "metric", metric=True, input_size=28)
    teacher = build_teacher("depth-anything", str(folder), "cpu")
    maps = teacher.predict(torch.randint(0, 256, (2, 30, 20, 3), dtype=torch.uint8))
    assert teacher.quantity == METRIC_DEPTH and teacher.config()["max_depth"] == 80
    assert maps.shape == (2, 30, 20) and bool(((maps > 0) & (maps < 80)).all())


def test_resume_after_an_interrupted_run(tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(out: Path):
        return compute_store(tiny_dataset, "train", out, SyntheticTeacher(), batch_size=8, workers=0, progress=False)

    reference = tmp_path / "reference"
    run(reference)
    out = tmp_path / "interrupted"
    calls = {"n": 0}
    predict = SyntheticTeacher.predict

    def interrupting(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return predict(self, batch)

    monkeypatch.setattr(SyntheticTeacher, "predict", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run(out)
    monkeypatch.setattr(SyntheticTeacher, "predict", predict)
    stored = sorted(out.glob("train/*/seq*/*.npz"))
    assert len(stored) == 16
    leftover = stored[0].parent / "frame_00009.npz.12345.tmp"  # what a killed write leaves behind
    leftover.write_bytes(b"partial")
    (stored[0].parent / "frame_00009.npz").unlink(missing_ok=True)
    report = run(out)
    total = len(list_frames(tiny_dataset, "train"))
    assert report.skipped == len(list(out.glob("train/*/seq*/*.npz"))) - report.written
    assert report.skipped + report.written == total and report.written >= total - 16
    assert not leftover.exists()
    assert verify_store(tiny_dataset, "train", out).complete
    for ref in list_frames(tiny_dataset, "train"):
        a, b = (PriorStore(out, "train").load(ref.scene, ref.frame),
                PriorStore(reference, "train").load(ref.scene, ref.frame))
        np.testing.assert_array_equal(a.values, b.values)


def test_corrupt_image_is_recorded_and_the_run_goes_on(tiny_dataset: Path, tiny_da: Path, tmp_path: Path,
                                                       capsys) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "test", data / "test")
    broken = data / "test" / "s00000" / "seq1" / "frame_00002.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "prior"
    assert _cli("--data-root", str(data), "--split", "test", "--out", str(out), "--teacher", "depth-anything",
                "--weights", str(tiny_da), "--device", "cpu") == 1
    printed = capsys.readouterr().out
    assert "1 failed" in printed and str(broken) in printed
    store = PriorStore(out, "test")
    with pytest.raises(MissingPriorError, match="frame_00002"):
        store.load("s00000", "seq1/frame_00002.jpg")
    assert store.get("s00000", "seq1/frame_00002.jpg") is None
    report = verify_store(data, "test", out)
    assert report.missing == ["s00000/seq1/frame_00002.jpg"] and report.valid == report.expected - 1
    assert "does not decode" in report.reasons["s00000/seq1/frame_00002.jpg"]
    assert _cli("--data-root", str(data), "--split", "test", "--out", str(out), "--verify") == 1


def test_verify_finds_a_damaged_file_and_a_store_refuses_other_settings(tiny_dataset: Path, tmp_path: Path) -> None:
    assert _cli("--data-root", str(tiny_dataset), "--split", "test", "--out", str(tmp_path),
                "--teacher", "synthetic") == 0
    victim = next(tmp_path.glob("test/*/seq1/*.npz"))
    victim.write_bytes(victim.read_bytes()[:100])
    report = verify_store(tiny_dataset, "test", tmp_path)
    assert not report.complete and len(report.broken) == 1 and str(victim) in report.broken[0]
    with pytest.raises(ValueError, match="unreadable"):
        PriorStore(tmp_path, "test").load(victim.parent.parent.name, f"seq1/{victim.stem}.jpg")
    assert _cli("--data-root", str(tiny_dataset), "--split", "test", "--out", str(tmp_path), "--teacher",
                "synthetic-metric") == 2


def test_verify_counts_the_problems_of_each_shard(tiny_dataset: Path, tmp_path: Path) -> None:
    assert _cli("--data-root", str(tiny_dataset), "--split", "test", "--out", str(tmp_path),
                "--teacher", "synthetic", "--no-progress") == 0
    frames = list_frames(tiny_dataset, "test")
    lost = frames[1]  # shard 1 of 2
    (tmp_path / "test" / lost.scene / f"{Path(lost.frame).with_suffix('.npz')}").unlink()
    report = verify_store(tiny_dataset, "test", tmp_path, world_size=2)
    assert report.missing == [lost.key] and report.shard_problems == {1: [1, 0]}
    assert "shard 1 of 2: 1 missing, 0 broken" in report.summary()


def test_shards_from_launcher_environment() -> None:
    assert Shard.from_env({"RANK": "3", "WORLD_SIZE": "4"}) == Shard(3, 4)
    assert Shard.from_env({"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}) == Shard(1, 2)
    assert Shard.from_env({}) == Shard(0, 1)
    with pytest.raises(ValueError):
        Shard(2, 2)


def test_shards_of_a_slurm_job_array_of_multi_task_steps() -> None:
    """Array task k of A (counted from the array's first), task p of T in its step: shard k*T + p of A*T."""
    array = {"SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_STEP": "1"}
    task = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}
    assert Shard.from_env({**array, **task}) == Shard(3, 6)
    assert Shard.from_env({**array, "SLURM_ARRAY_TASK_ID": "6"}) == Shard(2, 3)
    shards = {Shard.from_env({**array, "SLURM_ARRAY_TASK_ID": str(k), "SLURM_PROCID": str(p), "SLURM_NTASKS": "2"})
              for k in (4, 5, 6) for p in (0, 1)}
    assert shards == {Shard(r, 6) for r in range(6)}
    with pytest.raises(InputError, match="contiguous array"):
        Shard.from_env({**array, "SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_STEP": "2"})
    items = list(range(11))
    parts = [Shard(r, 3).select(items) for r in range(3)]
    assert sorted(i for part in parts for i in part) == items and max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.slow
def test_two_torchrun_processes_write_disjoint_shards_covering_every_frame(tiny_dataset: Path, tmp_path: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    mapfree = Path(sys.executable).with_name("mapfree")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", str(mapfree), "depth-prior", "--data-root",
           str(tiny_dataset), "--out", str(tmp_path), "--teacher", "synthetic", "--workers", "0", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    written = {int(r): int(w)
               for r, w in re.findall(r"rank (\d)/2: \d+ frames, 0 already stored, (\d+) written", done.stdout)}
    total = len(list_frames(tiny_dataset, "train"))
    assert set(written) == {0, 1} and sum(written.values()) == total  # each frame written by exactly one rank
    assert verify_store(tiny_dataset, "train", tmp_path).complete


def test_resize_gives_the_grid_of_the_resized_image(tiny_dataset: Path, tmp_path: Path) -> None:
    assert _cli("--data-root", str(tiny_dataset), "--split", "test", "--out", str(tmp_path), "--teacher",
                "synthetic", "--resize", "60x90") == 0
    store = PriorStore(tmp_path, "test")
    prior = store.load("s00000", "seq0/frame_00000.jpg")
    assert store.meta.image_size == (60, 90) and prior.image_size == (60, 90) and prior.grid_shape == (6, 4)
    assert _cli("--data-root", str(tiny_dataset), "--split", "test", "--out", str(tmp_path), "--verify") == 0
