"""A few lines from two images to a metric relative pose with MicKey.

    model = mapfree.MicKey.from_pretrained("mickey.ckpt", dinov2_weights="dinov2_vitl14_pretrain.pth")
    result = mapfree.estimate_pose(model, "im0.jpg", "im1.jpg", K0, K1)
    result.R, result.t, result.confidence

Images are RGB; they may be paths, (H, W, 3) uint8 arrays or (3, H, W) float tensors in [0, 1].
MicKey crops them at the right/bottom to multiples of 14 (pixel coordinates and intrinsics are
unchanged by that crop). Resizing uses bilinear interpolation and pixel-centre-correct intrinsics,
as the released MicKey does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch

from mapfree.data.errors import DataFormatError
from mapfree.data.files import Intrinsics
from mapfree.geometry.camera import backproject, scale_intrinsics
from mapfree.models.mickey import Features, MatchMatrix, MicKey
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig, mickey_pose_solver

ImageLike = Union[str, Path, np.ndarray, torch.Tensor]


@dataclass
class PoseResult:
    """Estimated transform from camera 0 to camera 1 (x1 = R x0 + t, metres).

    `confidence` is the solver's soft inlier count (0 means "no estimate": R = I, t = 0);
    `inliers` (M, 2) are the keypoint indices (into kpts0, kpts1) of the inlier correspondences
    and `inlier_scores` (M,) their correspondence probabilities. The extracted features and the
    correspondence matrices are kept for inspection.
    """

    R: np.ndarray
    t: np.ndarray
    confidence: float
    inliers: np.ndarray
    inlier_scores: np.ndarray
    features0: Features
    features1: Features
    correspondences: MatchMatrix

    @property
    def valid(self) -> bool:
        return self.confidence > 0


def load_image(path: str | Path) -> torch.Tensor:
    """(3, H, W) float RGB in [0, 1]; DataFormatError for a missing or undecodable file."""
    from mapfree.data.images import read_image

    return torch.from_numpy(read_image(path)).permute(2, 0, 1).float() / 255.0


def to_tensor(image: ImageLike) -> torch.Tensor:
    """Any supported image form to a (3, H, W) float tensor in [0, 1]."""
    if isinstance(image, (str, Path)):
        return load_image(image)
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image arrays must be (H, W, 3) RGB, got {image.shape}")
        scale = 255.0 if image.dtype == np.uint8 else 1.0
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / scale
    if isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] == 3:
        return image.float()
    raise ValueError("image must be a path, an (H, W, 3) array or a (3, H, W) tensor")


def resize(image: torch.Tensor, K: np.ndarray, size: tuple[int, int] | None) -> tuple[torch.Tensor, np.ndarray]:
    """Bilinear resize of a (3, H, W) image to `size` = (W, H) with the matching intrinsics."""
    import cv2

    K = np.asarray(K, dtype=np.float64)
    h, w = image.shape[-2:]
    if size is None or tuple(size) == (w, h):
        return image, K
    array = cv2.resize(image.permute(1, 2, 0).numpy(), tuple(size), interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy(array).permute(2, 0, 1), scale_intrinsics(K, size[0] / w, size[1] / h)


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
                raise DataFormatError(path, f"expected 7 fields (name fx fy cx cy width height), got {len(fields)}", lineno)
            try:
                fx, fy, cx, cy, w, h = (float(v) for v in fields[1:])
            except ValueError:
                raise DataFormatError(path, f"unparsable number in {fields[1:]}", lineno) from None
            if not (np.isfinite([fx, fy, cx, cy]).all() and fx > 0 and fy > 0 and w >= 1 and h >= 1):
                raise DataFormatError(path, "focal lengths must be positive and finite, image size positive", lineno)
            return Intrinsics(fx, fy, cx, cy, int(w), int(h))
    raise DataFormatError(path, f"no line for image {image.name!r}")


def _as_batch(K: np.ndarray | torch.Tensor | Sequence, device) -> torch.Tensor:
    K = torch.as_tensor(np.asarray(K, dtype=np.float32), device=device)
    return K[None] if K.ndim == 2 else K


@torch.inference_mode()
def estimate_poses(
    model: MicKey,
    images0: torch.Tensor,
    images1: torch.Tensor,
    K0: np.ndarray | torch.Tensor,
    K1: np.ndarray | torch.Tensor,
    solver: ProcrustesRansacConfig | None = None,
    generator: torch.Generator | None = None,
) -> list[PoseResult]:
    """Batched poses for (B, 3, H, W) image batches and (B, 3, 3) or (3, 3) intrinsics.

    Both images of every pair go through the backbone in one batch when their sizes agree, and
    the probabilistic Procrustes RANSAC (`solver`, default: the released settings) runs batched
    over the pairs; `generator` (on the model's device) makes its sampling reproducible.
    """
    device = model.device
    feats0, feats1, matches = model(images0.to(device), images1.to(device))
    B = len(feats0.kpts)
    K0, K1 = (_as_batch(K, device).expand(B, 3, 3) for K in (K0, K1))
    X0, X1 = backproject(feats0.kpts, feats0.depth, K0), backproject(feats1.kpts, feats1.depth, K1)
    fit = mickey_pose_solver(X0, X1, matches.scores, solver or ProcrustesRansacConfig(), generator)
    results = []
    for b, (f0, f1) in enumerate(zip(feats0.split([1] * B), feats1.split([1] * B))):
        keep = fit.inliers[b]
        results.append(PoseResult(
            R=fit.R[b].double().cpu().numpy(), t=fit.t[b].double().cpu().numpy(),
            confidence=float(fit.confidence[b]),
            inliers=fit.matches[b][keep].cpu().numpy(), inlier_scores=fit.match_scores[b][keep].float().cpu().numpy(),
            features0=f0, features1=f1,
            correspondences=MatchMatrix(matches.matching[b: b + 1], matches.scores[b: b + 1]),
        ))
    return results


def estimate_pose(
    model: MicKey,
    image0: ImageLike,
    image1: ImageLike,
    K0: np.ndarray,
    K1: np.ndarray,
    resize_to: tuple[int, int] | None = None,
    solver: ProcrustesRansacConfig | None = None,
    generator: torch.Generator | None = None,
) -> PoseResult:
    """Metric pose of camera 1 relative to camera 0 from two images and their 3x3 intrinsics.

    `resize_to` = (W, H) resizes both images (and intrinsics) first.
    """
    im0, K0 = resize(to_tensor(image0), K0, resize_to)
    im1, K1 = resize(to_tensor(image1), K1, resize_to)
    return estimate_poses(model, im0[None], im1[None], K0, K1, solver, generator)[0]
