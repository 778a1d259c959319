"""The ``stm`` method: the network, its checkpoint conversion and sessions."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vostool.errors import WeightsError
from vostool.methods.base import Checkpoint, Method
from vostool.methods.stm.card import CARD
from vostool.methods.stm.convert import has_flow_module, read_state_dict, third_channel_of
from vostool.methods.stm.network import STMNetwork
from vostool.methods.stm.options import STMOptions


def finish_network(network: STMNetwork, pretrained_backbone: bool) -> nn.Module:
    """ImageNet trunks if asked, then channels-last parameters: oneDNN (CPU) and cuDNN run these
    convolutions faster on NHWC tensors, with the same results up to float rounding."""
    if pretrained_backbone:
        state = network.state_dict()
        state.update(network.imagenet_state())
        network.load_state_dict(state, strict=True)
    return network.to(memory_format=torch.channels_last)


class STM(Method):
    """STM: Space-Time Memory networks (Oh et al., ICCV 2019).

    Every memorised frame is encoded (ResNet-50 with the object's mask and a third map) into keys and
    values at stride 16; the query frame's key attends to all memorised positions, the read values
    and the query's own value go through a refinement decoder to a full-resolution mask. Memory:
    frame 0, every 5th frame, and the previous frame with its soft estimate. Objects are merged by
    soft aggregation (background = product of (1 - p)). Also runs STM-cycle checkpoints (Li et al.,
    NeurIPS 2020), whose third encoder input is the object's own background.
    """

    name = CARD.name
    Options = CARD.options
    Recipe = CARD.recipe

    @classmethod
    def build_network(cls, options: STMOptions, pretrained_backbone: bool = False) -> nn.Module:
        return finish_network(STMNetwork(options.third_channel), pretrained_backbone)

    @classmethod
    def default_weights(cls, options: STMOptions) -> str:
        return "stm"

    @classmethod
    def convert_checkpoint(cls, raw: Any, source: str) -> Checkpoint:
        """STM's ``STM_weights.pth`` or an STM-cycle ``*.pth.tar`` (see vostool.methods.stm.convert)."""
        what = "an STM or STM-cycle"
        state = read_state_dict(raw, source, what)
        if has_flow_module(state):
            raise WeightsError(f"{source} is a FlowVOS checkpoint (it has a FlowRegressor); use --method flowvos")
        return Checkpoint(state_dict=state, arch={"third_channel": third_channel_of(state, source, what)}, source=source)

    def new_session(self):
        from vostool.methods.stm.session import STMSession

        return STMSession(self)

    def training_module(self, recipe=None, env=None) -> nn.Module:
        """Trains the whole network with STM-cycle's recipe; see vostool.methods.stm.training."""
        from vostool.methods.stm.training import training_module

        return training_module(self, recipe, env)
