"""The synthetic benchmark of a study: train and val to learn from, and a test split held out.

The test split's truth (relative poses, depth maps) is written to its own root, and the dataset
the pipeline reads gets a redacted copy of it: the images and intrinsics with the benchmark's
hidden all-zero poses and no depth. Only the final evaluation opens the truth root.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path

from mapfree.atomic import atomic_dir, json_text, write_text_atomic
from mapfree.data.files import read_poses_table, write_poses
from mapfree.data.scenes import list_scenes
from mapfree.synth import SynthConfig, generate_dataset

DONE_FILE = "synth.json"
"""Written last into the study folder: the benchmark there is complete, for this configuration."""


def redact_split(truth_root: Path, data_root: Path, split: str) -> None:
    """Copy `split` from `truth_root` to `data_root` as the benchmark publishes a test split:
    images and intrinsics, all-zero poses, nothing else (no depth, no other files)."""
    for scene in list_scenes(truth_root, split):
        with atomic_dir(data_root / split / scene.name) as out:
            shutil.copy2(scene.root / "intrinsics.txt", out / "intrinsics.txt")
            names = read_poses_table(scene.root / "poses.txt").names
            write_poses(out / "poses.txt", dict.fromkeys(names))
            for name in names:
                (out / name).parent.mkdir(exist_ok=True)
                shutil.copy2(scene.root / name, out / name)


def benchmark_roots(out: Path) -> tuple[Path, Path]:
    """(data root, truth root) of the synthesised benchmark in study folder `out`."""
    return out / "data", out / "heldout"


def benchmark_done(out: Path, synth: SynthConfig) -> bool:
    """Study folder `out` holds the complete benchmark of `synth`."""
    done = out / DONE_FILE
    return done.is_file() and done.read_text() == json_text(asdict(synth))


def synthesise_study_benchmark(out: Path, synth: SynthConfig) -> tuple[Path, Path]:
    """(data root, truth root) under `out`, generated once: an existing complete pair is reused."""
    data, truth = benchmark_roots(out)
    if benchmark_done(out, synth):
        return data, truth
    generate_dataset(data, replace(synth, test_scenes=0), overwrite=True)
    generate_dataset(truth, replace(synth, train_scenes=0, val_scenes=0, test_truth=True), overwrite=True)
    redact_split(truth, data, "test")
    write_text_atomic(out / DONE_FILE, json_text(asdict(synth)))
    return data, truth
