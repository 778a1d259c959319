"""RGMP's Siamese encoder-decoder (Oh et al., CVPR 2018), with the authors' parameter names.

``RGMPNetwork`` holds ``Encoder`` and ``Decoder`` exactly as the authors' ``RGMP`` module does, so a
state dict in vostool's names is the authors' checkpoint without the ``module.`` prefix of
``nn.DataParallel`` (``seoungwugoh/RGMP`` commit 652b6f7, ``model.py``). Like the original, the network has no single
forward pass: inference and training call ``Encoder`` and ``Decoder`` themselves (the reference
stream's ``r5`` is computed once and reused).

Upsampling is bilinear with ``align_corners=True``: the released weights were trained with PyTorch
0.3.1, whose ``F.upsample(mode='bilinear')`` behaves that way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vostool.methods.fusion import folded

MDIM = 256  # channels of every decoder feature map
R5_CHANNELS = 2048  # channels of one stream's r5; the GC block takes two concatenated


def _up(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=True)


class Encoder(nn.Module):
    """ResNet-50 with a mask channel: ``conv1(image) + conv1_p(mask)`` before ``bn1``.

    ``res2..res5`` are torchvision's ``layer1..layer4``. ImageNet normalisation happens inside
    (buffers ``mean``/``std``, part of the authors' checkpoint). BatchNorm is frozen: its parameters
    do not train and its layers stay in eval mode (running statistics), even under ``train()``.
    """

    def __init__(self, zero_init_residual: bool = True) -> None:
        super().__init__()
        import torchvision.models as tvm

        # zero_init_residual: each residual block starts as the identity, so random (--untrained)
        # weights keep bounded activations through the 16 blocks.
        resnet = tvm.resnet50(weights=None, zero_init_residual=zero_init_residual)
        self.conv1_p = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=True)
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.res2, self.res3, self.res4, self.res5 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                for p in m.parameters():
                    p.requires_grad_(False)

    def train(self, mode: bool = True) -> "Encoder":
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def image_conv(self, frame: torch.Tensor) -> torch.Tensor:
        """The mask-independent part of the first layer: (B, 3, H, W) in [0, 1] -> (B, 64, H/2, W/2)."""
        return self.conv1((frame - self.mean) / self.std)

    def trunk(self, image_conv: torch.Tensor, mask: torch.Tensor, fold: bool = True) -> tuple[torch.Tensor, ...]:
        """Everything after the image convolution.

        image_conv: (B or 1, 64, H/2, W/2) from :meth:`image_conv` (batch 1 is shared by all masks);
        mask: (B, H, W) float guidance in [0, 1]. Returns (r5, r4, r3, r2): (B, 2048, H/32, W/32),
        (B, 1024, H/16, W/16), (B, 512, H/8, W/8), (B, 256, H/4, W/4). ``fold``: in inference, run
        res2..res5 with their frozen BatchNorms folded into the convolutions (same results up to float
        rounding, one pass less over every feature map); training always runs the modules as they are.
        """
        x = image_conv + self.conv1_p(mask.unsqueeze(1).to(image_conv.dtype))
        x = self.maxpool(self.relu(self.bn1(x)))
        run = folded if fold else (lambda module: module)
        r2 = run(self.res2)(x)
        r3 = run(self.res3)(r2)
        r4 = run(self.res4)(r3)
        r5 = run(self.res5)(r4)
        return r5, r4, r3, r2

    def forward(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The authors' forward, unfolded. frame: (B, 3, H, W) RGB in [0, 1]; mask: (B, H, W). H, W
        multiples of 32. -> (r5, r4, r3, r2)."""
        return self.trunk(self.image_conv(frame), mask, fold=False)


class GC(nn.Module):
    """Global convolution: (k x 1 then 1 x k) + (1 x k then k x 1), no activation anywhere."""

    def __init__(self, inplanes: int, planes: int, kh: int = 7, kw: int = 7) -> None:
        super().__init__()
        self.conv_l1 = nn.Conv2d(inplanes, 256, kernel_size=(kh, 1), padding=(kh // 2, 0))
        self.conv_l2 = nn.Conv2d(256, planes, kernel_size=(1, kw), padding=(0, kw // 2))
        self.conv_r1 = nn.Conv2d(inplanes, 256, kernel_size=(1, kw), padding=(0, kw // 2))
        self.conv_r2 = nn.Conv2d(256, planes, kernel_size=(kh, 1), padding=(kh // 2, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.conv_l1(x), self.conv_r1(x))

    def second(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """The branches' second convolutions and their sum, from the first convolutions' outputs."""
        return self.conv_l2(left) + self.conv_r2(right)


class Refine(nn.Module):
    """Refinement module: residual block on the skip feature, add the upsampled coarser map, residual block."""

    def __init__(self, inplanes: int, planes: int = MDIM, scale_factor: int = 2) -> None:
        super().__init__()
        self.convFS1 = nn.Conv2d(inplanes, planes, kernel_size=3, padding=1)
        self.convFS2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        self.convFS3 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        self.convMM1 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        self.convMM2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        self.scale_factor = scale_factor

    def forward(self, f: torch.Tensor, pm: torch.Tensor) -> torch.Tensor:
        """f: (B, C, h, w) skip feature; pm: (B, 256, h/2, w/2) coarser map -> (B, 256, h, w)."""
        s = self.convFS1(f)
        s = s + self.convFS3(F.relu(self.convFS2(F.relu(s))))
        m = s + _up(pm, self.scale_factor)
        return m + self.convMM2(F.relu(self.convMM1(F.relu(m))))


class Decoder(nn.Module):
    """GC block on concat(current r5, reference r5), a residual block, RF4 -> RF3 -> RF2, heads."""

    def __init__(self) -> None:
        super().__init__()
        self.GC = GC(2 * R5_CHANNELS, MDIM)
        self.convG1 = nn.Conv2d(MDIM, MDIM, kernel_size=3, padding=1)
        self.convG2 = nn.Conv2d(MDIM, MDIM, kernel_size=3, padding=1)
        self.RF4 = Refine(1024, MDIM)
        self.RF3 = Refine(512, MDIM)
        self.RF2 = Refine(256, MDIM)
        self.pred5 = nn.Conv2d(MDIM, 2, kernel_size=3, padding=1)
        self.pred4 = nn.Conv2d(MDIM, 2, kernel_size=3, padding=1)
        self.pred3 = nn.Conv2d(MDIM, 2, kernel_size=3, padding=1)
        self.pred2 = nn.Conv2d(MDIM, 2, kernel_size=3, padding=1)

    def forward(self, r5: torch.Tensor, x5: torch.Tensor, r4: torch.Tensor, r3: torch.Tensor,
                r2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """r5, r4, r3, r2: the target stream's features; x5: the reference stream's r5 (same shape as r5).

        Returns (p, p2, p3, p4, p5): 2-class logits (background, object) at the input size (p) and at
        1/4, 1/8, 1/16, 1/32 of it. Inference uses ``p``; p3..p5 serve deep supervision in training.
        """
        m5 = self.after_gc(self.GC(torch.cat((r5, x5), dim=1)))
        m4, m3, m2 = self.refine(m5, r4, r3, r2)
        p2 = self.pred2(F.relu(m2))
        p3 = self.pred3(F.relu(m3))
        p4 = self.pred4(F.relu(m4))
        p5 = self.pred5(F.relu(m5))
        return _up(p2, 4), p2, p3, p4, p5

    def after_gc(self, x: torch.Tensor) -> torch.Tensor:
        """The residual block after the GC block: (B, 256, h, w) -> m5."""
        return x + self.convG2(F.relu(self.convG1(F.relu(x))))

    def refine(self, m5: torch.Tensor, r4: torch.Tensor, r3: torch.Tensor, r2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """m5 -> (m4, m3, m2) at 1/16, 1/8, 1/4."""
        m4 = self.RF4(r4, m5)
        m3 = self.RF3(r3, m4)
        m2 = self.RF2(r2, m3)
        return m4, m3, m2


class RGMPNetwork(nn.Module):
    """``Encoder`` (shared by the reference and the target stream) and ``Decoder``; no forward()."""

    def __init__(self, zero_init_residual: bool = True) -> None:
        super().__init__()
        self.Encoder = Encoder(zero_init_residual)
        self.Decoder = Decoder()
