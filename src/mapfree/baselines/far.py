"""FAR and map-free-reloc's RPR as pair estimators: methods `far`, `far:superglue` and `rpr`.

Both read the released checkpoints that `mapfree weights download far-mapfree` / `rpr-mapfree` unpack
(or a `--weights-dir` holding them) and resize each image to the networks' 360 x 270 as the released
data loaders do (8-bit RGB, OpenCV's bilinear resize).

- `far`: FAR with LoFTR matches, LoFTR being kornia's with the weights FAR's checkpoint carries
  (`matcher.*`, the outdoor model FAR trained with), on 8-bit grayscale padded to multiples of 8,
  keypoints used as LoFTR gives them, as FAR does;
- `far:superglue`: FAR's SuperGlue checkpoint with SuperPoint + SuperGlue from `vismatch`;
- `rpr`, `rpr:3d3d`: map-free-reloc's "rot6d_trans" and "3d3d" regressors.

Confidences are what the released submission scripts write: for FAR the number of matches passing
`recoverPose`'s cheirality test with the second-pass (prior-guided) essential matrix; for RPR 0 on
every pair (map-free-reloc writes its `inliers`, which its regressors set to 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mapfree.baselines.learned import gray_batch
from mapfree.baselines.matches import Matcher, Matches, to_uint8_rgb
from mapfree.data.items import views
from mapfree.errors import InputError
from mapfree.evaluation.submission import SubmissionEntry
from mapfree.weights.errors import MissingWeightsError, fetch_command
from mapfree.weights.fetch import hub_checkpoints

if TYPE_CHECKING:
    from mapfree.models.far import FARNet, RelPoseRegressor

FAR_ENTRY, RPR_ENTRY = "far-mapfree", "rpr-mapfree"
"""`mapfree weights` entries; each unpacks into the torch hub checkpoints folder under its own name."""
FAR_FILES = {"loftr": "far_loftr.ckpt", "superglue": "far_superglue.ckpt"}
RPR_FILES = {"rot6d": "rot6d_trans.ckpt", "3d3d": "3d3d.ckpt"}
"""map-free-reloc's checkpoints by head (config name as in its `config/regression/mapfree/`)."""


def find_released(entry: str, name: str, weights_dir: str | Path | None) -> Path:
    """Checkpoint `name` of catalogue `entry` in `weights_dir` or that entry's cache folder; else a one-line
    MissingWeightsError naming the download command."""
    folders = ([Path(weights_dir)] if weights_dir is not None else []) + [hub_checkpoints() / entry]
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise MissingWeightsError(f"{name!r} is in none of {', '.join(map(str, folders))}: run `{fetch_command(entry)}` "
                              "(or pass a folder holding it as --weights-dir)")


def regression_batch(image: Any, height: int, width: int, device: torch.device) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] to the (1, 3, height, width) batch the regressors read: 8-bit, bilinear resize."""
    resized = cv2.resize(to_uint8_rgb(image), (width, height))
    return torch.from_numpy(resized).float().permute(2, 0, 1)[None].div(255.0).to(device)


class FARLoFTR:
    """kornia's LoFTR with the weights stored in FAR's checkpoint, as FAR feeds it."""

    name = "loftr"

    def __init__(self, state: Mapping[str, torch.Tensor], source: Path, device: torch.device):
        from kornia.feature import LoFTR

        weights = {k.removeprefix("matcher."): v for k, v in state.items() if k.startswith("matcher.")}
        weights.pop("coarse_matching.bin_score", None)  # optimal-transport score, unused by dual-softmax matching
        if not weights:
            raise InputError(f"{source}: holds no LoFTR weights (matcher.*): is it FAR's LoFTR checkpoint?")
        self.model = LoFTR(pretrained=None)
        try:
            self.model.load_state_dict(weights)
        except RuntimeError as e:
            why = str(e).splitlines()[0]
            raise InputError(f"{source}: its LoFTR weights do not fit kornia's LoFTR ({why})") from None
        self.model.eval().to(device)
        self.device = device

    @torch.inference_mode()
    def __call__(self, item: Mapping[str, Any]) -> Matches:
        batch = {}
        for i, view in enumerate(views(item)):
            gray = gray_batch(view["image"], self.device)
            h, w = gray.shape[-2:]
            batch[f"image{i}"] = F.pad(gray, (0, -w % 8, 0, -h % 8))
        out = self.model(batch)
        return Matches.create(out["keypoints0"], out["keypoints1"], out["confidence"])


@dataclass
class FAREstimator:
    """FAR on a pair item: matches, then :func:`~mapfree.models.far.far_pose` (its RANSAC seeded per pair)."""

    net: FARNet
    matcher: Matcher
    seed: int = 0

    def __call__(self, item: Mapping[str, Any]) -> SubmissionEntry | None:
        from mapfree.models.far import far_pose

        matches = self.matcher(item)
        device = next(self.net.parameters()).device
        (v0, v1), r = views(item), self.net.config.regression
        images = (regression_batch(v["image"], r.height, r.width, device) for v in (v0, v1))
        _, final = far_pose(self.net, *images, matches.kpts0.astype(np.float32), matches.kpts1.astype(np.float32),
                            v0["camera"].numpy().K, v1["camera"].numpy().K, np.random.RandomState(self.seed))
        return entry(v1["frame"], final.R, final.t, final.solver.inliers)


@dataclass
class RPREstimator:
    """map-free-reloc's regressor on a pair item."""

    model: RelPoseRegressor

    @torch.inference_mode()
    def __call__(self, item: Mapping[str, Any]) -> SubmissionEntry | None:
        device = next(self.model.parameters()).device
        r, (v0, v1) = self.model.config, views(item)
        R, t = self.model(*(regression_batch(v["image"], r.height, r.width, device) for v in (v0, v1)))
        return entry(v1["frame"], R[0].double().cpu().numpy(), t[0].double().cpu().numpy(), 0.0)


def entry(frame: str, R: np.ndarray, t: np.ndarray, confidence: float) -> SubmissionEntry | None:
    """The submission line, or None for a non-finite pose (the released scripts skip those)."""
    if not (np.isfinite(R).all() and np.isfinite(t).all()):
        return None
    return SubmissionEntry(frame=frame, R=R, t=t, confidence=float(confidence))


def build_far(matcher: str, weights_dir: str | Path | None, device: str, seed: int = 0,
              matcher_size: tuple[int, int] | None = None) -> FAREstimator:
    """FAR with its `matcher` ("loftr" or "superglue") and the matching released checkpoint."""
    from mapfree.models.far.far import load_far

    path = find_released(FAR_ENTRY, FAR_FILES[matcher], weights_dir)
    net, state = load_far(path, device=device)
    if matcher == "loftr":
        return FAREstimator(net, FARLoFTR(state, path, torch.device(device)), seed)
    from mapfree.baselines.vismatch_matcher import VismatchMatcher

    return FAREstimator(net, VismatchMatcher("superglue", device, matcher_size), seed)


def build_rpr(head: str, weights_dir: str | Path | None, device: str) -> RPREstimator:
    """map-free-reloc's regressor with `head` ("rot6d" or "3d3d") from its released checkpoint."""
    from mapfree.models.far import RegressionConfig, RelPoseRegressor

    path = find_released(RPR_ENTRY, RPR_FILES[head], weights_dir)
    return RPREstimator(RelPoseRegressor.from_released(path, RegressionConfig(head=head), device))
