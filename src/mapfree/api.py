"""A few lines from two images to a metric relative pose with MicKey.

    model = mapfree.MicKey.from_pretrained("mickey.ckpt", dinov2_weights="dinov2_vitl14_pretrain.pth")
    result = mapfree.estimate_pose(model, "im0.jpg", "im1.jpg", K0, K1)
    result.R, result.t, result.confidence      # a MicKeyPose: a RelativePose with MicKey's outputs

Intrinsics are 3x3 matrices (NumPy or torch) or :class:`mapfree.geometry.camera.Camera` tuples
(whose image size must be the image's own), checked against the image (:func:`check_camera_fits`).

Images are RGB; they may be paths, (H, W, 3) uint8 arrays (or float arrays in [0, 1]) or
(3, H, W) float tensors in [0, 1]. Images and intrinsics are checked before the network runs
(:func:`check_image`, :func:`check_intrinsics`): a wrong shape, dtype or value range, or a K that
is not an upper-triangular pinhole matrix with positive focal lengths, is an InputError saying
what was expected. An image without texture (pixel standard deviation under one grey level, e.g.
all black) gives "no estimate". MicKey crops images at the right/bottom to multiples of 14
(pixel coordinates and intrinsics are unchanged by that crop). Resizing follows the dataset
loader (area averaging when shrinking, bilinear otherwise; :mod:`mapfree.data.preprocess`) with
pixel-centre-correct intrinsics.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from mapfree.data.errors import DataFormatError
from mapfree.data.images import read_image
from mapfree.data.preprocess import model_input_size, prepare_view
from mapfree.errors import InputError, decode_utf8
from mapfree.geometry.camera import Camera, intrinsics_matrix, principal_point_outside
from mapfree.models.backbone import PATCH_SIZE
from mapfree.models.mickey import Features, MatchMatrix, MicKey
from mapfree.models.pose import MicKeyPose, mickey_poses, solve_mickey_poses
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig
from mapfree.robust.result import RelativePose

ImageLike = str | Path | np.ndarray | torch.Tensor
CameraLike = np.ndarray | torch.Tensor | Camera
"""Intrinsics (3, 3) or (B, 3, 3), or a Camera holding them."""

MIN_IMAGE_STD = 1.0 / 255.0
"""Images whose pixel values vary less than one 8-bit grey level (std, in [0, 1] units) have no
texture to match: their pairs are "no estimate"."""

_RANGE_TOLERANCE = 1e-3
"""Float images may exceed [0, 1] by this much (interpolation rounding)."""


def check_intrinsics(K: np.ndarray | torch.Tensor, name: str = "K", batch: int | None = None) -> np.ndarray:
    """K as float64 (3, 3) or (B, 3, 3) after checking it is a pinhole matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]].

    InputError when the shape is wrong (or the batch differs from `batch`), a value is not finite,
    a focal length is not positive, or the lower triangle is not [0, 0, 1] (e.g. a transposed K).
    """
    K = K.detach().cpu().numpy() if isinstance(K, torch.Tensor) else np.asarray(K)
    if K.shape[-2:] != (3, 3) or K.ndim not in (2, 3) or (K.ndim == 3 and batch is not None and len(K) != batch):
        expected = "(3, 3)" if batch is None else f"(3, 3) or ({batch}, 3, 3)"
        raise InputError(f"{name} must be a {expected} intrinsics matrix, got shape {K.shape}")
    if not np.issubdtype(K.dtype, np.number):
        raise InputError(f"{name} must hold numbers, got dtype {K.dtype}")
    K = K.astype(np.float64)
    if not np.isfinite(K).all():
        raise InputError(f"{name} holds non-finite values: {K.tolist()}")
    if not (K[..., 0, 0] > 0).all() or not (K[..., 1, 1] > 0).all():
        raise InputError(f"{name}: focal lengths K[0, 0] and K[1, 1] must be positive, got {K.tolist()}")
    lower = np.stack([K[..., 1, 0], K[..., 2, 0], K[..., 2, 1], K[..., 2, 2] - 1.0], -1)
    if np.abs(lower).max() > 1e-6:
        raise InputError(f"{name} must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] (is it transposed?), got {K.tolist()}")
    return K


def check_camera_fits(K: np.ndarray, width: int, height: int, name: str = "K", size: np.ndarray | None = None
                      ) -> None:
    """InputError unless checked intrinsics K (3, 3) or (B, 3, 3) fit a `width` x `height` image.

    A Camera's `size` states K's resolution: it must be the image's, and the principal point must lie inside the
    image (:func:`~mapfree.geometry.camera.principal_point_outside`). A bare K states none, so its principal
    point must also lie within a quarter of the image from the centre: a K made for another resolution (twice
    it puts the point in a corner) is refused rather than silently giving wrong metric poses.
    """
    image = np.array([width, height], dtype=np.float64)
    if size is not None and np.any(np.asarray(size) != image):
        sw, sh = np.asarray(size).reshape(-1, 2)[0]
        raise InputError(f"{name} is a camera of {sw:g}x{sh:g} images, the image is {width}x{height}: resize the "
                         f"image, or scale the camera (Camera.resized)")
    point = np.stack([K[..., 0, 2], K[..., 1, 2]], -1).reshape(-1, 2)
    outside = principal_point_outside(K, image).reshape(-1)
    off_centre = np.any(np.abs(point - image / 2) > image / 4, axis=-1) if size is None else outside
    if np.any(off_centre):
        cx, cy = point[int(np.argmax(off_centre))]
        where = "outside" if np.any(outside) else "far from the centre of"
        raise InputError(f"{name}: principal point ({cx:g}, {cy:g}) lies {where} the {width}x{height} image; is "
                         "K made for another resolution? Scale it to the image, or pass a Camera of the image's size")


def check_image(image: np.ndarray | torch.Tensor, name: str = "image", batched: bool = False) -> None:
    """InputError unless `image` is an (H, W, 3) uint8 or float array, or a (3, H, W) float tensor
    ((B, 3, H, W) when `batched`), at least one 14x14 patch, float values finite and in [0, 1]."""
    if isinstance(image, torch.Tensor):
        channels_first = image.ndim == (4 if batched else 3) and image.shape[-3] == 3
        expected = "(B, 3, H, W) float tensor" if batched else "(3, H, W) float tensor or (H, W, 3) array"
        if not channels_first:
            raise InputError(f"{name} must be a {expected}, got a tensor of shape {tuple(image.shape)}")
        if not image.is_floating_point():
            raise InputError(f"{name} must be a float tensor in [0, 1], got {image.dtype} (divide uint8 by 255)")
        (h, w), low, high = image.shape[-2:], image.min().item(), image.max().item()
    elif isinstance(image, np.ndarray) and not batched:
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"{name} must be an (H, W, 3) RGB array, got shape {image.shape}")
        if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
            raise InputError(f"{name} must be uint8 (0-255) or float (0-1), got dtype {image.dtype}")
        (h, w), low, high = image.shape[:2], float(image.min()), float(image.max())
        if image.dtype == np.uint8:
            low, high = low / 255.0, high / 255.0
    else:
        raise InputError(f"{name} must be a path, an (H, W, 3) array or a (3, H, W) tensor, got {type(image).__name__}")
    if min(h, w) < PATCH_SIZE:
        raise InputError(f"{name} is {w}x{h} pixels, smaller than one {PATCH_SIZE}x{PATCH_SIZE} patch")
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputError(f"{name} holds non-finite values")
    if low < -_RANGE_TOLERANCE or high > 1.0 + _RANGE_TOLERANCE:
        raise InputError(f"{name}: float images must lie in [0, 1], got values in [{low:g}, {high:g}] "
                         "(pass uint8 pixels, or divide by 255)")


def textured(images: torch.Tensor) -> torch.Tensor:
    """(B,) whether each image of a (B, 3, H, W) batch varies by at least MIN_IMAGE_STD."""
    return images.flatten(1).float().std(dim=1) >= MIN_IMAGE_STD


def _as_array(image: ImageLike) -> np.ndarray | torch.Tensor:
    return read_image(image) if isinstance(image, (str, Path)) else image


def read_intrinsics_for(path: str | Path, image: str | Path) -> Camera:
    """The camera on the line of an `name fx fy cx cy width height` file that names `image`.

    Names may be plain file names (`im0.jpg`) or relative paths; the image's path is matched by
    its full text first, then by its trailing components. Raises DataFormatError otherwise.
    """
    path, image = Path(path), Path(image)
    if not path.is_file():
        raise DataFormatError(path, "intrinsics file not found")
    for lineno, raw in enumerate(decode_utf8(path.read_bytes(), path).splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        name = Path(fields[0])
        if name != image and image.parts[-len(name.parts):] != name.parts:
            continue
        if len(fields) != 7:
            raise DataFormatError(path, f"expected 7 fields (name fx fy cx cy width height), got {len(fields)}",
                                  lineno)
        try:
            fx, fy, cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise DataFormatError(path, f"unparsable number in {fields[1:]}", lineno) from None
        if not (np.isfinite([fx, fy, cx, cy, w, h]).all() and fx > 0 and fy > 0 and w >= 1 and h >= 1
                and w == int(w) and h == int(h)):
            raise DataFormatError(path, "focal lengths must be positive and finite, image size positive integers",
                                  lineno)
        if principal_point_outside(intrinsics_matrix(fx, fy, cx, cy), np.array([w, h])):
            raise DataFormatError(path, f"principal point ({cx:g}, {cy:g}) lies outside the {w:g}x{h:g} image",
                                  lineno)
        return Camera.from_matrix(intrinsics_matrix(fx, fy, cx, cy), int(w), int(h))
    raise DataFormatError(path, f"no line for image {image.name!r}")


@torch.inference_mode()
def estimate_poses(
    model: MicKey,
    images0: torch.Tensor,
    images1: torch.Tensor,
    K0: CameraLike,
    K1: CameraLike,
    solver: ProcrustesRansacConfig | None = None,
    generator: torch.Generator | None = None,
) -> list[MicKeyPose]:
    """Batched poses for (B, 3, H, W) float image batches in [0, 1] and (B, 3, 3) or (3, 3) intrinsics
    (or cameras).

    Inputs are checked first (InputError). Both images of every pair go through the backbone in
    one batch when their sizes agree, and the probabilistic Procrustes RANSAC (`solver`, default:
    the released settings) runs batched over the pairs; `generator` (on the model's device) makes
    its sampling reproducible. A pair with an untextured image is "no estimate".
    """
    check_image(images0, "images0", batched=True)
    check_image(images1, "images1", batched=True)
    if len(images0) != len(images1):
        raise InputError(f"images0 and images1 must hold as many images, got {len(images0)} and {len(images1)}")
    camera0, camera1 = _camera(K0, images0, "K0"), _camera(K1, images1, "K1")
    device = model.device
    feats0, feats1, match_matrix = model(images0.to(device), images1.to(device))
    return poses_from_features(feats0, feats1, match_matrix, camera0, camera1, textured(images0) & textured(images1),
                               solver, generator)


def _matrix(K: CameraLike) -> np.ndarray | torch.Tensor:
    """The intrinsics of a matrix or a Camera."""
    return K.K if isinstance(K, Camera) else K


def _camera(K: CameraLike, images: torch.Tensor, name: str) -> Camera:
    """The NumPy camera of a (B, 3, H, W) image batch from its checked intrinsics (:func:`check_intrinsics`,
    :func:`check_camera_fits`)."""
    matrix = check_intrinsics(_matrix(K), name, len(images))
    check_camera_fits(matrix, images.shape[-1], images.shape[-2], name, _stated_size(K))
    return Camera(matrix, np.array(images.shape[:-3:-1], dtype=np.float64))


def _stated_size(K: CameraLike) -> np.ndarray | None:
    """The image size a Camera states, None for a bare matrix."""
    if not isinstance(K, Camera):
        return None
    return K.size.detach().cpu().numpy() if isinstance(K.size, torch.Tensor) else np.asarray(K.size)


def poses_from_features(
    feats0: Features,
    feats1: Features,
    match_matrix: MatchMatrix,
    camera0: Camera,
    camera1: Camera,
    usable: torch.Tensor,
    solver: ProcrustesRansacConfig | None = None,
    generator: torch.Generator | None = None,
) -> list[MicKeyPose]:
    """The poses of B pairs from MicKey's extracted and matched features (:func:`estimate_poses` after the
    network) and the cameras of the input images; a pair whose (B,) `usable` is False (an untextured image)
    is "no estimate"."""
    fit = solve_mickey_poses(feats0, feats1, match_matrix, camera0, camera1, solver, generator)
    poses = mickey_poses(fit, feats0, feats1, match_matrix)
    return [pose if ok else _no_estimate(pose) for pose, ok in zip(poses, usable.tolist())]


def _no_estimate(pose: MicKeyPose) -> MicKeyPose:
    """The pose with its estimate replaced by the failure value (MicKey's outputs kept)."""
    failure = RelativePose.failure(len(pose.inliers))
    return replace(pose, R=failure.R, t=failure.t, inliers=failure.inliers, confidence=failure.confidence)


def estimate_pose(
    model: MicKey,
    image0: ImageLike,
    image1: ImageLike,
    K0: CameraLike,
    K1: CameraLike,
    resize_to: tuple[int, int] | None = None,
    solver: ProcrustesRansacConfig | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
) -> MicKeyPose:
    """Metric pose of camera 1 relative to camera 0 from two images and their 3x3 intrinsics (or cameras).

    `resize_to` = (W, H) resizes both images (and intrinsics) first, by the dataset's rule; None: to the size the
    model was trained at (`model.input_size`; the images as they are for the released model). The RANSAC samples
    from `generator`, else from one seeded with `seed` (as `mapfree pose --seed`, whose result this then is).
    """
    natives = []
    for i, (image, K) in enumerate(((image0, K0), (image1, K1))):
        image = _as_array(image)
        check_image(image, f"image{i}")
        matrix = check_intrinsics(_matrix(K), f"K{i}")
        if matrix.ndim != 2:
            raise InputError(f"K{i} must be one (3, 3) intrinsics matrix for a single pair, got shape {matrix.shape}"
                             " (estimate_poses takes batches)")
        h, w = image.shape[-2:] if isinstance(image, torch.Tensor) else image.shape[:2]
        check_camera_fits(matrix, w, h, f"K{i}", _stated_size(K))
        natives.append((image, Camera.from_matrix(matrix, w, h)))
    size = resize_to or model_input_size(model.input_size, [(c.width, c.height) for _, c in natives], "the images")
    (im0, camera0), (im1, camera1) = (prepare_view(image, camera, size) for image, camera in natives)
    generator = generator or torch.Generator(model.device).manual_seed(seed)
    return estimate_poses(model, im0[None], im1[None], camera0, camera1, solver, generator)[0]
