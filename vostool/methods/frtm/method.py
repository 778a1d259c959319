"""The FRTM method: network (frozen ImageNet ResNet + refiner), checkpoint conversion, sessions."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vostool.errors import WeightsError
from vostool.methods.backbones import ResNetBackbone, stage_channels
from vostool.methods.base import Checkpoint, Method
from vostool.methods.frtm.card import CARD
from vostool.methods.frtm.options import FRTMOptions
from vostool.methods.frtm.segnet import FRTM_TO_TORCHVISION, TARGET_STAGE, SegNetwork

_BACKBONE_BY_CHANNELS = {1024: "resnet101", 256: "resnet18"}


class FRTMNetwork(nn.Module):
    """``backbone`` (torchvision ResNet, frozen, eval) and ``refiner`` (the authors' SegNetwork).

    The refiner's keys are the authors' ``refiner.*`` keys exactly. FRTM normalises uint8-range input
    inside the extractor as ``x * (1/255/std) - mean/std``; the same float32 constants are kept here.
    """

    def __init__(self, backbone: str = "resnet101") -> None:
        super().__init__()
        self.backbone = ResNetBackbone(backbone)
        channels = stage_channels(backbone)
        self.refiner = SegNetwork({level: channels[stage] for level, stage in FRTM_TO_TORCHVISION.items()})
        stds = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32).view(1, 3, 1, 1)
        means = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("norm_weight", 1 / 255 / stds, persistent=False)
        self.register_buffer("norm_bias", -means / stds, persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)

    def normalize(self, image255: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float with integer values 0..255 -> backbone input (channels-last memory)."""
        x = self.norm_weight * image255 + self.norm_bias
        return x.contiguous(memory_format=torch.channels_last)


class FRTM(Method):
    """FRTM (Robinson et al., CVPR 2020).

    Per object, a linear target model (1x1 conv to 96 channels, 3x3 conv to 1) is learned online by
    Gauss-Newton/CG on stride-16 ResNet features: on the first frame from 5 augmented samples, then
    every 8 frames from a memory of up to 80 past frames labelled with the merged output. Its coarse
    score is refined by an offline-trained segmentation network into a full-resolution mask. Objects
    are merged with the authors' code variant of soft aggregation (``merge=frtm``) by default.
    """

    name = CARD.name
    Options = CARD.options
    Recipe = CARD.recipe
    # `vostool weights build-demo frtm` (vostool.training.demo) trains this recipe.
    demo_training = CARD.demo
    completed_prefixes = ("backbone.",)

    @classmethod
    def build_network(cls, options: FRTMOptions, pretrained_backbone: bool = False) -> nn.Module:
        network = FRTMNetwork(options.backbone)
        if pretrained_backbone:
            network.backbone.load_state_dict(network.backbone.imagenet_state(), strict=True)
        # oneDNN and cuDNN run these convolutions faster on NHWC tensors (R18 at 480p: 120 -> 92 ms on
        # 2 CPU cores); the results are the same up to float rounding.
        return network.to(memory_format=torch.channels_last)

    @classmethod
    def default_weights(cls, options: FRTMOptions) -> str:
        return "rn18_all" if options.backbone == "resnet18" else "rn101_all"

    @classmethod
    def convert_checkpoint(cls, raw: Any, source: str) -> Checkpoint:
        """The authors' ``{'model': {'refiner.…': tensor}, 'epoch': …}`` (or its bare state dict)."""
        state = raw.get("model", raw) if isinstance(raw, dict) else None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise WeightsError(f"{source} is not an FRTM checkpoint (expected a dict with a 'model' state dict)")
        state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
        probe = "refiner.TSE.layer4.reduce.0.weight"
        if probe not in state:
            sample = ", ".join(list(state)[:2]) or "no tensors"
            raise WeightsError(f"{source} is not an FRTM checkpoint: no {probe} (found {sample})")
        channels = int(state[probe].shape[1])
        if channels not in _BACKBONE_BY_CHANNELS:
            raise WeightsError(f"{source}: {probe} has {channels} input channels; FRTM uses 1024 (ResNet-101) or 256 (ResNet-18)")
        return Checkpoint(state_dict=state, arch={"backbone": _BACKBONE_BY_CHANNELS[channels]}, source=source)

    def complete_state_dict(self, checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
        """The authors' files hold only the refiner; the backbone is torchvision's ImageNet V1."""
        state = dict(checkpoint.state_dict)
        if not any(k.startswith("backbone.") for k in state):
            backbone = self.network.backbone.imagenet_state()
            state.update({f"backbone.{k}": v for k, v in backbone.items()})
        return state

    def new_session(self):
        from vostool.methods.frtm.session import FRTMSession

        return FRTMSession(self)

    def training_module(self, recipe=None, env=None) -> nn.Module:
        """Trains the refiner; see vostool.methods.frtm.training."""
        from vostool.methods.frtm.training import training_module

        return training_module(self, recipe, env)
