"""FAR's Map-free model (Rockwell et al., "FAR: Flexible, Accurate and Robust 6DoF Relative Camera Pose
Estimation", CVPR 2024): a regressed pose and an essential-matrix pose, blended by a learned weight.

The regression trunk of map-free-reloc (ResUNet, correlation warping, three residual blocks) gives a
256 x 12 x 9 map; a transformer over its 108 cells, flattened, feeds an MLP regressing translation
and a 6D rotation (rows). A second MLP sees the same features, the regressed pose, the solver's
pose (its translation rescaled to the regressed length) and its inlier counts, and outputs two
weights in (0, 1): how much of the regressed translation and rotation to keep. FAR runs this
twice: the first blend is the prior of a prior-guided RANSAC whose pose is blended again.

    net = FARNet.from_released("far_loftr.ckpt")
    passes = far_pose(net, image0, image1, kpts0, kpts1, K0, K1, np.random.RandomState(0))
    R, t = passes[-1].R, passes[-1].t
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mapfree.models.far.aggregator import CorrelationWarping
from mapfree.models.far.checkpoints import load_released
from mapfree.models.far.config import FARConfig
from mapfree.models.far.encoder import ResUNet
from mapfree.models.far.rotations import matrix_to_rows_6d, rows_6d_to_matrix
from mapfree.models.far.rpr import ResidualTrunk
from mapfree.robust.far_essential import SolverOutcome, magsac_pose, prior_pose

MATCHER_PREFIXES = ("matcher", "matching")
"""Checkpoint entries of the matcher FAR trained with (LoFTR, or SuperPoint + SuperGlue); not part of the net."""


@dataclass(frozen=True)
class Blend:
    """One blend of a pair: `weights` (2,) on the regressed translation and rotation, the blended
    translation (3,) and 6D rotation (6,)."""

    weights: torch.Tensor
    translation: torch.Tensor
    rotation_6d: torch.Tensor


class FARNet(nn.Module):
    """The learned part of FAR: features, pose regressor and blend MLP (names as released)."""

    def __init__(self, config: FARConfig = FARConfig()):
        super().__init__()
        self.config = config
        r = config.regression
        self.encoder = ResUNet(r)
        self.aggregator = CorrelationWarping(r)
        self.head = ResidualTrunk(self.aggregator.out_channels, r.head_batch_norm, full=False)
        channels, h, w = config.feature_shape
        layer = nn.TransformerEncoderLayer(d_model=channels, nhead=config.transformer_heads)
        self.transformer = nn.TransformerEncoder(layer, config.transformer_layers, enable_nested_tensor=False)
        width, hidden = channels * h * w, config.hidden
        self.pose_regressor = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                            nn.Linear(hidden, 9))
        self.moe_predictor = nn.Sequential(nn.Linear(width + 2 * 9 + 3, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                           nn.ReLU(), nn.Linear(hidden, 2), nn.Sigmoid())

    def features(self, image0: torch.Tensor, image1: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] at the config's size, twice, to (B, 256 * 12 * 9) flattened channel-major."""
        trunk = self.head(self.aggregator(self.encoder(image0), self.encoder(image1)))
        B, C = trunk.shape[:2]
        tokens = self.transformer(trunk.reshape(B, C, -1).permute(2, 0, 1))  # (cells, B, C)
        return tokens.permute(1, 2, 0).reshape(B, -1)

    def regress(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 9): translation (3) then 6D rotation (rows)."""
        return self.pose_regressor(features).float()

    def blend(self, features: torch.Tensor, regressed: torch.Tensor, solver_pose: torch.Tensor,
              counts: torch.Tensor) -> Blend:
        """Weigh `regressed` (B, 9) against the solver's [R | t] (B, 3, 4) with inlier counts (B, 3)."""
        solver_t, solver_r = solver_pose[..., 3], matrix_to_rows_6d(solver_pose[..., :3, :3].float())
        length = torch.linalg.norm(regressed[:, :3], dim=-1) / torch.linalg.norm(solver_t, dim=-1).clamp(1e-2, 1e2)
        solver_t = solver_t * length.clamp(1e-2, 1e2)[:, None]
        candidate = torch.cat([solver_t, solver_r, counts.float() / self.config.corr_scale], dim=-1)
        weights = self.moe_predictor(torch.cat([features, regressed, candidate], dim=-1))
        translation = weights[:, :1] * regressed[:, :3] + (1 - weights[:, :1]) * solver_t
        rotation = weights[:, 1:] * regressed[:, 3:] + (1 - weights[:, 1:]) * solver_r
        return Blend(weights, translation, rotation)

    @classmethod
    def from_released(cls, checkpoint: str | Path, config: str | Path | None = None,
                      device: str | torch.device = "cpu") -> FARNet:
        """A released FAR checkpoint (Lightning `state_dict`; its matcher's entries are left out), with its
        YAML when given (else the released settings), in eval mode on `device`."""
        return load_far(checkpoint, config, device)[0]


