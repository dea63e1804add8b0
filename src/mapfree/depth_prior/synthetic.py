"""Offline teachers for the synthetic dataset: rendered depth with the errors of a monocular network.

The relative kind outputs s * (inverse depth) + t with an unknown per-frame scale s and shift
t, like Depth Anything's affine-invariant output; the metric kind outputs metres with a global
scale error. Both blur across depth edges (foreground bleeds into background), carry a smooth
multiplicative error field and per-pixel noise. Sky has zero inverse depth for the relative
kind and no depth (NaN) for the metric kind. The errors of a frame depend only on the seed and
the frame's name, so reruns, resumed runs and any sharding give identical targets.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch

from mapfree.data.images import read_depth
from mapfree.depth_prior.frames import FrameRef
from mapfree.depth_prior.meta import METRIC_DEPTH, RELATIVE_INVERSE_DEPTH
from mapfree.depth_prior.teacher import Teacher


@dataclass(frozen=True)
class MonocularErrors:
    """Error model; lengths are fractions of the image width."""

    blur_sigma: float = 0.006
    field_std: float = 0.08
    """log-std of the smooth multiplicative error (a 4x4 control grid, bicubically upsampled)"""
    noise_std: float = 0.02
    scale_range: tuple[float, float] = (0.5, 50.0)
    """relative kind: scale s drawn log-uniformly from this range"""
    max_shift: float = 0.3
    """relative kind: shift t up to this fraction of the median scaled inverse depth"""
    metric_scale_std: float = 0.1
    """metric kind: log-std of the global scale error"""
    seed: int = 0


def simulate(depth: np.ndarray, metric: bool, errors: MonocularErrors, key: str) -> np.ndarray:
    """A teacher's (H, W) float32 map from rendered metres (NaN = sky), deterministic in (seed, key)."""
    rng = np.random.default_rng([errors.seed, zlib.crc32(key.encode())])
    h, w = depth.shape
    sky = ~np.isfinite(depth)
    inverse = np.where(sky, 0.0, 1.0 / np.where(sky, 1.0, depth)).astype(np.float32)
    inverse = cv2.GaussianBlur(inverse, (0, 0), errors.blur_sigma * w, borderType=cv2.BORDER_REFLECT)
    field = rng.normal(0.0, errors.field_std, (4, 4)).astype(np.float32)
    inverse *= np.exp(cv2.resize(field, (w, h), interpolation=cv2.INTER_CUBIC))
    inverse *= np.clip(1.0 + rng.normal(0.0, errors.noise_std, (h, w)), 0.5, None).astype(np.float32)
    if metric:
        scale = np.exp(rng.normal(0.0, errors.metric_scale_std))
        out = np.full((h, w), np.nan, np.float32)
        keep = ~sky & (inverse > 0)
        out[keep] = scale / inverse[keep]
        return out
    lo, hi = np.log(errors.scale_range)
    scale = np.exp(rng.uniform(lo, hi))
    ground = inverse[~sky]
    median = float(np.median(ground)) if ground.size else 1.0
    shift = rng.uniform(0.0, errors.max_shift) * scale * median
    return (scale * inverse + shift).astype(np.float32)


@dataclass(frozen=True)
class SyntheticReader:
    """Loader-side half: read `frame_NNNNN.depth.png` at MicKey's size and add the errors."""

    metric: bool
    errors: MonocularErrors

    def __call__(self, ref: FrameRef, size: tuple[int, int]) -> np.ndarray:
        return simulate(read_depth(ref.depth_path, size), self.metric, self.errors, ref.key)


class SyntheticTeacher(Teacher):
    """`synthetic` (relative inverse depth) or `synthetic-metric` (metres); needs no network."""

    def __init__(self, metric: bool = False, errors: MonocularErrors = MonocularErrors()):
        self.name = "synthetic-metric" if metric else "synthetic"
        self.quantity = METRIC_DEPTH if metric else RELATIVE_INVERSE_DEPTH
        self.allows_missing = metric
        self.errors = errors
        self.reader = SyntheticReader(metric, errors)

    def config(self) -> dict[str, Any]:
        return asdict(self.errors)

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float()
