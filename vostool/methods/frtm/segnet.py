"""FRTM's segmentation network ("refiner"): TSE, RRB and CAB blocks per level, then the upsampler.

Parameter names equal the authors' (``TSE.layer5.reduce.0.weight`` …, the released
``andr345/frtm-vos`` checkpoints at commit e994ac2 without the ``refiner.`` prefix), so their checkpoints
load strictly. Level names are FRTM's, shifted by one from torchvision: FRTM ``layer5`` is
torchvision ``layer4`` (stride 32) … FRTM ``layer2`` is torchvision ``layer1`` (stride 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# FRTM names its feature levels one above torchvision's stages.
FRTM_TO_TORCHVISION = {"layer5": "layer4", "layer4": "layer3", "layer3": "layer2", "layer2": "layer1"}
TARGET_STAGE = "layer3"  # FRTM "layer4": stride 16, the target model's input

LEVELS = ("layer5", "layer4", "layer3", "layer2")  # deepest first, as the authors' refiner runs


def _conv(cin: int, cout: int, k: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear, align_corners=False; a no-op when the size already matches (as lib/utils.py)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size, mode="bilinear", align_corners=False)


class TSE(nn.Module):
    """Target segmentation encoder: reduce features to 64 channels, concatenate the score, transform."""

    def __init__(self, feature_channels: int, score_channels: int = 1, channels: int = 64) -> None:
        super().__init__()
        joint = channels + score_channels
        self.reduce = nn.Sequential(_conv(feature_channels, channels, 1), nn.ReLU(), _conv(channels, channels, 1))
        self.transform = nn.Sequential(
            _conv(joint, joint, 3), nn.ReLU(), _conv(joint, joint, 3), nn.ReLU(), _conv(joint, channels, 3), nn.ReLU()
        )


class RRB(nn.Module):
    """Residual refinement block: 1x1 conv, then relu(h + conv-BN-relu-conv(h))."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1x1 = _conv(channels, channels, 1)
        self.bblock = nn.Sequential(
            _conv(channels, channels, 3), nn.BatchNorm2d(channels), nn.ReLU(), _conv(channels, channels, 3, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1x1(x)
        return F.relu(h + self.bblock(h))


class CAB(nn.Module):
    """Channel attention block: shallow * sigmoid(convs(GAP(shallow), GAP(deep))) + upsampled deep."""

    def __init__(self, channels: int = 64, deepest: bool = False) -> None:
        super().__init__()
        self.deepest = deepest
        self.convreluconv = nn.Sequential(_conv(2 * channels, channels, 1), nn.ReLU(), _conv(channels, channels, 1))

    def forward(self, deeper: torch.Tensor, shallower: torch.Tensor) -> torch.Tensor:
        shallow_pool = F.adaptive_avg_pool2d(shallower, 1)
        deeper_pool = deeper if self.deepest else F.adaptive_avg_pool2d(deeper, 1)
        attention = torch.sigmoid(self.convreluconv(torch.cat([shallow_pool, deeper_pool], dim=1)))
        return shallower * attention + _resize(deeper, shallower.shape[-2:])


class Upsampler(nn.Module):
    """x2 bicubic -> conv1 -> ReLU -> x2 bicubic -> bilinear to the image size -> conv2 (1 channel).

    The authors' ``PyrUpBicubic2d`` equals ``F.interpolate(scale_factor=2, mode='bicubic')`` to 1e-6.
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels // 2, 3)
        self.conv2 = _conv(channels // 2, 1, 3)

    def forward(self, x: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        x = F.relu(self.conv1(x))
        x = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        x = _resize(x, image_size)
        return self.conv2(x)


class SegNetwork(nn.Module):
    """Refines coarse target scores into full-resolution logits, guided by backbone features."""

    def __init__(self, feature_channels: dict[str, int], channels: int = 64) -> None:
        super().__init__()
        self.TSE = nn.ModuleDict()
        self.RRB1 = nn.ModuleDict()
        self.CAB = nn.ModuleDict()
        self.RRB2 = nn.ModuleDict()
        for level in LEVELS:
            self.TSE[level] = TSE(feature_channels[level], 1, channels)
            self.RRB1[level] = RRB(channels)
            self.CAB[level] = CAB(channels, deepest=level == LEVELS[0])
            self.RRB2[level] = RRB(channels)
        self.project = Upsampler(channels)

    def forward(self, scores: torch.Tensor, features: dict[str, torch.Tensor], image_size: tuple[int, int]) -> torch.Tensor:
        """scores: (N, 1, H/16, W/16), one per object; features: FRTM level -> (1 or N, C, h, w).

        Returns (N, 1, H, W) logits. The 1x1 feature reduction does not depend on the object, so it is
        computed once and shared when the features have batch 1.
        """
        n = scores.shape[0]
        x = None
        for level in LEVELS:
            tse = self.TSE[level]
            ft = features[level]
            h = tse.reduce(ft)
            hpool = F.adaptive_avg_pool2d(h, 1) if x is None else x
            if h.shape[0] != n:
                h = h.expand(n, -1, -1, -1)
                if x is None:
                    hpool = hpool.expand(n, -1, -1, -1)
            s = _resize(scores, ft.shape[-2:])
            h = tse.transform(torch.cat([h, s], dim=1))
            h = self.RRB1[level](h)
            h = self.CAB[level](hpool, h)
            x = self.RRB2[level](h)
        return self.project(x, image_size)
