"""Time the synthetic benchmark generator on the issue's reference workload, optionally against another
source tree in the same run.

Reference workload: 10 train scenes x 2 sequences x 40 frames at 360x480, all cores, no val/test:

    .venv/bin/python benchmarks/synth_speed.py [--out /tmp/synth_bench]

Before/after: `--before-src PATH` (a tree's `src` folder, e.g. of `git worktree add /tmp/old COMMIT`)
runs the same workload alternately under that tree and this one, each in a fresh interpreter,
`--rounds` times, and prints wall and CPU seconds (the generator's processes together: on a shared
machine CPU time is the steadier figure), their medians and ratios, and whether both trees wrote
byte-identical datasets:

    .venv/bin/python benchmarks/synth_speed.py --before-src /tmp/old/src --scenes 4 --frames 10 --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THIS_SRC = Path(__file__).resolve().parents[1] / "src"


def _cpu_seconds() -> float:
    """User + system seconds of this process and of its finished children (the generator's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_once(out: Path, scenes: int, frames: int, workers: int | None) -> dict[str, float]:
    """Generate the workload into `out` (with whichever `mapfree` is importable); wall and CPU seconds."""
    from mapfree.synth import SynthConfig, generate_dataset

    config = SynthConfig(seed=0, train_scenes=scenes, val_scenes=0, test_scenes=0, frames=frames, size=(360, 480))
    wall, cpu = time.perf_counter(), _cpu_seconds()
    generate_dataset(out, config, workers=workers)
    return {"wall": time.perf_counter() - wall, "cpu": _cpu_seconds() - cpu}


def dataset_digest(root: Path) -> str:
    """SHA-256 over every file's relative path and bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_under(src: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    """`run_once` in a fresh interpreter that imports `mapfree` from `src`."""
    command = [sys.executable, __file__, "--single", "--out", str(out), "--scenes", str(args.scenes),
               "--frames", str(args.frames)] + (["--workers", str(args.workers)] if args.workers else [])
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(before_src: Path, args: argparse.Namespace) -> None:
    """Alternate the two trees `args.rounds` times; print each run, the medians and the ratios."""
    frames = args.scenes * 2 * args.frames
    times: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="synth_bench_") as tmp:
        for round_ in range(args.rounds):
            for name, src in (("before", before_src), ("after", THIS_SRC)):
                out = Path(tmp) / f"{name}{round_}"
                times[name].append(run_under(src, out, args))
                digests.setdefault(name, dataset_digest(out))
                shutil.rmtree(out)
                print(f"round {round_ + 1} {name:6s} {src}: wall {times[name][-1]['wall']:.1f} s, "
                      f"cpu {times[name][-1]['cpu']:.1f} s", flush=True)
    print(f"workload: {args.scenes} scenes x 2 sequences x {args.frames} frames = {frames} frames at 360x480, "
          f"{args.workers or 'all'} workers on {os.cpu_count()} cores")
    medians = {name: {kind: statistics.median(r[kind] for r in runs) for kind in ("wall", "cpu")}
               for name, runs in times.items()}
    for kind in ("wall", "cpu"):
        before, after = medians["before"][kind], medians["after"][kind]
        print(f"median {kind}: before {before:.1f} s ({frames / before:.1f} frames/s), "
              f"after {after:.1f} s ({frames / after:.1f} frames/s): {before / after:.2f}x")
    same = digests["before"] == digests["after"]
    print(f"datasets byte-identical: {'yes' if same else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: a temp folder, removed)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scenes", type=int, default=10, help="train scenes (default 10)")
    parser.add_argument("--frames", type=int, default=40, help="frames per sequence (default 40)")
    parser.add_argument("--before-src", type=Path, default=None,
                        help="another tree's src folder: time both trees, alternately, in one run")
    parser.add_argument("--rounds", type=int, default=3, help="alternations with --before-src (default 3)")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.before_src is not None:
        if not (args.before_src / "mapfree").is_dir():
            parser.error(f"--before-src {args.before_src}: no mapfree package there")
        compare(args.before_src, args)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="synth_bench_"))
    figures = run_once(out, args.scenes, args.frames, args.workers)
    if args.single:
        print(json.dumps(figures))
        return
    from mapfree.data.summary import format_summary, summarize

    frames = args.scenes * 2 * args.frames
    print(format_summary(summarize(out)))
    print(f"generation: {figures['wall']:.1f} s for {frames} frames on {os.cpu_count()} cores "
          f"({frames / figures['wall']:.1f} frames/s), {figures['cpu']:.1f} CPU s")
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
