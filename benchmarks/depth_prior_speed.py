"""Frames/s of `mapfree depth-prior` (batched, device-side preprocessing, loader workers, background
writes) against the naive per-image `transformers` pipeline("depth-estimation") on the same model.

Both produce the same thing per frame: the 14x14 patch grid of the prediction, saved to disk.
Without --weights a randomly initialised Depth Anything of a released size is built offline
(--arch small/base/large have the real sizes, so timings are representative).

    python benchmarks/depth_prior_speed.py --arch small --frames 32            # CPU
    python benchmarks/depth_prior_speed.py --arch large --device cuda --frames 256 --batch-size 32
    python benchmarks/depth_prior_speed.py --weights DIR --data-root ROOT --scenes 2 --device cuda
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mapfree.data.scenes import Scene, list_scenes
from mapfree.depth_prior.frames import list_frames
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.random_model import ARCHS, save_random_depth_anything
from mapfree.depth_prior.runner import compute_store
from mapfree.depth_prior.store import PriorStore
from mapfree.depth_prior.teachers import build_teacher, resolve_dtype
from mapfree.synth import SynthConfig, generate_dataset


def scene_folders(args: argparse.Namespace, tmp: Path) -> list[Path]:
    """The scenes to time: the first --scenes of --data-root's split, or freshly rendered 540x720 ones."""
    if args.data_root:
        return [s.root for s in list_scenes(args.data_root, args.split)[: args.scenes]]
    scenes = math.ceil(args.frames / 16)  # 16 frames per scene: two sequences of 8, rendered in parallel
    generate_dataset(tmp / "synth", SynthConfig(seed=0, train_scenes=scenes, val_scenes=0, test_scenes=0, frames=8,
                                                size=(540, 720)))
    return [s.root for s in list_scenes(tmp / "synth", "train")]


def view(scenes: list[Path], root: Path) -> Path:
    """A data root whose train split links to `scenes`."""
    (root / "train").mkdir(parents=True)
    for scene in scenes:
        os.symlink(scene.resolve(), root / "train" / scene.name)
    return root


def naive(weights: str, data: Path, out: Path, device: str, dtype: torch.dtype) -> tuple[float, dict]:
    """Per image: PIL decode, pipeline (PIL preprocessing, model, bicubic upsampling), patch grid, np.save."""
    from PIL import Image
    from transformers import pipeline

    pipe = pipeline("depth-estimation", model=weights, device=device, dtype=dtype)
    frames = list_frames(data, "train")
    pipe(Image.open(frames[0].image_path))  # warm-up
    grids = {}
    start = time.perf_counter()
    for ref in frames:
        depth = pipe(Image.open(ref.image_path))["predicted_depth"]
        grid = patch_average(depth.float()).cpu().numpy()
        (out / ref.scene).mkdir(parents=True, exist_ok=True)
        np.save(out / ref.scene / ref.frame.replace("/", "_").replace(".jpg", ".npy"), grid)
        grids[ref.key] = grid
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(frames) / (time.perf_counter() - start), grids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="Depth Anything folder or Hub id (default: a random model of --arch)")
    parser.add_argument("--arch", choices=sorted(ARCHS), default="small")
    parser.add_argument("--input-size", type=int, default=518, help="random model's processor size")
    parser.add_argument("--data-root", help="time these frames (default: synthetic 540x720 frames)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--scenes", type=int, default=1, help="with --data-root: first N scenes of the split")
    parser.add_argument("--frames", type=int, default=16, help="synthetic frames to time (rounded up to 16s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        weights = args.weights or str(save_random_depth_anything(tmp / "model", args.arch, input_size=args.input_size))
        scenes = scene_folders(args, tmp)
        data = view(scenes, tmp / "data")
        teacher = build_teacher("depth-anything", weights, args.device, args.precision)
        n = len(list_frames(data, "train"))
        # Warm-up on whole batches (cuDNN picks its kernels per shape), excluded from the timing.
        counts = np.cumsum([len(Scene(s, "train").frames()) for s in scenes])
        warm = view(scenes[: int(np.searchsorted(counts, args.batch_size)) + 1], tmp / "warm")
        compute_store(warm, "train", tmp / "warm_store", teacher, batch_size=args.batch_size, workers=args.workers,
                      progress=False)
        report = compute_store(data, "train", tmp / "ours", teacher, batch_size=args.batch_size,
                               workers=args.workers, progress=False)
        ours = report.written / report.seconds
        dtype = resolve_dtype(args.precision, teacher.device)
        name = args.weights or f"random {args.arch}"
        print(f"model {name}, {n} frames, device {teacher.device} "
              f"({torch.cuda.get_device_name(teacher.device) if teacher.device.type == 'cuda' else 'CPU'}), "
              f"{dtype}, batch {args.batch_size}, {args.workers} loader workers, "
              f"torch threads {torch.get_num_threads()}")
        print(f"mapfree depth-prior  : {ours:8.2f} frames/s")
        if args.skip_naive:
            return
        rate, grids = naive(weights, data, tmp / "naive", str(teacher.device), dtype)
        del teacher
        store = PriorStore(tmp / "ours", "train")
        diffs = [np.nanmax(np.abs(store.load(*k.split("/", 1)).values - g)) / (np.nanmax(np.abs(g)) + 1e-12)
                 for k, g in grids.items()]
        print(f"naive pipeline       : {rate:8.2f} frames/s")
        print(f"speed-up             : {ours / rate:8.2f}x")
        print(f"max |ours - naive| / max|naive| per frame, median over frames: {np.median(diffs):.4f} "
              "(PIL vs torch bicubic resize, bilinear vs bicubic upsampling)")


if __name__ == "__main__":
    main()
