"""Offline teachers for the synthetic dataset: rendered depth with the errors of a monocular network.

A network's errors follow what the image shows and repeat whenever the same place is seen again; the
model therefore reads the frame's RGB image (at the size MicKey sees) beside its rendered metres `z`
(NaN = sky), and every content-keyed part is a fixed function of the pixels, the same in every view of a
surface. In log inverse depth, in this order:

1. range compression, the same in every frame: depth `z_ref (z / z_ref) ** far_gamma` (gamma < 1 pulls
   depths beyond `z_ref` in and pushes nearer ones out, as a network regressing towards the depths it
   was trained on); the sky is the network's own far value `sky_depth` (see "Sky" below);
2. texture and shading read as relief: the local luminance contrast (its blur over `relief_px` minus its
   blur over a window `RELIEF_SURROUND` times wider) times `texture_relief`, so brighter blobs come out
   nearer and darker ones farther, on every view (a band-pass at about MicKey's patch size, so it does
   not average out within a patch);
3. a colour-dependent bias: the local chroma projected on a fixed direction (drawn once from the seed,
   as a trained network's weights are fixed), through tanh, times `colour_bias`: materials of one colour
   are misread the same way wherever they are seen;
4. low texture flattened: where the image's gradient energy is weak, depth is pulled towards its blur over
   `flat_px` (a locally planar guess), by up to `flatten`;
5. edge bleeding, wider where the image contrast is low: a power mean (exponent `bleed_power`) over a
   Gaussian window of `bleed_px` pixels at strong image edges and `soft_bleed_px` where the image shows
   none, so the nearer side of a depth edge spreads into the farther one and low-contrast edges bleed most;
6. a slant bias, the same sign in every frame: surfaces the teacher sees obliquely (the slant of its own
   bled map, not of the truth) come out nearer, by up to `exp(slant_bias)` in inverse depth;
7. a small per-frame part, keyed by (seed, frame): a smooth multiplicative field (4x4 control grid) and
   per-pixel noise, both small next to the content-keyed parts; the metric kind's per-frame scale error;
8. relative kind: `s * inverse + t`, an unknown per-frame scale and shift (Depth Anything's affine-
   invariant output); metric kind: metres times a dataset-wide scale `metric_scale` and the frame's
   scale, clipped to `max_depth`.

Sky: teachers never mask; the sky gets the teacher's own output. Here it enters as a finite far depth
`sky_depth` and goes through every step above (relief, colour, flattening, bleeding into the skyline,
noise), so no exact truth mask reaches the output: the metric kind gives it a far depth in metres within
`max_depth`, the relative kind a near-zero disparity. The real teachers follow the same rule (see
`mapfree.depth_prior.depth_anything`).

Everything is float32 NumPy/OpenCV with fixed operations: the same inputs give bit-identical maps
whatever the thread count, and reruns, resumed runs and any sharding give identical targets.

`CALIBRATED` (the `synthetic` and `synthetic-metric` teachers) is set to Depth Anything's published
accuracy; `FRAME_KEYED` keeps the earlier model whose errors were keyed by frame and truth (for the
cross-view comparison); `NEAR_TRUTH` (`synthetic-near-truth`) the earlier, kind model.
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
from mapfree.depth_prior.depth_anything import read_rgb
from mapfree.depth_prior.frames import FrameRef
from mapfree.depth_prior.meta import METRIC_DEPTH, RELATIVE_INVERSE_DEPTH
from mapfree.depth_prior.teacher import Teacher

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
"""RGB weights of the luminance the image cues are computed on."""
RELIEF_SURROUND = 4.0
"""The relief compares the luminance over `relief_px` with that over this many times the window."""
COLOUR_KEY = 0xC010
"""Stream of the seed's random numbers that draws the colour-bias direction."""


