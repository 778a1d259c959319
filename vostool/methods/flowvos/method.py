"""The ``flowvos`` method: STM-cycle plus a flow module whose warped previous mask enters the decoder."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vostool.errors import WeightsError
from vostool.methods.base import Checkpoint, Method
from vostool.methods.flowvos.card import CARD
from vostool.methods.flowvos.flow import FlowRegressor
from vostool.methods.flowvos.options import FlowVOSOptions
from vostool.methods.stm.convert import has_flow_module, read_state_dict, third_channel_of
from vostool.methods.stm.method import finish_network
from vostool.methods.stm.network import STMNetwork


class FlowVOSNetwork(STMNetwork):
    """STM-cycle (``STAN`` in the authors' code) with ``Decoder.flow_mixer`` and ``FlowRegressor``."""

    def __init__(self, third_channel: str = "background") -> None:
        super().__init__(third_channel, flow_mixer=True)
        self.FlowRegressor = FlowRegressor(6, 2)

    def flow(self, prev_norm: torch.Tensor, frame_norm: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised frames t-1 and t -> (B, 2, H, W) flow from t back to t-1."""
        return self.FlowRegressor(torch.cat([prev_norm, frame_norm], dim=1))

    def imagenet_state(self) -> dict[str, torch.Tensor]:
        from vostool.methods.backbones import load_imagenet_state

        state = super().imagenet_state()
        imagenet = load_imagenet_state("resnet50")
        state.update({f"FlowRegressor.{k}": imagenet[tv] for tv, k in self.FlowRegressor.imagenet_keys().items()})
        return state


class FlowVOS(Method):
    """FlowVOS (Gong, Holsinger, Yeung, BMVC 2021).

    STM-cycle (STM whose memory encoder sees 1 - own mask) plus a U-Net flow module on frames t-1 and
    t. The flow warps the previous soft output backwards (grid_sample, bilinear, border); the warped
    map, rounded to a mask, is concatenated with the decoder's last refinement features upsampled to
    full resolution and mixed by a 3x3 convolution before the prediction layer. Runs at short side
    240 by default (the authors' 240x427). No weights are public.
    """

    name = CARD.name
    Options = CARD.options
    Recipe = CARD.recipe
    default_size = 240

    @classmethod
    def build_network(cls, options: FlowVOSOptions, pretrained_backbone: bool = False) -> nn.Module:
        return finish_network(FlowVOSNetwork(options.third_channel), pretrained_backbone)

    @classmethod
    def convert_checkpoint(cls, raw: Any, source: str) -> Checkpoint:
        """A FlowVOS ``*.pth.tar`` ({'epoch', 'state_dict', 'max_skip'}) or its bare state dict."""
        state = read_state_dict(raw, source, "a FlowVOS")
        third = third_channel_of(state, source, "a FlowVOS")
        if not has_flow_module(state):
            raise WeightsError(
                f"{source} has no flow module (FlowRegressor): it is an STM or STM-cycle checkpoint; run it with "
                "--method stm"
            )
        return Checkpoint(state_dict=state, arch={"third_channel": third}, source=source)

    def new_session(self):
        from vostool.methods.flowvos.session import FlowVOSSession

        return FlowVOSSession(self)

    def training_module(self, recipe=None, env=None) -> nn.Module:
        """Two-stage training with the flow losses; see vostool.methods.flowvos.training."""
        from vostool.methods.flowvos.training import training_module

        return training_module(self, recipe, env)
