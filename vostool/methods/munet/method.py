"""The ``munet`` method: STM plus the motion branch (MU-Layer + MSAM) on the query feature."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vostool.errors import WeightsError
from vostool.methods.base import Checkpoint, Method
from vostool.methods.munet.card import CARD
from vostool.methods.munet.network import NEW_PREFIXES, MUNetNetwork, stm_init_state
from vostool.methods.munet.options import MUNetOptions
from vostool.methods.stm.method import STM, finish_network

STM_PREFIX = "stm:"


class MUNet(Method):
    """MUNet: motion uncertainty-aware semi-supervised VOS (Sun, Mao, Dai, Zhong, Wang; no code released).

    STM's space-time memory network whose query feature is enhanced with motion between frames t-1
    and t. Enc-Q (ResNet-50 to layer3, 1024 ch at 1/16) runs once per frame and its feature of frame
    t-1 is kept for frame t. The MU-Layer reduces both to 256 channels (1x1 conv), builds a
    cosine-similarity cost volume over a 25x25 window (outside the map: similarity 0), takes a soft
    displacement (softmax of +similarity; ``displacement_sign=-1`` is the printed softmax of
    -similarity) and the uncertainty map (max similarity over the window), and maps these 3 channels
    through Table 1's 8 convolutions (ReLU after the first 7, "same" padding) to the 1024-channel
    motion feature F^m. MSAM fuses it: F^out = F^s * sigmoid(conv1x1(F^m)) + F^s (``fusion=add``:
    F^s + F^m). The query key/value are embedded from F^out; memory keys/values from Enc-R on the
    frame and the object's mask only (``third_channel=none``; STM's third map is an option).
    Memory read, decoder, memory schedule (frame 0, every 5th, the previous one with its soft
    estimate, optional ``max_memory_frames``), multi-object batching and soft aggregation are STM's.

    Weights: no trained MUNet weights exist. ``--weights stm:SPEC`` (SPEC = a file or ``stm``) or a
    path to an STM checkpoint loads every part shared with STM and leaves the MU-Layer and MSAM at
    their seeded random initialisation; ``--set init_from=SPEC`` does the same when the network is
    built (with ``--untrained`` or for ``vostool train``).

    Training (``vostool train munet``, paper 3.5): see vostool.methods.munet.recipe and .training;
    ``motion=false`` builds the paper's ablation baseline without the MU-Layer and MSAM.
    """

    name = CARD.name
    Options = CARD.options
    Recipe = CARD.recipe
    init_methods = ("stm",)

    @classmethod
    def build_network(cls, options: MUNetOptions, pretrained_backbone: bool = False) -> nn.Module:
        network = MUNetNetwork(options.network_third_channel, options.fusion, options.radius,
                               options.displacement_sign, options.temperature, options.motion)
        return finish_network(network, pretrained_backbone)

    @classmethod
    def init_spec(cls, options: MUNetOptions) -> str | None:
        """``--set init_from=SPEC``: STM weights (a file or stm's named weights; an optional ``stm:``
        prefix is allowed) for every part shared with STM, loaded by vostool.loader.build_method."""
        if not options.init_from:
            return None
        spec = options.init_from
        return STM_PREFIX + (spec[len(STM_PREFIX):] if spec.startswith(STM_PREFIX) else spec)

    @classmethod
    def default_weights(cls, options: MUNetOptions) -> str | None:
        return STM_PREFIX + options.init_from if options.init_from else None

    @classmethod
    def convert_checkpoint(cls, raw: Any, source: str) -> Checkpoint:
        """An STM-family checkpoint (no MUNet checkpoint was ever published): its keys, to initialise
        the shared parts (see :meth:`complete_state_dict`)."""
        checkpoint = STM.convert_checkpoint(raw, source)
        # STM's arch (its memory encoder's third map) does not constrain MUNet's Enc-R: an unused
        # third-map convolution is left out by stm_init_state.
        return Checkpoint(checkpoint.state_dict, {}, source)

    @classmethod
    def checkpoint_from(cls, method: str, checkpoint: Checkpoint) -> Checkpoint:
        """``--weights stm:SPEC``: the converted STM checkpoint, to initialise the shared parts."""
        if method != "stm":
            raise WeightsError(f"munet cannot be initialised from {method} weights")
        return Checkpoint(dict(checkpoint.state_dict), {}, f"{STM_PREFIX}{checkpoint.source}", checkpoint.sha256)

    def complete_state_dict(self, checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
        """A checkpoint without any MU-Layer/MSAM key is an STM initialisation: shared keys from it, the
        new modules as built. A MUNet checkpoint is taken as it is (and loaded strictly)."""
        if any(k.startswith(NEW_PREFIXES) for k in checkpoint.state_dict):
            return checkpoint.state_dict
        return stm_init_state(self.network, checkpoint.state_dict, checkpoint.source)

    def training_module(self, recipe=None, env=None) -> nn.Module:
        """Paper 3.5; see vostool.methods.munet.training."""
        from vostool.methods.munet.training import training_module

        return training_module(self, recipe, env)

    def new_session(self):
        from vostool.methods.munet.session import MUNetSession

        return MUNetSession(self)
