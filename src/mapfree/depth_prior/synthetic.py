"""Offline teachers for the synthetic dataset: rendered depth with the errors of a monocular network.

The model, applied to the rendered metres `z` of a frame (NaN = sky), every part deterministic in
(seed, frame key) so reruns, resumed runs and any sharding give identical targets:

1. range compression, the same in every frame: depth `z_ref (z / z_ref) ** far_gamma` (gamma < 1 pulls
   depths beyond `z_ref` in and pushes nearer ones out, as a network regressing towards the depths it
   was trained on), a curve no per-frame scale or affine fit removes;
2. a slant bias, the same sign in every frame: surfaces seen obliquely (the ground, receding walls)
   come out nearer than fronto-parallel ones, by up to `exp(slant_bias)` in inverse depth; the slant
   comes from the depth map itself (see `slant`), so the model needs nothing but the depth;
3. edge bleeding: a power mean (exponent `bleed_power`) over a Gaussian window of `bleed_px` pixels in
   inverse depth, so the nearer side of an edge spreads into the farther one over about 2 * `bleed_px`
   pixels (5 px: about 0.7 of MicKey's 14-px patch) while the farther side barely enters the nearer;
4. a smooth random multiplicative field per frame (4x4 control grid) and mild per-pixel noise;
5. relative kind: `s * inverse + t`, an unknown per-frame scale and shift (Depth Anything's affine-
   invariant output); sky is zero inverse depth, i.e. the shift `t`, the frame's minimum;
   metric kind: metres times a dataset-wide scale `metric_scale` and a per-frame log-normal scale;
   sky has no depth (NaN).

`CALIBRATED` (the `synthetic` and `synthetic-metric` teachers) is set to Depth Anything's published
accuracy; `NEAR_TRUTH` (`synthetic-near-truth`) keeps the earlier, kind model.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
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
    """Error model of a monocular network (see the module doc); the defaults are the calibrated ones."""

    far_gamma: float = 0.85
    """exponent of the compression of depth towards `reference_depth` (1: none)"""
    reference_depth: float = 10.0
    """metres the compression leaves unchanged: farther depths are pulled in, nearer ones pushed away"""
    slant_bias: float = 0.2
    """log inverse-depth gain of a surface seen edge-on over a fronto-parallel one (0: none)"""
    bleed_px: float = 5.0
    """standard deviation (pixels of the map MicKey sees) of the window edges bleed over"""
    bleed_power: float = 4.0
    """exponent of the power mean in that window: 1 is a plain blur, larger lets the nearer side win"""
    field_std: float = 0.1
    """log-std of the smooth multiplicative error (a 4x4 control grid, bicubically upsampled)"""
    noise_std: float = 0.03
    """per-pixel multiplicative noise"""
    scale_range: tuple[float, float] = (0.5, 50.0)
    """relative kind: scale s drawn log-uniformly from this range"""
    max_shift: float = 0.3
    """relative kind: shift t up to this fraction of the median scaled inverse depth"""
    metric_scale: float = 1.3
    """metric kind: dataset-wide scale factor on depth, the same in every frame"""
    metric_scale_std: float = 0.15
    """metric kind: log-std of each frame's further scale error"""
    seed: int = 0


CALIBRATED = MonocularErrors()
"""The `synthetic` and `synthetic-metric` teachers' model, calibrated against Depth Anything V1's published
accuracy (AbsRel / delta1; LiheYoung/Depth-Anything README and metric_depth/README):

- relative, zero-shot, ViT-L, after per-image affine alignment: KITTI 0.076 / 0.947, DDAD 0.230 / 0.789,
  ETH3D 0.127 / 0.882, DIODE 0.066 / 0.952;
- metric (fine-tuned on KITTI), zero-shot: Virtual KITTI 2 0.085 / 0.913, DIODE Outdoor 0.794 / 0.288.

Relative target: ETH3D, about 0.10-0.15 / 0.85-0.92 after per-frame affine alignment in inverse depth.
ETH3D's hand-held photos of buildings and squares are the closest published set to Map-free's phone
photos of outdoor landmarks (KITTI and DDAD are driving scenes, DIODE mixes indoor and outdoor scans).
Metric target: between Virtual KITTI 2 (the training domain) and DIODE Outdoor (off it): raw about
0.25-0.45 / 0.35-0.6, and about 0.10-0.15 once each frame's median scale is fixed.

Why the dataset-wide scale over-estimates (`metric_scale` 1.3): a metric network reads distance from
apparent size at the focal length of its training camera relative to the image (Depth Anything resizes
the shorter side to 518 px): KITTI's 721 px over its 375-px shorter side, about 1.9. A phone's portrait
frame has roughly one shorter side, so objects look larger than at the same distance in KITTI and come
out farther, by up to about 1.9. DIODE Outdoor (about 887 / 768 = 1.15) agrees: with delta1 0.288 an
AbsRel of 0.794 cannot come from under-estimates alone (the other 71% of pixels would need a mean error
above 1). 1.3 is a milder error of that sign, landing between the two published sets.
"""
NEAR_TRUTH = MonocularErrors(far_gamma=1.0, slant_bias=0.0, bleed_px=1.5, bleed_power=1.0, field_std=0.08,
                             noise_std=0.02, metric_scale=1.0, metric_scale_std=0.1)
