"""The TVOS method: embedding network, checkpoint conversion, sessions."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vostool.methods.base import Checkpoint, Method
from vostool.methods.tvos.card import CARD
from vostool.methods.tvos.convert import convert_checkpoint
from vostool.methods.tvos.model import TVOSNetwork
from vostool.methods.tvos.options import TVOSOptions


class TVOS(Method):
    """TVOS (Zhang et al., CVPR 2020): transductive label propagation.

    Every frame is embedded once (256-d, stride 8). A frame's labels are propagated from up to 9
    earlier frames (3 dense, 6 sparse over the last 44) by a softmax over the dot products with all
    their pixels jointly, weighted by a Gaussian spatial prior; the hard result joins the history.
    All objects are propagated together.
    """

    name = CARD.name
    Options = CARD.options
    Recipe = CARD.recipe
    # --weights demo: the learning proof's setting (docs/benchmarks.md), cut to 5 minutes.
    demo_training = CARD.demo

    @classmethod
    def build_network(cls, options: TVOSOptions, pretrained_backbone: bool = False) -> nn.Module:
        # Untrained networks zero-init each residual branch (bounded activations); with ImageNet
        # weights layer4 keeps the authors' init (it is trained from scratch there).
        network = TVOSNetwork(options.backbone, zero_init_residual=not pretrained_backbone)
        if pretrained_backbone:
            network.backbone.load_imagenet()
        # oneDNN runs these convolutions faster on NHWC tensors; results equal up to float rounding.
        return network.to(memory_format=torch.channels_last)

    @classmethod
    def default_weights(cls, options: TVOSOptions) -> str | None:
        # Trained on DAVIS-2017 train only: evaluating on DAVIS val stays clean (the trainval model
        # has seen those videos). The authors released ResNet-50 models only.
        return "tvos_davis_train" if options.backbone == "resnet50" else None

    @classmethod
    def convert_checkpoint(cls, raw: Any, source: str) -> Checkpoint:
        return convert_checkpoint(raw, source)

    def new_session(self):
        from vostool.methods.tvos.session import TVOSSession

        return TVOSSession(self)

    def training_module(self, recipe=None, env=None) -> nn.Module:
        """Trains the whole embedding network; see vostool.methods.tvos.training."""
        from vostool.methods.tvos.training import training_module

        return training_module(self, recipe, env)
