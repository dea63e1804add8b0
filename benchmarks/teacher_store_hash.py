"""Fingerprints of the synthetic teachers' depth-prior stores, to compare environments.

Computes the `synthetic` (relative) and `synthetic-metric` stores of one split, as `mapfree study`
does, and prints a SHA-256 of each store's arrays. Run it under two environments (another OpenCV or
NumPy release, another CPU, other thread counts, kernels switched off with `NPY_DISABLE_CPU_FEATURES`,
`OPENCV_CPU_DISABLE` or `ATEN_CPU_CAPABILITY`) on the same dataset: equal fingerprints mean every run
trained on these stores gets the same targets in both.

    .venv/bin/python benchmarks/teacher_store_hash.py --data-root OUT/data [--split train]
        [--resize 240x320] [--threads 2]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from mapfree.depth_prior.runner import compute_store
from mapfree.study.config import TeacherConfig
from mapfree.study.pipeline import study_teacher


def store_fingerprint(store: Path) -> str:
    """SHA-256 over the stored frames' bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(store.rglob("*.npz")):
        digest.update(path.relative_to(store).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, help="a Map-free-layout dataset with rendered depth")
    parser.add_argument("--split", default="train")
    parser.add_argument("--resize", default="240x320", help="WxH of the priors, as the study's `resize`")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the study fixes 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.resize.split("x"))
    print(f"opencv {cv2.__version__}, numpy {np.__version__}, torch {torch.__version__}, {args.threads} threads")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("synthetic", "synthetic-metric"):
            store = Path(tmp) / name
            compute_store(args.data_root, args.split, store, study_teacher(TeacherConfig(name)), size, workers=0)
            print(f"{name:17s} {store_fingerprint(store)}")


if __name__ == "__main__":
    main()
