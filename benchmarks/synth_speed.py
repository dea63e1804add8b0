"""Time the synthetic benchmark generator on the issue's reference workload.

10 train scenes x 2 sequences x 40 frames at 360x480, all cores, no val/test:

    .venv/bin/python benchmarks/synth_speed.py [--out /tmp/synth_bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from mapfree.data.summary import format_summary, summarize
from mapfree.synth import SynthConfig, generate_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: a temp folder, removed)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="synth_bench_"))
    config = SynthConfig(seed=0, train_scenes=10, val_scenes=0, test_scenes=0, frames=40, size=(360, 480))
    start = time.perf_counter()
    generate_dataset(out, config, workers=args.workers)
    elapsed = time.perf_counter() - start
    print(format_summary(summarize(out)))
    print(f"generation: {elapsed:.1f} s for 800 frames on {os.cpu_count()} cores ({800 / elapsed:.1f} frames/s)")
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
