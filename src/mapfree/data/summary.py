"""A short description of a Map-free-format dataset: what a user checks after a download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.data.images import check_frame_images
from mapfree.data.scenes import SPLITS, list_scenes
from mapfree.geometry.transforms import camera_center


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def summarize(data_root: str | Path) -> dict:
    """Per split: scenes, frames, benchmark or training pairs, overlap and camera statistics.

    Every file training, submissions and evaluation read is validated on the way (images from their
    headers only); DataFormatError names the first bad file.
    """
    data_root = Path(data_root)
    if not data_root.is_dir():
        raise DataFormatError(data_root, "dataset folder not found")
    if not any((data_root / split).is_dir() for split in SPLITS):
        raise DataFormatError(data_root, f"not a Map-free dataset: no {', '.join(SPLITS)} folder")
    out: dict = {"root": str(data_root), "bytes": _folder_bytes(data_root), "splits": {}}
    for split in SPLITS:
        if not (data_root / split).is_dir():
            continue
        scenes = list_scenes(data_root, split)
        for scene in scenes:  # what training, submissions and the evaluator would reject
            scene.check_files()
            check_frame_images(scene, scene.frames())
        frames = sum(len(s.intrinsics) for s in scenes)
        focal = [camera.K[0, 0] for s in scenes for camera in s.intrinsics.values()]
        sizes = sorted({(camera.width, camera.height) for s in scenes for camera in s.intrinsics.values()})
        info = {"scenes": len(scenes), "frames": frames, "image_sizes": sizes,
                "focal_range": [float(min(focal)), float(max(focal))] if focal else None}
        if split == "train":
            ov = np.concatenate([s.overlaps.overlaps for s in scenes]) if scenes else np.zeros(0)
            info["pairs"] = int(len(ov))
            info["overlap_histogram"] = np.histogram(ov, bins=[0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0])[0].tolist()
        else:
            info["pairs"] = sum(len(s.benchmark_queries()) for s in scenes)
        if split == "val":
            centres = [np.linalg.norm(camera_center(T)) for s in scenes for T in s.poses.values()]
            if centres:
                info["query_distance_to_reference_m"] = [float(np.min(centres)), float(np.median(centres)),
                                                         float(np.max(centres))]
        out["splits"][split] = info
    return out


def format_summary(summary: dict) -> str:
    """Human-readable lines of :func:`summarize`'s dict."""
    lines = [f"dataset {summary['root']}  ({summary['bytes'] / 2**20:.1f} MiB)"]
    for split, info in summary["splits"].items():
        sizes = ", ".join(f"{w}x{h}" for w, h in info["image_sizes"])
        line = (f"  {split:5s}: {info['scenes']:4d} scenes, {info['frames']:6d} frames, {info['pairs']:7d} pairs, "
                f"images {sizes}")
        if info["focal_range"]:
            line += f", fx {info['focal_range'][0]:.0f}-{info['focal_range'][1]:.0f}"
        lines.append(line)
        if "overlap_histogram" in info:
            lines.append(f"         overlap histogram [0,.1,.2,.4,.6,.8,1]: {info['overlap_histogram']}")
        if "query_distance_to_reference_m" in info:
            lo, med, hi = info["query_distance_to_reference_m"]
            lines.append(f"         query-reference distance (m): min {lo:.2f}, median {med:.2f}, max {hi:.2f}")
    return "\n".join(lines)
