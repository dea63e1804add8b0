"""Time `mapfree evaluate` on a synthetic val split (65 scenes x 500 queries by default).

Only `poses.txt` and `intrinsics.txt` are written (all the evaluator reads), so the split is
made in seconds. Prints: the whole `mapfree evaluate` process (wall and CPU), whether torch was
imported, and the metric core (per-frame errors + aggregation) against the straightforward
per-frame loop kept as the tests' oracle. With `--official ROOT --official-python PY` it also
runs the official benchmark code (a checkout of nianticlabs/map-free-reloc, not part of this
project) on the same files, times it and compares its JSON with ours.

    .venv/bin/python benchmarks/evaluate_speed.py [--scenes 65] [--queries 500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mapfree.data.files import write_intrinsics, write_poses
from mapfree.data.frames import frame_name
from mapfree.data.scenes import list_scenes
from mapfree.evaluation import SubmissionEntry, Thresholds, evaluate_submission, write_submission
from mapfree.evaluation.aggregate import summarize
from mapfree.evaluation.evaluate import gather_scored_frames
from mapfree.evaluation.metrics import frame_errors
from mapfree.geometry.camera import Camera, intrinsics_matrix
from mapfree.geometry.rotations import quaternion_to_matrix
from mapfree.geometry.transforms import compose_pose

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from evaluation_oracle import oracle_metrics  # the tests' per-frame loop


def random_rotations(rng: np.random.Generator, n: int, max_deg: float) -> np.ndarray:
    """(n, 3, 3) rotations about random axes by angles up to `max_deg`."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    half = np.radians(rng.uniform(0, max_deg, n)) / 2
    return quaternion_to_matrix(np.c_[np.cos(half), axis * np.sin(half)[:, None]])


def make_val_split(root: Path, scenes: int, queries: int, seed: int = 0) -> None:
    """Write `val/sNNNNN/{poses,intrinsics}.txt`: reference at identity, queries with skipped frame numbers."""
    rng = np.random.default_rng(seed)
    for s in range(scenes):
        scene = root / "val" / f"s{s:05d}"
        scene.mkdir(parents=True, exist_ok=True)
        numbers = np.cumsum(np.r_[0, rng.choice([1, 1, 1, 2, 3], queries - 1)])
        R = random_rotations(rng, queries, 60.0)
        centre = rng.normal(0, 2.0, (queries, 3))
        poses = {frame_name(0, 0): np.eye(4)}
        poses.update({frame_name(1, int(n)): compose_pose(R[i], -R[i] @ centre[i]) for i, n in enumerate(numbers)})
        write_poses(scene / "poses.txt", poses)
        f = rng.uniform(580, 600)
        write_intrinsics(scene / "intrinsics.txt", {
            name: Camera.from_matrix(intrinsics_matrix(f + rng.normal(0, 0.5), f + rng.normal(0, 0.5),
                                                       269.5 + rng.normal(0, 2), 359.5 + rng.normal(0, 2)), 540, 720)
            for name in poses
        })


def make_submission(root: Path, path: Path, seed: int = 1, drop: float = 0.05) -> Path:
    """Perturbed true poses of the scored frames, a few dropped, integer confidences (many ties)."""
    rng = np.random.default_rng(seed)
    estimates = {}
    for scene in list_scenes(root, "val"):
        frames = [f for f in scene.benchmark_queries() if rng.random() > drop]
        T = np.stack([scene.poses[f] for f in frames])
        R = random_rotations(rng, len(frames), 20.0) @ T[:, :3, :3]
        t = T[:, :3, 3] + rng.normal(0, 0.3, (len(frames), 3)) * rng.lognormal(0, 1, (len(frames), 1))
        conf = rng.integers(0, 300, len(frames)).astype(float)
        estimates[scene.name] = [SubmissionEntry(f, R[i], t[i], conf[i]) for i, f in enumerate(frames)]
    return write_submission(path, estimates)


