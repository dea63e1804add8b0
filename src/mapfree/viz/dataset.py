"""Contact sheet of a Map-free-format dataset: frames next to their depth maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mapfree.atomic import save_figure_atomic
from mapfree.data.images import read_depth, read_image
from mapfree.data.scenes import list_scenes
from mapfree.viz.style import styled


@styled
def contact_sheet(data_root: str | Path, out_png: str | Path, split: str = "train", scenes: int = 3,
                  frames_per_scene: int = 3) -> Path:
    """Save a grid: one row per scene, image and depth for `frames_per_scene` frames spread over seq0/seq1."""
    chosen = list_scenes(data_root, split)[:scenes]
    fig = Figure(figsize=(3.0 * frames_per_scene * 2, 3.6 * len(chosen)))
    axes = fig.subplots(len(chosen), 2 * frames_per_scene, squeeze=False)
    for row, scene in zip(axes, chosen):
        frames = scene.frames()
        picks = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, frames_per_scene)]
        for k, frame in enumerate(picks):
            depth = read_depth(scene.depth_path(frame))
            row[2 * k].imshow(read_image(scene.image_path(frame)))
            row[2 * k].set_title(f"{scene.name}/{frame}", fontsize=7)
            im = row[2 * k + 1].imshow(depth, cmap="turbo", vmin=0, vmax=float(np.nanpercentile(depth, 98)))
            row[2 * k + 1].set_title("depth (m)", fontsize=7)
            fig.colorbar(im, ax=row[2 * k + 1], fraction=0.046)
    for ax in axes.ravel():
        ax.axis("off")
    save_figure_atomic(fig, out_png, dpi=80)
    return Path(out_png)
