"""Time each stage of MATCHER+DEPTH+SOLVER baselines on the pairs of a synthetic split.

Prints, per method, the mean milliseconds per pair of matching, depth lookup and solving, the
mean number of matches and the share of pairs with an estimate. Methods whose weights are
missing are reported and skipped. The split is generated unless --data-root is given.

    .venv/bin/python benchmarks/baselines_speed.py [--methods sift+true+emat ...] [--device cuda]
        [--data-root ROOT --split val] [--size 360x480] [--weights-dir DIR] [--checkpoint CKPT]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mapfree.baselines.learned import MissingPackageError, MissingWeightsError
from mapfree.baselines.registry import BaselineContext, build_baseline
from mapfree.cli._model_args import model_loader
from mapfree.cli._types import parse_size
from mapfree.data.dataset import MapFreePairs
from mapfree.data.items import views
from mapfree.synth import SynthConfig, generate_dataset

DEFAULT_METHODS = ("sift+true+emat", "sift+true+pnp", "sift+true+procrustes", "loftr+true+emat",
                   "disk-lightglue+true+emat", "dedode+true+emat", "roma+true+emat")


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_method(estimator, dataset: MapFreePairs, device: str) -> dict[str, float]:
    """Mean ms per pair of each stage, mean matches, share of pairs solved."""
    stages = {"match": [], "depth": [], "solve": []}
    counts, solved = [], []
    need0, need1 = estimator.solver.needs_depth
    for item in dataset:
        synchronize(device)
        t0 = time.perf_counter()
        m = estimator.matcher(item)
        synchronize(device)
        t1 = time.perf_counter()
        d0 = estimator.depth(item, 0, m.kpts0) if need0 else None
        d1 = estimator.depth(item, 1, m.kpts1) if need1 else None
        t2 = time.perf_counter()
        pose = estimator.solver(m.kpts0, m.kpts1, *(view["camera"].numpy() for view in views(item)), d0, d1)
        t3 = time.perf_counter()
        for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2)):
            stages[name].append(1000 * dt)
        counts.append(len(m))
        solved.append(pose.valid)
    return {**{k: float(np.mean(v)) for k, v in stages.items()}, "matches": float(np.mean(counts)),
            "solved": float(np.mean(solved))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--split", default="val")
    parser.add_argument("--size", type=parse_size, default=(360, 480), help="image size of the generated split")
    parser.add_argument("--scenes", type=int, default=2, help="scenes of the generated split")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights-dir", default=None)
    parser.add_argument("--checkpoint", default=None, help="MicKey model for the mickey matcher/depth")
    args = parser.parse_args()
    args.config = args.dinov2_weights = None
    args.precision = "auto"

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root
        if root is None:
            root = Path(tmp) / "synth"
            generate_dataset(root, SynthConfig(seed=0, train_scenes=0, val_scenes=args.scenes, test_scenes=0,
                                               frames=20, size=args.size))
        dataset = MapFreePairs(root, args.split)
        context = BaselineContext(weights_dir=args.weights_dir, device=args.device, load_mickey=model_loader(args))
        print(f"{len(dataset)} pairs of {root}/{args.split}, device {args.device}, "
              f"torch threads {torch.get_num_threads()}")
        print(f"{'method':28s} {'match ms':>9s} {'depth ms':>9s} {'solve ms':>9s} {'matches':>8s} {'solved':>7s}")
        for method in args.methods:
            try:
                estimator = build_baseline(method, context)
            except (MissingWeightsError, MissingPackageError, ValueError) as e:
                print(f"{method:28s} skipped: {e}")
                continue
            estimator.matcher(dataset[0])  # warm-up (lazy initialisation, CUDA kernels)
            r = time_method(estimator, dataset, args.device)
            print(f"{method:28s} {r['match']:9.1f} {r['depth']:9.1f} {r['solve']:9.1f} "
                  f"{r['matches']:8.0f} {r['solved']:7.0%}")


if __name__ == "__main__":
    main()
