"""map-free-reloc's relative pose regressors (RPR): ResUNet features of both images, correlation
warping, four strided residual blocks, average pooling and an MLP to a 6D rotation and a metric
translation ("rot6d_trans") or to 3D-3D correspondences aligned by Procrustes ("3d3d").

    model = RelPoseRegressor.from_released("rot6d_trans.ckpt")
    R, t = model(image0, image1)     # (B, 3, 3), (B, 3): pose of image 1 relative to image 0
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mapfree.geometry.procrustes import weighted_procrustes
from mapfree.models.far.aggregator import CorrelationWarping
from mapfree.models.far.blocks import PreActBlock
from mapfree.models.far.checkpoints import load_released
from mapfree.models.far.config import RegressionConfig, encoder_size
from mapfree.models.far.encoder import ResUNet
from mapfree.models.far.rotations import columns_6d_to_matrix


class ResidualTrunk(nn.Module):
    """Strided pre-activation blocks 64, 128, 256 (and 512 when `full`) on the aggregated volume."""

    def __init__(self, in_channels: int, batch_norm: bool, full: bool):
        super().__init__()
        self.resblock1 = PreActBlock(in_channels, 64, 2, batch_norm)
        self.resblock2 = PreActBlock(64, 128, 2, batch_norm)
        self.resblock3 = PreActBlock(128, 256, 2, batch_norm)
        self.resblock4 = PreActBlock(256, 512, 2, batch_norm) if full else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resblock3(self.resblock2(self.resblock1(x)))
        return x if self.resblock4 is None else self.resblock4(x)


class PooledHead(ResidualTrunk):
    """The full trunk, pooled (or flattened), then MLP 256-128-`outputs`."""

    outputs: int

    def __init__(self, config: RegressionConfig, in_channels: int):
        super().__init__(in_channels, config.head_batch_norm, full=True)
        self.avg_pool = config.avg_pool
        width = 512 if config.avg_pool else 512 * feature_cells(config)
        self.mlp = nn.Sequential(nn.Linear(width, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                 nn.Linear(128, self.outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return self.mlp(x.mean(dim=(2, 3)) if self.avg_pool else x.flatten(1))


class Rot6dTransHead(PooledHead):
    """6D rotation (columns) and translation."""

    outputs = 9

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = super().forward(x)
        return columns_6d_to_matrix(out[:, :6]), out[:, 6:]


class Procrustes3D3DHead(PooledHead):
    """Three 3D points in camera 0 and their three in camera 1 (plus the unit axes when `add_basis`), aligned
    by Procrustes."""

    outputs = 18

    def __init__(self, config: RegressionConfig, in_channels: int):
        super().__init__(config, in_channels)
        self.add_basis = config.add_basis

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        points = super().forward(x).view(-1, 6, 3)
        basis = torch.eye(3, dtype=points.dtype, device=points.device) if self.add_basis else 0.0
        fit = weighted_procrustes(points[:, :3] + basis, points[:, 3:] + basis)
        return fit.R, fit.t


HEADS = {"rot6d": Rot6dTransHead, "3d3d": Procrustes3D3DHead}


def feature_cells(config: RegressionConfig) -> int:
    """Cells of the trunk's last map: the encoder's halved (rounding up) four times."""
    h, w = encoder_size(config)
    for _ in range(4):
        h, w = (h + 1) // 2, (w + 1) // 2
    return h * w


class RelPoseRegressor(nn.Module):
    """Images (B, 3, H, W) RGB in [0, 1] at `config.height` x `config.width` to (R (B, 3, 3), t (B, 3))."""

    def __init__(self, config: RegressionConfig = RegressionConfig()):
        super().__init__()
        self.config = config
        self.encoder = ResUNet(config)
        self.aggregator = CorrelationWarping(config)
        self.head = HEADS[config.head](config, self.aggregator.out_channels)

    def forward(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.aggregator(self.encoder(image0), self.encoder(image1)))

    @classmethod
    def from_released(cls, checkpoint: str | Path, config: RegressionConfig | str | Path | None = None,
                      device: str | torch.device = "cpu") -> RelPoseRegressor:
        """A released map-free-reloc checkpoint (Lightning `state_dict`), with its YAML (a path) or a config
        (None: the released rot6d_trans settings), in eval mode on `device`."""
        if not isinstance(config, RegressionConfig):
            config = RegressionConfig() if config is None else RegressionConfig.from_yaml(config)
        model = cls(config)
        load_released(model, checkpoint)
        return model.eval().to(device)
