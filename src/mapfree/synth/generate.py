"""Write a complete Map-free-format dataset of procedurally generated places.

Layout, per split and scene: `intrinsics.txt`, `poses.txt` (world-to-camera; val/test
relative to the reference frame, test all zeros), `seq0/frame_00000.jpg`, `seq1/...`, a
`frame_NNNNN.depth.png` (uint16 mm) beside every frame, and `overlaps.npz` for train. Optionally
map-free-reloc's extra assets: estimated depth `frame_NNNNN.SUFFIX.png` beside every frame and, in
val/test scenes, `correspondences_NAME.npz` (see :mod:`mapfree.synth.assets`).
"""

from __future__ import annotations

import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from mapfree import logs
from mapfree.atomic import atomic_dir, refuse_existing, write_json_atomic
from mapfree.children import process_pool
from mapfree.data.correspondences import correspondences_path
from mapfree.data.files import Overlaps, write_intrinsics, write_overlaps, write_poses
from mapfree.data.frames import frame_name
from mapfree.data.images import write_depth
from mapfree.data.scenes import SYNTH_MARKER
from mapfree.geometry.camera import Camera, intrinsics_matrix, scale_intrinsics
from mapfree.geometry.covisibility import covisibility_matrix
from mapfree.geometry.transforms import invert_pose
from mapfree.synth.assets import write_estimated_depth, write_scene_correspondences
from mapfree.synth.places import make_place
from mapfree.synth.render import Lighting, render
from mapfree.synth.trajectories import walk

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
OVERLAP_STEP = 8
"""Depth maps are subsampled by this factor to compute overlaps."""


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Sizes are (width, height); Map-free frames are 540x720 portrait."""

    seed: int = 0
    train_scenes: int = 10
    val_scenes: int = 4
    test_scenes: int = 4
    frames: int = 40
    size: tuple[int, int] = (360, 480)
    estimated_depth: tuple[str, ...] = ()
    """Suffixes of estimated-depth PNGs to write beside every frame (e.g. `dptkitti`)."""
    correspondences: tuple[str, ...] = ()
    """Names of `correspondences_NAME.npz` files (noisy true correspondences) to write in val/test scenes."""
    test_truth: bool = False
    """Write the test split's true poses (relative to the reference, like val) instead of the hidden zeros:
    for a held-out evaluation whose truth the caller keeps apart (`mapfree study`)."""


def _lighting(rng: np.random.Generator) -> Lighting:
    elevation, azimuth = rng.uniform(0.3, 1.3), rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return Lighting(direction.astype(np.float32), float(rng.uniform(0.3, 0.55)),
                    rng.uniform(0.85, 1.15, 3).astype(np.float32))


def _intrinsics(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Phone-like intrinsics: horizontal field of view 50-68 degrees, principal point near the centre."""
    fx = width / (2 * np.tan(np.deg2rad(rng.uniform(50, 68)) / 2))
    cx, cy = (width - 1) / 2 + rng.normal(0, 2), (height - 1) / 2 + rng.normal(0, 2)
    return intrinsics_matrix(fx, fx, cx, cy)