"""The `synthetic-near-truth` teacher's model: a slight blur and unbiased noise, no systematic error."""


def true_depth_path(ref: FrameRef, depth_root: str | Path | None = None) -> Path:
    """The frame's `frame_NNNNN.depth.png`: beside the frame, or at the same place under `depth_root`
    (a Map-free-layout root: `SPLIT/SCENE/seqK/`), e.g. held-out truth kept apart from the dataset."""
    if depth_root is None:
        return ref.depth_path
    split = ref.scene_root.parent.name
    return Path(depth_root) / split / ref.scene / ref.frame.replace(".jpg", ".depth.png")


def slant(depth: np.ndarray, focal: float) -> np.ndarray:
    """(H, W) sine of the angle between the surface normal and the viewing ray, in [0, 1), from metres.

    tan(angle) = focal * |grad log z| with the gradient in pixels; sky (NaN) takes the farthest depth so
    the horizon is not an edge-on surface, and depth edges come out as (thin) edge-on bands.
    """
    finite = np.isfinite(depth)
    far = float(np.max(depth[finite])) if finite.any() else 1.0
    log_depth = np.log(np.where(finite, depth, far)).astype(np.float32)
    gx = cv2.Sobel(log_depth, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8
    gy = cv2.Sobel(log_depth, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8
    tangent = focal * np.hypot(gx, gy)
    return tangent / np.sqrt(1.0 + tangent**2)


def bleed(inverse: np.ndarray, sigma: float, power: float) -> np.ndarray:
    """Power mean of non-negative inverse depth over a Gaussian window: nearer surfaces spread outwards."""
    if sigma <= 0:
        return inverse
    top = float(inverse.max())
    if top <= 0:
        return inverse
    x = (inverse / top) ** power
    x = cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return (top * np.maximum(x, 0.0) ** (1.0 / power)).astype(np.float32)


def simulate(depth: np.ndarray, metric: bool, errors: MonocularErrors, key: str) -> np.ndarray:
    """A teacher's (H, W) float32 map from rendered metres (NaN = sky), deterministic in (seed, key).

    The slant takes the image width as the focal length (about a phone's), so no intrinsics are needed.
    """
    rng = np.random.default_rng([errors.seed, zlib.crc32(key.encode())])
    h, w = depth.shape
    sky = ~np.isfinite(depth)
    z = np.where(sky, 1.0, depth).astype(np.float32)
    z = errors.reference_depth * (z / errors.reference_depth) ** errors.far_gamma
    inverse = np.where(sky, 0.0, 1.0 / z).astype(np.float32)
    if errors.slant_bias:
        inverse *= np.exp(errors.slant_bias * slant(depth, focal=float(w))).astype(np.float32)
    inverse = bleed(inverse, errors.bleed_px, errors.bleed_power)
    field = rng.normal(0.0, errors.field_std, (4, 4)).astype(np.float32)
    inverse *= np.exp(cv2.resize(field, (w, h), interpolation=cv2.INTER_CUBIC))
    inverse *= np.clip(1.0 + rng.normal(0.0, errors.noise_std, (h, w)), 0.5, None).astype(np.float32)
    if metric:
        scale = errors.metric_scale * np.exp(rng.normal(0.0, errors.metric_scale_std))
        out = np.full((h, w), np.nan, np.float32)
        keep = ~sky & (inverse > 0)
        out[keep] = scale / inverse[keep]
        return out
    inverse[sky] = 0.0
    lo, hi = np.log(errors.scale_range)
    scale = np.exp(rng.uniform(lo, hi))
    ground = inverse[~sky]
    median = float(np.median(ground)) if ground.size else 1.0
    shift = rng.uniform(0.0, errors.max_shift) * scale * median
    return (scale * inverse + shift).astype(np.float32)


@dataclass(frozen=True)
class SyntheticReader:
    """Loader-side half: read the frame's rendered depth at MicKey's size and add the errors.

    The depth is `frame_NNNNN.depth.png` beside the frame, or under `depth_root` (see `true_depth_path`).
    """

    metric: bool
    errors: MonocularErrors
    depth_root: Path | None = None

    def __call__(self, ref: FrameRef, size: tuple[int, int]) -> np.ndarray:
        depth = read_depth(true_depth_path(ref, self.depth_root), size)
        return simulate(depth, self.metric, self.errors, ref.key)


class SyntheticTeacher(Teacher):
    """A teacher made from rendered depth (no network): relative inverse depth or metres, by `metric`."""

    def __init__(self, metric: bool = False, errors: MonocularErrors = CALIBRATED, name: str | None = None,
                 depth_root: str | Path | None = None):
        self.name = name or ("synthetic-metric" if metric else "synthetic")
        self.quantity = METRIC_DEPTH if metric else RELATIVE_INVERSE_DEPTH
        self.allows_missing = metric
        self.errors = errors
        self.depth_root = None if depth_root is None else Path(depth_root).resolve()
        self.reader = SyntheticReader(metric, errors, self.depth_root)

    def config(self) -> dict[str, Any]:
        config = asdict(self.errors)
        if self.depth_root is not None:
            config["depth_root"] = str(self.depth_root)
        return config

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float()
