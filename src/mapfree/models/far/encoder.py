"""ResUNet feature encoder (Zhang & Liu, "Road Extraction by Deep Residual U-Net"): a pre-activation
ResNet to 1/16 resolution, then two upsampling stages with skip connections back to 1/4."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mapfree.models.far.blocks import ConvBNELU, PreActBlock, PreActBottleneck
from mapfree.models.far.config import RegressionConfig


class UpConv(nn.Module):
    """Bilinear x2 upsampling (corners aligned) then conv-BN-ELU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = ConvBNELU(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


def skip_concat(skip: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """`up`, then `skip` zero-padded around its centre to `up`'s size (odd sizes grow by one row or column
    at each upsampling: 360 x 270 inputs give 92 x 68 features)."""
    dy, dx = up.shape[2] - skip.shape[2], up.shape[3] - skip.shape[3]
    skip = F.pad(skip, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
    return torch.cat([up, skip], dim=1)


class ResUNet(nn.Module):
    """(B, 3, H, W) RGB in [0, 1] to (B, channels, ~H/4, ~W/4) features."""

    def __init__(self, config: RegressionConfig):
        super().__init__()
        block = PreActBottleneck if config.bottleneck else PreActBlock
        self.firstconv = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.firstbn = nn.BatchNorm2d(64)
        self.in_planes = 64
        self.encoder1 = self._stage(block, 64, config.blocks[0], 1)
        self.encoder2 = self._stage(block, 128, config.blocks[1], 2)
        self.encoder3 = self._stage(block, 256, config.blocks[2], 2)
        widths = [64 * block.expansion, 128 * block.expansion, 256 * block.expansion]
        self.upconv4 = UpConv(widths[2], 512)
        self.iconv4 = ConvBNELU(widths[1] + 512, 512, 3)
        self.upconv3 = UpConv(512, 256)
        self.iconv3 = ConvBNELU(widths[0] + 256, 256, 3)
        self.outconv = ConvBNELU(256, config.channels, 1)

    def _stage(self, block: type[PreActBlock] | type[PreActBottleneck], planes: int, count: int,
               stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (count - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.max_pool2d(F.relu(self.firstbn(self.firstconv(x))), 3, 2, 1)
        x2 = self.encoder1(x1)
        x3 = self.encoder2(x2)
        x4 = self.encoder3(x3)
        x = self.iconv4(skip_concat(x3, self.upconv4(x4)))
        x = self.iconv3(skip_concat(x2, self.upconv3(x)))
        return self.outconv(x)
