"""Accuracy of MicKey's predicted patch depths against the true depths of the val frames."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from mapfree.data.dataset import MapFreePairs
from mapfree.data.items import views
from mapfree.depth_prior.patches import patch_average
from mapfree.evaluation.depth_metrics import DepthAccuracy, depth_accuracy
from mapfree.models.mickey import MicKey


class DepthFrame(NamedTuple):
    """A frame's (3, H, W) image, its (H, W) true depth in metres and its `scene/frame` key."""

    image: torch.Tensor
    depth: torch.Tensor
    key: str


def frames_with_depth(data_root: str | Path, split: str, resize: tuple[int, int] | None) -> list[DepthFrame]:
    """Every reference and benchmark query of a split with its true depth, each frame once."""
    dataset = MapFreePairs(data_root, split, resize=resize, depth_suffix="depth")
    seen: set[tuple[str, str]] = set()
    frames = []
    for i in range(len(dataset)):
        item = dataset[i]
        for view in views(item):
            key = (item["scene"], view["frame"])
            if key not in seen:
                seen.add(key)
                frames.append(DepthFrame(view["image"], view["depth"], "/".join(key)))
    return frames


@torch.inference_mode()
def predicted_depth_accuracy(model: MicKey, frames: list[DepthFrame],
                             batch_size: int = 8) -> tuple[DepthAccuracy, list[np.ndarray]]:
    """AbsRel / delta1 of the model's patch depths against patch means of the true depth.

    Returns the accuracy over all frames and the predicted (h, w) depth grids (for figures).
    """
    model.eval()
    predicted, truth, grids = [], [], []
    for start in range(0, len(frames), batch_size):
        chunk = frames[start : start + batch_size]
        feats = model.extract(torch.stack([frame.image for frame in chunk]).to(model.device))
        h, w = feats.grid
        pred = feats.depth.float().cpu().reshape(-1, h, w)
        target = patch_average(torch.stack([frame.depth for frame in chunk]))
        predicted.append(pred.numpy().ravel())
        truth.append(target.numpy().ravel())
        grids.extend(pred.numpy())
    return depth_accuracy(np.concatenate(predicted), np.concatenate(truth)), grids