def generate_scene(out_dir: Path, split: str, index: int, config: SynthConfig) -> int:
    """Render one scene folder; returns the number of frames written."""
    rng = np.random.default_rng([config.seed, SPLIT_IDS[split], index])
    world = make_place(rng)
    width, height = config.size
    K = _intrinsics(rng, width, height)
    camera = Camera.from_matrix(K, width, height)
    azimuth0 = rng.uniform(0, 2 * np.pi)
    if split == "train":
        sequences = {
            0: walk(rng, world.centre, config.frames, azimuth0, rng.uniform(0.6, 2.0), (4.5, 8.5)),
            1: walk(rng, world.centre, config.frames, azimuth0 + rng.uniform(-0.6, 0.6), rng.uniform(0.6, 2.0),
                    (4.5, 8.5)),
        }
    else:
        sequences = {
            0: walk(rng, world.centre, 1, azimuth0, 0.0, (5.0, 7.0)),
            1: walk(rng, world.centre, config.frames, azimuth0 + rng.uniform(-0.3, 0.3), rng.uniform(1.0, 2.6),
                    (4.5, 9.0)),
        }
    # rendered into a hidden sibling and renamed into place when complete: a killed run leaves no
    # scene folder that reads as a scene (listings take `s*` folders only)
    with atomic_dir(out_dir / split / f"s{index:05d}") as scene_dir:
        poses, intrinsics, depths, names, full_depths = {}, {}, [], [], {}
        for seq, seq_poses in sequences.items():
            (scene_dir / f"seq{seq}").mkdir(parents=True, exist_ok=True)
            light = _lighting(rng)
            for i, T in enumerate(seq_poses):
                name = frame_name(seq, i)
                image, depth = render(world, camera, T, light, rng)
                cv2.imwrite(str(scene_dir / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 92])
                write_depth(scene_dir / name.replace(".jpg", ".depth.png"), depth)
                for suffix in config.estimated_depth:
                    write_estimated_depth(scene_dir / name.replace(".jpg", f".{suffix}.png"), depth,
                                          scene_dir / name, f"s{index:05d}/{name}", config.seed)
                if split != "train" and config.correspondences:
                    full_depths[name] = depth
                poses[name] = T
                intrinsics[name] = camera
                depths.append(depth[OVERLAP_STEP // 2 :: OVERLAP_STEP, OVERLAP_STEP // 2 :: OVERLAP_STEP])
                names.append((seq, i))
        write_intrinsics(scene_dir / "intrinsics.txt", intrinsics)
        reference = frame_name(0, 0)
        for corr_name in config.correspondences if split != "train" else ():
            corr_rng = np.random.default_rng([config.seed, SPLIT_IDS[split], index, zlib.crc32(corr_name.encode())])
            write_scene_correspondences(
                correspondences_path(scene_dir, corr_name), (full_depths[reference], poses[reference]),
                [(full_depths[n], poses[n]) for n in poses if n.startswith("seq1/")], K, corr_rng)
        if split == "train":
            _write_overlaps(scene_dir / "overlaps.npz", np.stack(depths), K, np.stack(list(poses.values())), names)
            write_poses(scene_dir / "poses.txt", poses)
        elif split == "val" or config.test_truth:
            T_ref_inv = invert_pose(poses[frame_name(0, 0)])
            write_poses(scene_dir / "poses.txt", {n: T @ T_ref_inv for n, T in poses.items()})
        else:
            write_poses(scene_dir / "poses.txt", {n: None for n in poses})
        return len(poses)


def _write_overlaps(path: Path, depths: np.ndarray, K: np.ndarray, poses: np.ndarray, names: list) -> None:
    """Symmetric overlap (mean of both directions) for every pair a < b with non-zero overlap."""
    s = 1.0 / OVERLAP_STEP
    K_small = scale_intrinsics(K, s, s)
    cov = covisibility_matrix(depths, np.repeat(K_small[None], len(depths), 0), poses)
    sym = 0.5 * (cov + cov.T)
    a, b = np.triu_indices(len(names), k=1)
    keep = sym[a, b] > 0
    idxs = np.array([[*names[i], *names[j]] for i, j in zip(a[keep], b[keep])], dtype=np.int64).reshape(-1, 4)
    write_overlaps(path, Overlaps(idxs, np.clip(sym[a, b][keep], 0, 1)))


def _generate_job(job: tuple[Path, str, int, SynthConfig]) -> int:
    # One BLAS thread per process: scenes are the unit of parallelism, and oversubscribed
    # BLAS threads made generation three times slower on 2 cores.
    with threadpool_limits(1):
        return generate_scene(*job)


def generate_dataset(out_dir: str | Path, config: SynthConfig, workers: int | None = None,
                     overwrite: bool = False) -> None:
    """Generate all splits in parallel over scenes, with a progress bar.

    A non-empty `out_dir` is refused (old and new scenes would mix) unless `overwrite`, which
    removes its `train/`, `val/` and `test/` folders first and keeps anything else. The dataset's
    :data:`~mapfree.data.scenes.SYNTH_MARKER` says "incomplete" until the last scene is written, so
    every reader refuses what a killed run leaves.
    """
    out_dir = Path(out_dir)
    if not overwrite:
        refuse_existing(out_dir, "pass --overwrite to replace its train/val/test splits")
    for split in map(out_dir.joinpath, SPLIT_IDS):
        if split.is_symlink():
            split.unlink()
        elif split.is_dir():
            shutil.rmtree(split)
    jobs = [
        (out_dir, split, i, config)
        for split, n in (("train", config.train_scenes), ("val", config.val_scenes), ("test", config.test_scenes))
        for i in range(n)
    ]
    counts = {"train": config.train_scenes, "val": config.val_scenes, "test": config.test_scenes}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / SYNTH_MARKER, {"complete": False, "scenes": counts})
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    bar = tqdm(total=len(jobs), desc="synth scenes", unit="scene", disable=not logs.progress())
    if workers <= 1:
        for job in jobs:
            _generate_job(job)
            bar.update()
    else:
        with process_pool(workers) as pool:  # the workers die with this process
            for _ in pool.map(_generate_job, jobs):
                bar.update()
    bar.close()
    write_json_atomic(out_dir / SYNTH_MARKER, {"complete": True, "scenes": counts})
