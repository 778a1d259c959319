"""FlowVOS's flow module (a U-Net on two frames) and backward warping.

Names follow the authors' ``FlowRegressor`` so their keys load unchanged. The authors upsample to
sizes hard-coded for 240x427 inputs; here every up block upsamples to its skip tensor's size, which
is the same at 240x427 and works at any size (at least 4x4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vostool.methods.fusion import folded


class DoubleConv(nn.Module):
    """[3x3 conv (bias) -> BN -> ReLU] x 2, as ``double_conv.{0,1,3,4}``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class FlowUp(nn.Module):
    """Bilinear upsampling (align_corners=True) to the skip's size, ``cat([skip, up])``, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return folded(self.conv)(torch.cat([skip, up], dim=1))


class FlowRegressor(nn.Module):
    """U-Net: DoubleConv(6->64), max-pool 4, ResNet-50 layer1-3 (a third ImageNet copy), three up
    blocks with skips, 1x1 conv to 2 channels.

    Input: ``cat([frame_{t-1}, frame_t])`` ImageNet-normalised, (B, 6, H, W). Output: (B, 2, H, W)
    flow (x, y) in normalised coordinates (2 = the image's width or height).
    """

    def __init__(self, in_channels: int = 6, out_channels: int = 2) -> None:
        super().__init__()
        import torchvision.models as tvm

        net = tvm.resnet50(weights=None, zero_init_residual=True)  # bounded activations when random
        self.inc = DoubleConv(in_channels, 64)
        self.pool1 = nn.MaxPool2d(4)
        self.down1, self.down2, self.down3 = net.layer1, net.layer2, net.layer3
        self.up1 = FlowUp(1024 + 512, 256)
        self.up2 = FlowUp(256 + 256, 64)
        self.up3 = FlowUp(64 + 64, 64)
        self.outc = nn.Conv2d(64, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = folded(self.inc)(x)
        x2 = folded(self.down1)(self.pool1(x1))
        x3 = folded(self.down2)(x2)
        x4 = folded(self.down3)(x3)
        x = self.up1(x4, x3)
        x = self.up2(x, x2)
        x = self.up3(x, x1)
        return self.outc(x)

    def imagenet_keys(self) -> dict[str, str]:
        """torchvision ResNet-50 key -> this module's key (down1-3 = layer1-3)."""
        names = {"down1.": "layer1.", "down2.": "layer2.", "down3.": "layer3."}
        return {names[k[:6]] + k[6:]: k for k in self.state_dict() if k[:6] in names}


def sampling_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(1, 2, H, W) pixel centres in [-1, 1] (x first), ``2 x / (W - 1) - 1`` as the authors."""
    xs = torch.arange(width, device=device, dtype=torch.float32).view(1, -1).expand(height, -1)
    ys = torch.arange(height, device=device, dtype=torch.float32).view(-1, 1).expand(-1, width)
    grid = torch.stack([2 * xs / max(width - 1, 1) - 1, 2 * ys / max(height - 1, 1) - 1])
    return grid.unsqueeze(0)


def flow_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warping: ``out(p) = x(p + flow(p))``, bilinear, border padding, align_corners=True.

    x: (B, C, H, W); flow: (B or 1, 2, H, W) in normalised coordinates -> (B, C, H, W).
    """
    if x.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"flow {tuple(flow.shape[-2:])} and input {tuple(x.shape[-2:])} differ in size")
    grid = sampling_grid(*x.shape[-2:], x.device) + flow.float()
    grid = grid.permute(0, 2, 3, 1).expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
