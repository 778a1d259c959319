"""TVOS's embedding network: a ResNet at output stride 8 and a 1x1 projection to 256 channels.

The authors' ResNet (``modeling/backbone/resnet.py``) is torchvision's with layer3 at stride 1 and
layer4 rebuilt as ``_make_layer(block, 256, n, stride=1)``: no dilation, 256 planes, so ResNet-50/101
end with 1024 channels (not 2048) and ResNet-18 with 256. ResNet-50/101 add ``adjust_dim``
(Conv 1024->256, no bias) and ``bn256`` (BatchNorm), with no ReLU and no normalisation after them.
The modules here are torchvision's own blocks, so after key conversion the authors' checkpoints load
strictly: ``backbone.{conv1,bn1,layer1..layer4}``, ``adjust_dim``, ``bn256``.
"""

from __future__ import annotations

import torch
from torch import nn

EMBEDDING_CHANNELS = 256
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _init_stage(stage: nn.Sequential, zero_init_residual: bool) -> None:
    """The authors' init for a rebuilt stage: He-normal convs (fan_out), BN weight 1 and bias 0.

    ``zero_init_residual`` zeroes each block's last BN weight instead, so that an untrained network
    (``--untrained``) keeps bounded activations.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    for module in stage.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        for block in stage:
            last = block.bn3 if isinstance(block, Bottleneck) else block.bn2
            assert isinstance(block, (BasicBlock, Bottleneck))
            nn.init.zeros_(last.weight)


def _stride1_stage(block: type, inplanes: int, planes: int, blocks: int, zero_init_residual: bool) -> nn.Sequential:
    """torchvision's ``_make_layer`` with stride 1 and no dilation (a 1x1 projection when widths differ)."""
    from torchvision.models.resnet import conv1x1

    width = planes * block.expansion
    downsample = None
    if inplanes != width:
        downsample = nn.Sequential(conv1x1(inplanes, width, 1), nn.BatchNorm2d(width))
    layers = [block(inplanes, planes, 1, downsample)] + [block(width, planes) for _ in range(blocks - 1)]
    stage = nn.Sequential(*layers)
    _init_stage(stage, zero_init_residual)
    return stage


class TVOSResNet(nn.Module):
    """conv1, bn1, relu, maxpool, layer1, layer2 (stride 8), layer3 and layer4 at stride 1.

    Input: normalised (B, 3, H, W); output (B, 1024 or 256, ceil(H/8), ceil(W/8)).
    """

    def __init__(self, arch: str = "resnet50", zero_init_residual: bool = True) -> None:
        super().__init__()
        import torchvision.models as tvm
        from torchvision.models.resnet import BasicBlock, Bottleneck

        if arch not in ("resnet18", "resnet50", "resnet101"):
            raise ValueError(f"unknown TVOS backbone {arch!r}")
        net = getattr(tvm, arch)(weights=None, zero_init_residual=zero_init_residual)
        block = BasicBlock if arch == "resnet18" else Bottleneck
        self.arch = arch
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2 = net.layer1, net.layer2
        self.layer3 = _stride1_stage(block, 128 * block.expansion, 256, len(net.layer3), zero_init_residual)
        self.layer4 = _stride1_stage(block, 256 * block.expansion, 256, len(net.layer4), zero_init_residual)
        self.out_channels = 256 * block.expansion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def load_imagenet(self) -> None:
        """torchvision's ImageNet V1 weights for everything but layer4 (the authors' ``resnet.py``)."""
        from vostool.methods.backbones import load_imagenet_state

        state = {k: v for k, v in load_imagenet_state(self.arch).items() if not k.startswith(("fc.", "layer4."))}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("layer4.") for k in missing):
            raise RuntimeError(f"ImageNet weights do not fit the TVOS {self.arch}: {missing[:3]} {unexpected[:3]}")


class TVOSNetwork(nn.Module):
    """The embedding network: images (B, 3, H, W) in [0, 1] -> (B, 256, ceil(H/8), ceil(W/8)).

    ImageNet normalisation (the authors' ``Normalize``) happens inside, on the [0, 1] input.
    """

    def __init__(self, backbone: str = "resnet50", zero_init_residual: bool = True) -> None:
        super().__init__()
        self.backbone = TVOSResNet(backbone, zero_init_residual)
        self.has_head = self.backbone.out_channels != EMBEDDING_CHANNELS
        if self.has_head:
            self.adjust_dim = nn.Conv2d(self.backbone.out_channels, EMBEDDING_CHANNELS, kernel_size=1, bias=False)
            self.bn256 = nn.BatchNorm2d(EMBEDDING_CHANNELS)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) / self.std
        x = self.backbone(x)
        if self.has_head:
            x = self.bn256(self.adjust_dim(x))
        return x