@dataclass(frozen=True)
class MonocularErrors:
    """Error model of a monocular network (see the module doc); the defaults are `FRAME_KEYED`, the earlier model."""

    far_gamma: float = 0.85
    """exponent of the compression of depth towards `reference_depth` (1: none)"""
    reference_depth: float = 10.0
    """metres the compression leaves unchanged: farther depths are pulled in, nearer ones pushed away"""
    sky_depth: float = 60.0
    """metres (after the compression, before the metric scale) the network gives the sky"""
    texture_relief: float = 0.0
    """log inverse-depth change per unit of local luminance contrast (0..1): shading read as relief"""
    relief_px: float = 4.0
    """standard deviation (pixels) of the blob the contrast is measured at (against `RELIEF_SURROUND` times it)"""
    colour_bias: float = 0.0
    """largest log inverse-depth bias of a colour (tanh of its chroma along a fixed direction)"""
    colour_px: float = 2.0
    """standard deviation (pixels) of the blur the local colour is read through"""
    flatten: float = 0.0
    """share (0..1) of the way weakly textured depth is pulled towards its blur over `flat_px`"""
    flat_px: float = 12.0
    """standard deviation (pixels) of that blur and of the window the texture energy is measured over"""
    flat_contrast: float = 0.02
    """luminance gradient (per pixel) below which a region counts as weakly textured"""
    slant_bias: float = 0.2
    """log inverse-depth gain of a surface seen edge-on over a fronto-parallel one (0: none)"""
    bleed_px: float = 5.0
    """standard deviation (pixels of the map MicKey sees) of the window edges bleed over at strong image edges"""
    soft_bleed_px: float = 5.0
    """the same where the image shows no edge: low-contrast depth edges bleed over this wider window"""
    edge_contrast: float = 0.05
    """luminance gradient (per pixel) at which an edge is half way between the two windows"""
    bleed_power: float = 4.0
    """exponent of the power mean in that window: 1 is a plain blur, larger lets the nearer side win"""
    field_std: float = 0.1
    """log-std of the smooth per-frame multiplicative error (a 4x4 control grid, bicubically upsampled)"""
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
    max_depth: float = 80.0
    """metric kind: the largest depth the network gives (Depth Anything V2 Metric Outdoor: 80 m)"""
    seed: int = 0


FRAME_KEYED = MonocularErrors()
"""The earlier calibrated model, for comparison: no content-keyed part, errors keyed by truth and frame."""

CALIBRATED = MonocularErrors(far_gamma=0.87, texture_relief=1.2, colour_bias=0.15, flatten=0.5, slant_bias=0.15,
                             bleed_px=2.5, soft_bleed_px=6.0, field_std=0.03, noise_std=0.015, metric_scale_std=0.1)
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

Most of the error budget is content-keyed (relief, colour, flattening, contrast-dependent bleeding); the
per-frame field and noise are a few percent, and the per-frame metric scale (log-std 0.1) is the one
sizeable per-frame term, which the median-scaled figures remove.
"""
NEAR_TRUTH = MonocularErrors(far_gamma=1.0, slant_bias=0.0, bleed_px=1.5, soft_bleed_px=1.5, bleed_power=1.0,
                             field_std=0.05, noise_std=0.01, metric_scale=1.0, metric_scale_std=0.1)
"""The `synthetic-near-truth` teacher's model: a slight blur and unbiased noise, no systematic error. Its noise
is below the earlier model's (0.08 / 0.02) because the skyline patches now average in the sky's far depth."""


def true_depth_path(ref: FrameRef, depth_root: str | Path | None = None) -> Path:
    """The frame's `frame_NNNNN.depth.png`: beside the frame, or at the same place under `depth_root`
    (a Map-free-layout root: `SPLIT/SCENE/seqK/`), e.g. held-out truth kept apart from the dataset."""
    if depth_root is None:
        return ref.depth_path
    split = ref.scene_root.parent.name
    return Path(depth_root) / split / ref.scene / ref.frame.replace(".jpg", ".depth.png")


def sobel_gradient(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/dx, d/dy) per pixel of a float32 map: the 3x3 Sobel operator / 8, edges replicated, in NumPy with a fixed
    order of operations (OpenCV's Sobel rounds its vertical derivative differently between releases)."""
    p = np.pad(np.asarray(x, np.float32), 1, mode="edge")
    dx, dy = p[:, 2:] - p[:, :-2], p[2:, :] - p[:-2, :]
    gx = (dx[:-2] + 2 * dx[1:-1] + dx[2:]) / np.float32(8)
    gy = (dy[:, :-2] + 2 * dy[:, 1:-1] + dy[:, 2:]) / np.float32(8)
    return gx, gy


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) if sigma > 0 else x


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """(n, 4) weights of the taps at offsets -1, 0, 1, 2 for fractional positions `t` in [0, 1) (Keys' kernel)."""
    d = np.stack([1 + t, t, 1 - t, 2 - t], axis=1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, far)