def time_cli(root: Path, submission: Path, repeats: int) -> tuple[float, float, bool]:
    """Best wall and CPU seconds of the whole `mapfree evaluate` process; whether torch got imported."""
    cli = Path(sys.executable).with_name("mapfree")
    walls, cpus, torch = [], [], False
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run([str(cli), "evaluate", str(submission), "--data-root", str(root), "--split", "val"],
                              capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        torch |= any(line.rstrip().endswith("| torch") for line in proc.stderr.splitlines())
    return min(walls), min(cpus), torch


def time_core(root: Path, submission: Path, repeats: int) -> tuple[float, float]:
    """Best seconds of the vectorised metric core and of the per-frame oracle on the same inputs."""
    frames = gather_scored_frames(submission, root, "val")
    scene_index = np.repeat(np.arange(len(frames.sizes)), frames.sizes)
    poses = (frames.q_gt, frames.t_gt, frames.q, frames.t)
    camera = frames.camera

    def vectorised() -> dict:
        errors = frame_errors(*poses, camera)
        return summarize(errors, frames.confidence, frames.sizes, frames.n_missing, Thresholds())[0]

    def loop() -> dict:
        return oracle_metrics(*poses, camera.K, camera.size[:, 0], camera.size[:, 1], frames.confidence, scene_index,
                              frames.n_missing, Thresholds())

    fast, slow = vectorised(), loop()
    assert all(math.isclose(fast[k], slow[k], rel_tol=1e-9, abs_tol=1e-12) for k in fast), (fast, slow)
    return min(_seconds(vectorised) for _ in range(repeats)), min(_seconds(loop) for _ in range(max(1, repeats // 3)))


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_official(root: Path, submission: Path, official: Path, python: str) -> tuple[dict, float]:
    start = time.perf_counter()
    proc = subprocess.run([python, "-m", "benchmark.mapfree", str(submission), "--split", "val",
                           "--dataset_path", str(root), "--log", "error"],
                          cwd=official, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=65)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="write the split and submission here and keep them")
    parser.add_argument("--official", type=Path, default=None, help="checkout of the official map-free-reloc code")
    parser.add_argument("--official-python", default=sys.executable, help="Python with numpy 1.x and transforms3d")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="eval_bench_"))
    try:
        start = time.perf_counter()
        make_val_split(root, args.scenes, args.queries)
        submission = make_submission(root, root / "submission.zip")
        print(f"synthetic val split: {args.scenes} scenes x {args.queries} queries, written in "
              f"{time.perf_counter() - start:.1f} s to {root}")
        ours = evaluate_submission(submission, root, "val")
        print(f"scored estimates: {len(ours.frames.confidence)}, "
              f"coverage {ours.metrics['Estimates for % of frames']:.3f}")
        wall, cpu, torch = time_cli(root, submission, args.repeats)
        print(f"mapfree evaluate (whole process, best of {args.repeats}): {wall:.3f} s wall, {cpu:.3f} s CPU; "
              f"torch imported: {torch}; {os.cpu_count()} cores")
        fast, slow = time_core(root, submission, args.repeats)
        print(f"metric core: vectorised {fast * 1e3:.1f} ms, per-frame loop {slow * 1e3:.1f} ms, "
              f"speed-up {slow / fast:.0f}x")
        if args.official:
            official, elapsed = run_official(root, submission, args.official, args.official_python)
            worst = max(abs(official[k] - ours.metrics[k]) / abs(official[k])
                        for k in official if abs(official[k]) > 1e-6)
            agree = all(math.isclose(official[k], ours.metrics[k], rel_tol=1e-9, abs_tol=1e-12) for k in official)
            same_keys = list(official) == list(ours.metrics)[: len(official)]
            print(f"official code: {elapsed:.3f} s wall; same keys in the same order: {same_keys}; "
                  f"all values within 1e-9 relative: {agree}; largest relative difference: {worst:.2e}")
    finally:
        if args.keep is None:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
