"""A few lines from two images to a metric relative pose with MicKey.

    model = mapfree.MicKey.from_pretrained("mickey.ckpt", dinov2_weights="dinov2_vitl14_pretrain.pth")
    result = mapfree.estimate_pose(model, "im0.jpg", "im1.jpg", K0, K1)
    result.R, result.t, result.confidence      # a MicKeyPose: a RelativePose with MicKey's outputs

Images are RGB; they may be paths, (H, W, 3) uint8 arrays or (3, H, W) float tensors in [0, 1].
MicKey crops them at the right/bottom to multiples of 14 (pixel coordinates and intrinsics are
unchanged by that crop). Resizing follows the dataset loader (area averaging when shrinking,
bilinear otherwise; :mod:`mapfree.data.preprocess`) with pixel-centre-correct intrinsics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mapfree.data.errors import DataFormatError
from mapfree.data.files import Intrinsics
from mapfree.data.images import read_image
from mapfree.data.preprocess import prepare_view
from mapfree.geometry.camera import Camera
from mapfree.models.mickey import MicKey
from mapfree.models.pose import MicKeyPose, mickey_poses
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig

ImageLike = str | Path | np.ndarray | torch.Tensor


def _as_array(image: ImageLike) -> np.ndarray | torch.Tensor:
    return read_image(image) if isinstance(image, (str, Path)) else image


def read_intrinsics_for(path: str | Path, image: str | Path) -> Intrinsics:
    """The line of an `name fx fy cx cy width height` file that names `image`.

    Names may be plain file names (`im0.jpg`) or relative paths; the image's path is matched by
    its full text first, then by its trailing components. Raises DataFormatError otherwise.
    """
    path, image = Path(path), Path(image)
    if not path.is_file():
        raise DataFormatError(path, "intrinsics file not found")
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
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
            if not (np.isfinite([fx, fy, cx, cy]).all() and fx > 0 and fy > 0 and w >= 1 and h >= 1):
                raise DataFormatError(path, "focal lengths must be positive and finite, image size positive", lineno)
            return Intrinsics(fx, fy, cx, cy, int(w), int(h))
    raise DataFormatError(path, f"no line for image {image.name!r}")


@torch.inference_mode()
def estimate_poses(
    model: MicKey,
    images0: torch.Tensor,
    images1: torch.Tensor,
    K0: np.ndarray | torch.Tensor,
    K1: np.ndarray | torch.Tensor,
    solver: ProcrustesRansacConfig | None = None,
    generator: torch.Generator | None = None,
) -> list[MicKeyPose]:
    """Batched poses for (B, 3, H, W) image batches and (B, 3, 3) or (3, 3) intrinsics.

    Both images of every pair go through the backbone in one batch when their sizes agree, and
    the probabilistic Procrustes RANSAC (`solver`, default: the released settings) runs batched
    over the pairs; `generator` (on the model's device) makes its sampling reproducible.
    """
    device = model.device
    feats0, feats1, match_matrix = model(images0.to(device), images1.to(device))
    return mickey_poses(feats0, feats1, match_matrix, K0, K1, solver, generator)


def estimate_pose(
    model: MicKey,
    image0: ImageLike,
    image1: ImageLike,
    K0: np.ndarray,
    K1: np.ndarray,
    resize_to: tuple[int, int] | None = None,
    solver: ProcrustesRansacConfig | None = None,
    generator: torch.Generator | None = None,
) -> MicKeyPose:
    """Metric pose of camera 1 relative to camera 0 from two images and their 3x3 intrinsics.

    `resize_to` = (W, H) resizes both images (and intrinsics) first, by the dataset's rule.
    """
    views = []
    for image, K in ((image0, K0), (image1, K1)):
        image = _as_array(image)
        h, w = image.shape[-2:] if isinstance(image, torch.Tensor) else image.shape[:2]
        views.append(prepare_view(image, Camera(K, w, h), resize_to))
    (im0, camera0), (im1, camera1) = views
    return estimate_poses(model, im0[None], im1[None], camera0.K, camera1.K, solver, generator)[0]