def load_far(checkpoint: str | Path, config: str | Path | None = None,
             device: str | torch.device = "cpu") -> tuple[FARNet, dict[str, torch.Tensor]]:
    """:meth:`FARNet.from_released` and the checkpoint's other entries: its matcher's weights (`matcher.*` for
    LoFTR, `matching.*` for SuperPoint + SuperGlue), empty when it holds none."""
    net = FARNet(FARConfig() if config is None else FARConfig.from_yaml(config))
    others = load_released(net, checkpoint, ignore=MATCHER_PREFIXES)
    return net.eval().to(device), others


@dataclass(frozen=True)
class FARPass:
    """One pass of FAR on a pair: the solver's outcome, the regressed pose (9,), the blend, and the
    blended pose R (3, 3), t (3,) (metres, camera 1 w.r.t. camera 0)."""

    solver: SolverOutcome
    regressed: torch.Tensor
    blend: Blend

    @property
    def R(self) -> np.ndarray:
        return rows_6d_to_matrix(self.blend.rotation_6d).double().cpu().numpy()

    @property
    def t(self) -> np.ndarray:
        return self.blend.translation.double().cpu().numpy()


@torch.inference_mode()
def far_pose(net: FARNet, image0: torch.Tensor, image1: torch.Tensor, kpts0: np.ndarray, kpts1: np.ndarray,
             K0: np.ndarray, K1: np.ndarray, rng: np.random.RandomState) -> tuple[FARPass, FARPass]:
    """FAR on one pair: regression images (1, 3, H, W), matches (N, 2) in the pixels of intrinsics K0, K1.

    The first pass blends the MAGSAC pose; the second blends the pose of the RANSAC guided by the
    first blend (`rng` draws its samples). The second pass's pose is FAR's answer.
    """
    device = next(net.parameters()).device
    features = net.features(image0.to(device), image1.to(device))
    regressed = net.regress(features)
    first = magsac_pose(kpts0, kpts1, K0, K1, net.config.pixel_threshold, net.config.confidence)
    passes = [FARPass(first, regressed[0], blend_outcome(net, features, regressed, first))]
    prior = torch.cat([rows_6d_to_matrix(passes[0].blend.rotation_6d), passes[0].blend.translation[:, None]], dim=-1)
    second = prior_pose(kpts0, kpts1, K0, K1, prior, rng, net.config.prior)
    passes.append(FARPass(second, regressed[0], blend_outcome(net, features, regressed, second)))
    return passes[0], passes[1]


def blend_outcome(net: FARNet, features: torch.Tensor, regressed: torch.Tensor, outcome: SolverOutcome) -> Blend:
    """The blend of one pair (batch of one) with a solver outcome; results without the batch axis."""
    pose = torch.from_numpy(np.concatenate([outcome.R, outcome.t[:, None]], axis=1)).float()[None].to(features.device)
    counts = torch.tensor([outcome.counts], device=features.device)
    blend = net.blend(features, regressed, pose, counts)
    return Blend(blend.weights[0], blend.translation[0], blend.rotation_6d[0])