def _upsample_axis(grid: np.ndarray, size: int, axis: int) -> np.ndarray:
    n = grid.shape[axis]
    source = (np.arange(size) + 0.5) * (n / size) - 0.5  # pixel centres at integers, as everywhere here
    base = np.floor(source).astype(int)
    weights = _cubic_weights(source - base)
    shape = [1] * grid.ndim
    shape[axis] = size
    out = np.zeros(grid.shape[:axis] + (size,) + grid.shape[axis + 1:])
    for k in range(4):  # a fixed order of float64 sums
        out += weights[:, k].reshape(shape) * np.take(grid, np.clip(base + k - 1, 0, n - 1), axis=axis)
    return out


def smooth_field(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A small grid bicubically upsampled to `size` (H, W), edges replicated: what OpenCV's INTER_CUBIC resize
    computes, in float64 NumPy with a fixed order of operations. OpenCV's own resize rounds differently from one
    release to the next (4.10 and 5.1 differ by an ulp), which made the teacher's stores, and so every run trained
    on them, depend on the installed OpenCV."""
    h, w = size
    return _upsample_axis(_upsample_axis(np.asarray(grid, np.float64), h, 0), w, 1)


def slant(depth: np.ndarray, focal: float) -> np.ndarray:
    """(H, W) sine of the angle between the surface normal and the viewing ray, in [0, 1), from finite metres.

    tan(angle) = focal * |grad log z| with the gradient in pixels; depth edges come out as edge-on bands.
    """
    gx, gy = sobel_gradient(np.log(depth).astype(np.float32))
    tangent = focal * np.hypot(gx, gy)
    return tangent / np.sqrt(1.0 + tangent**2)


def bleed(inverse: np.ndarray, sigma: float, power: float) -> np.ndarray:
    """Power mean of non-negative inverse depth over a Gaussian window: nearer surfaces spread outwards."""
    top = float(inverse.max())
    if sigma <= 0 or top <= 0:
        return inverse
    x = _blur((inverse / top) ** power, sigma)
    return (top * np.maximum(x, 0.0) ** (1.0 / power)).astype(np.float32)


def luminance_gradient(luma: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) root-mean-square luminance gradient (per pixel) over a Gaussian window: the local texture or
    edge contrast the network sees."""
    gx, gy = sobel_gradient(luma)
    return np.sqrt(np.maximum(_blur(gx * gx + gy * gy, sigma), 0.0))


def channel_sum(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(H, W) weighted sum of an (H, W, 3) image's channels, in a fixed order (no BLAS: thread-independent)."""
    return image[..., 0] * weights[0] + image[..., 1] * weights[1] + image[..., 2] * weights[2]


def colour_direction(seed: int) -> np.ndarray:
    """(3,) unit chroma direction (orthogonal to grey) the colour bias reads, fixed by the seed."""
    v = np.random.default_rng([seed, COLOUR_KEY]).normal(size=3)
    v -= v.mean()
    return (v / np.linalg.norm(v)).astype(np.float32)


def content_bias(rgb: np.ndarray, luma: np.ndarray, errors: MonocularErrors) -> np.ndarray:
    """(H, W) log inverse-depth error read off the image (float32 RGB in [0, 1] and its luminance): texture and
    shading as relief plus the colour bias."""
    bias = errors.texture_relief * (_blur(luma, errors.relief_px) - _blur(luma, RELIEF_SURROUND * errors.relief_px))
    if errors.colour_bias:
        colour = _blur(rgb, errors.colour_px)
        chroma = channel_sum(colour, colour_direction(errors.seed))  # the direction is orthogonal to grey
        bias += errors.colour_bias * np.tanh(chroma / np.float32(0.1))
    return bias.astype(np.float32)


def flattened(log_inverse: np.ndarray, luma: np.ndarray, errors: MonocularErrors) -> np.ndarray:
    """Log inverse depth pulled towards its blur where the image is weakly textured."""
    if not errors.flatten:
        return log_inverse
    weak = np.exp(-np.square(luminance_gradient(luma, errors.flat_px) / np.float32(errors.flat_contrast)))
    return log_inverse + errors.flatten * weak * (_blur(log_inverse, errors.flat_px) - log_inverse)


def contrast_bleed(inverse: np.ndarray, luma: np.ndarray, errors: MonocularErrors) -> np.ndarray:
    """`bleed` over `bleed_px` at strong image edges, over `soft_bleed_px` where the image shows none."""
    sharp = bleed(inverse, errors.bleed_px, errors.bleed_power)
    if errors.soft_bleed_px == errors.bleed_px:
        return sharp
    soft = bleed(inverse, errors.soft_bleed_px, errors.bleed_power)
    contrast = luminance_gradient(luma, errors.bleed_px)
    strong = contrast / (contrast + np.float32(errors.edge_contrast))
    return (strong * sharp + (1 - strong) * soft).astype(np.float32)


def simulate(depth: np.ndarray, image: np.ndarray, metric: bool, errors: MonocularErrors, key: str) -> np.ndarray:
    """A teacher's (H, W) finite float32 map from rendered metres (NaN = sky) and the (H, W, 3) uint8 RGB image
    of the same frame, deterministic in (image, depth, seed, key); see the module doc for the steps.

    The slant takes the image width as the focal length (about a phone's), so no intrinsics are needed.
    """
    if image.shape[:2] != depth.shape:
        raise ValueError(f"image {image.shape[:2]} and depth {depth.shape} differ in size")
    rng = np.random.default_rng([errors.seed, zlib.crc32(key.encode())])
    h, w = depth.shape
    rgb = image.astype(np.float32) / np.float32(255)
    luma = channel_sum(rgb, LUMA)
    sky = ~np.isfinite(depth)
    z = errors.reference_depth * (np.where(sky, 1.0, depth) / errors.reference_depth) ** errors.far_gamma
    log_inverse = -np.log(np.where(sky, errors.sky_depth, z)).astype(np.float32) + content_bias(rgb, luma, errors)
    inverse = contrast_bleed(np.exp(flattened(log_inverse, luma, errors)), luma, errors)
    if errors.slant_bias:
        inverse *= np.exp(errors.slant_bias * slant(1.0 / inverse, focal=float(w))).astype(np.float32)
    field = rng.normal(0.0, errors.field_std, (4, 4))
    inverse *= np.exp(smooth_field(field, (h, w))).astype(np.float32)
    inverse *= np.clip(1.0 + rng.normal(0.0, errors.noise_std, (h, w)), 0.5, None).astype(np.float32)
    if metric:
        scale = errors.metric_scale * np.exp(rng.normal(0.0, errors.metric_scale_std))
        return np.minimum(scale / inverse, errors.max_depth).astype(np.float32)
    lo, hi = np.log(errors.scale_range)
    scale = np.exp(rng.uniform(lo, hi))
    shift = rng.uniform(0.0, errors.max_shift) * scale * float(np.median(inverse))
    return (scale * inverse + shift).astype(np.float32)


@dataclass(frozen=True)
class SyntheticReader:
    """Loader-side half: read the frame's rendered depth and its image at MicKey's size and add the errors.

    The depth is `frame_NNNNN.depth.png` beside the frame, or under `depth_root` (see `true_depth_path`).
    """

    metric: bool
    errors: MonocularErrors
    depth_root: Path | None = None

    def __call__(self, ref: FrameRef, size: tuple[int, int]) -> np.ndarray:
        depth = read_depth(true_depth_path(ref, self.depth_root), size)
        return simulate(depth, read_rgb(ref, size), self.metric, self.errors, ref.key)


class SyntheticTeacher(Teacher):
    """A teacher made from rendered depth (no network): relative inverse depth or metres, by `metric`."""

    def __init__(self, metric: bool = False, errors: MonocularErrors = CALIBRATED, name: str | None = None,
                 depth_root: str | Path | None = None):
        self.name = name or ("synthetic-metric" if metric else "synthetic")
        self.quantity = METRIC_DEPTH if metric else RELATIVE_INVERSE_DEPTH
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
