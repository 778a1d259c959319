"""STM's building blocks, with the authors' attribute names so their state_dict keys fit unchanged.

Encoders are torchvision ResNet-50 trunks cut after ``layer3`` (stride 16), named as in STM:
``conv1, bn1, res2 (= layer1), res3 (= layer2), res4 (= layer3)`` plus ``mean``/``std`` buffers.
The decoder is STM's (convFM, ResMM, Refine x2, pred2) with FlowVOS's optional ``flow_mixer``.
All modules take and return ``(B, C, H, W)`` tensors; any memory format works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vostool.methods.fusion import folded

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
THIRD_CHANNEL_CONV = {"others": "conv1_o", "background": "conv1_bg"}  # STM / STM-cycle names


class ResBlock(nn.Module):
    """Pre-activation residual block without BatchNorm: ``x + conv2(relu(conv1(relu(x))))``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv1(F.relu(x))
        r = self.conv2(F.relu(r))
        return x + r


class ResNetTrunk(nn.Module):
    """ResNet-50 up to ``layer3`` with STM's names; ``mean``/``std`` are persistent buffers as in STM."""

    def __init__(self) -> None:
        super().__init__()
        import torchvision.models as tvm

        # zero_init_residual: every bottleneck starts as the identity, so random (--untrained)
        # weights keep activations bounded in eval mode. Trained weights overwrite it.
        net = tvm.resnet50(weights=None, zero_init_residual=True)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.res2, self.res3, self.res4 = net.layer1, net.layer2, net.layer3
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def stages(self, stem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``stem``: conv1 output before bn1 -> (r4 1/16 1024ch, r3 1/8 512ch, r2 1/4 256ch)."""
        x = self.maxpool(self.relu(self.bn1(stem)))
        r2 = folded(self.res2)(x)
        r3 = folded(self.res3)(r2)
        r4 = folded(self.res4)(r3)
        return r4, r3, r2

    def imagenet_keys(self) -> dict[str, str]:
        """torchvision ResNet-50 key -> this module's key, for loading ImageNet weights."""
        names = {"layer1.": "res2.", "layer2.": "res3.", "layer3.": "res4.", "conv1.": "conv1.", "bn1.": "bn1."}
        out = {}
        for key in self.state_dict():
            for tv, ours in names.items():
                if key.startswith(ours):
                    out[tv + key[len(ours):]] = key
        return out


class QueryEncoder(ResNetTrunk):
    """Encoder_Q: normalised frame (B, 3, H, W) -> (r4, r3, r2)."""

    def forward(self, frame_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.stages(self.conv1(frame_norm))


class MemoryEncoder(ResNetTrunk):
    """Encoder_M: the frame plus the object's mask and an optional third map, each through its own
    7x7 stride-2 convolution (no bias) added to ``conv1``'s output before ``bn1``.

    ``third_channel``: ``"others"`` (STM's ``conv1_o``: union of the other objects), ``"background"``
    (STM-cycle's ``conv1_bg``: 1 - own mask) or ``None`` (mask only, e.g. MUNet's Enc-R).
    """

    def __init__(self, third_channel: str | None = "others") -> None:
        super().__init__()
        self.conv1_m = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.third_name = THIRD_CHANNEL_CONV[third_channel] if third_channel else None
        if self.third_name:
            self.add_module(self.third_name, nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False))

    def forward(self, frame_norm: torch.Tensor, mask: torch.Tensor, third: torch.Tensor | None = None,
                frame_stem: torch.Tensor | None = None) -> torch.Tensor:
        """frame_norm: (1 or B, 3, H, W); mask, third: (B, 1, H, W) -> r4 (B, 1024, H/16, W/16).

        A frame shared by all B objects is passed once (batch 1); ``frame_stem`` may carry its
        ``conv1`` output when it is already known.
        """
        x = frame_stem if frame_stem is not None else self.conv1(frame_norm)
        x = x + self.conv1_m(mask)
        if self.third_name:
            x = x + getattr(self, self.third_name)(third)
        return self.stages(x)[0]


class KeyValue(nn.Module):
    """3x3 key (128) and value (512) projections of r4."""

    def __init__(self, indim: int = 1024, keydim: int = 128, valdim: int = 512) -> None:
        super().__init__()
        self.Key = nn.Conv2d(indim, keydim, kernel_size=3, padding=1)
        self.Value = nn.Conv2d(indim, valdim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.Key(x), self.Value(x)


class Refine(nn.Module):
    """Skip feature ``s = ResFS(convFS(f))`` plus the upsampled coarser map, then ``ResMM``.

    Upsampling goes to the skip's size (STM-cycle); on STM's padded inputs this is exactly STM's
    ``scale_factor=2``. The skip part does not depend on the object, so it is split out.
    """

    def __init__(self, inplanes: int, planes: int = 256) -> None:
        super().__init__()
        self.convFS = nn.Conv2d(inplanes, planes, kernel_size=3, padding=1)
        self.ResFS = ResBlock(planes)
        self.ResMM = ResBlock(planes)

    def skip(self, f: torch.Tensor) -> torch.Tensor:
        return self.ResFS(self.convFS(f))

    def merge(self, s: torch.Tensor, pm: torch.Tensor) -> torch.Tensor:
        """s: (1 or B, C, h, w) skip; pm: (B, C, h', w') coarser map -> (B, C, h, w)."""
        m = s + F.interpolate(pm, size=s.shape[-2:], mode="bilinear", align_corners=False)
        return self.ResMM(m)

    def forward(self, f: torch.Tensor, pm: torch.Tensor) -> torch.Tensor:
        return self.merge(self.skip(f), pm)


class Decoder(nn.Module):
    """STM's decoder; with ``flow_mixer`` FlowVOS's variant that mixes a warped mask in after RF2."""

    def __init__(self, indim: int = 1024, mdim: int = 256, flow_mixer: bool = False) -> None:
        super().__init__()
        self.convFM = nn.Conv2d(indim, mdim, kernel_size=3, padding=1)
        self.ResMM = ResBlock(mdim)
        self.RF3 = Refine(512, mdim)  # 1/8
        self.RF2 = Refine(256, mdim)  # 1/4
        if flow_mixer:
            self.flow_mixer = nn.Conv2d(mdim + 1, mdim, kernel_size=3, padding=1)
        self.pred2 = nn.Conv2d(mdim, 2, kernel_size=3, padding=1)

    def skips(self, r3: torch.Tensor, r2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The object-independent part: (s3, s2) from the query's r3 (1/8) and r2 (1/4)."""
        return self.RF3.skip(r3), self.RF2.skip(r2)

    def decode(self, x: torch.Tensor, skips: tuple[torch.Tensor, torch.Tensor], size: tuple[int, int],
               warp_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, 1024, h, w) memory read + query value; skips from :meth:`skips` (batch 1 or B);
        size: output (H, W); warp_mask: (B, 1, H, W) or None. Returns logits (B, 2, H, W)."""
        m4 = self.ResMM(self.convFM(x))
        m3 = self.RF3.merge(skips[0], m4)
        m2 = self.RF2.merge(skips[1], m3)
        if warp_mask is None:
            p2 = self.pred2(F.relu(m2))
            return F.interpolate(p2, size=size, mode="bilinear", align_corners=False)
        up = F.interpolate(m2, size=warp_mask.shape[-2:], mode="bilinear", align_corners=True)
        # flow_mixer(cat([up, warp_mask])) as two convolutions: no 257-channel copy at full resolution
        weight = self.flow_mixer.weight
        mixed = F.conv2d(up, weight[:, :-1], self.flow_mixer.bias, padding=1)
        mixed = mixed + F.conv2d(warp_mask.to(up.dtype), weight[:, -1:], padding=1)
        return self.pred2(F.relu(mixed))

    def forward(self, x: torch.Tensor, r3: torch.Tensor, r2: torch.Tensor, size: tuple[int, int],
                warp_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(x, self.skips(r3, r2), size, warp_mask)
