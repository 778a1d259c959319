"""The RGMP method: network, the authors' checkpoint conversion, sessions."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vostool.errors import WeightsError
from vostool.methods.base import Checkpoint, Method
from vostool.methods.rgmp.card import CARD
from vostool.methods.rgmp.network import RGMPNetwork
from vostool.methods.rgmp.options import RGMPOptions
from vostool.state_dicts import load_state_strict

_PROBE = "Encoder.conv1_p.weight"  # the mask convolution: only RGMP's encoder has it
_TORCHVISION_STAGES = {"layer1": "res2", "layer2": "res3", "layer3": "res4", "layer4": "res5"}


class RGMP(Method):
    """RGMP (Oh et al., CVPR 2018): a Siamese ResNet-50 encoder-decoder without online learning.

    The reference stream (first frame + its mask) and the target stream (current frame + the previous
    frame's soft mask) share the encoder; a global-convolution block matches them and a decoder of
    refinement modules produces the mask. Inference averages the scales 0.5, 0.75 and 1.0; several
    objects run as separate streams plus a background stream, merged by soft aggregation.
    """

    name = CARD.name
    Options = CARD.options
    Recipe = CARD.recipe

    @classmethod
    def build_network(cls, options: RGMPOptions, pretrained_backbone: bool = False) -> nn.Module:
        network = RGMPNetwork()
        if pretrained_backbone:
            # The paper initialises the encoder from ImageNet (the mask filters stay random).
            from vostool.methods.backbones import load_imagenet_state

            _load_encoder(network.Encoder, load_imagenet_state("resnet50"), "ImageNet ResNet-50")
        # oneDNN and cuDNN run these convolutions faster on NHWC tensors; results equal up to rounding.
        return network.to(memory_format=torch.channels_last)

    @classmethod
    def convert_checkpoint(cls, raw: Any, source: str) -> Checkpoint:
        """The authors' ``weights.pth``: the state dict of ``nn.DataParallel(RGMP())``.

        Keys ``module.Encoder.…`` / ``module.Decoder.…`` (PyTorch 0.3.1 files lack BatchNorm's
        ``num_batches_tracked``, which strict loading tolerates). A dict holding it under
        ``state_dict`` or ``model``, and keys without ``module.``, are accepted too.
        """
        state = _tensor_dict(raw)
        if state is None and isinstance(raw, dict):
            state = _tensor_dict(raw.get("state_dict")) or _tensor_dict(raw.get("model"))
        if state is None:
            raise WeightsError(f"{source} is not an RGMP checkpoint (expected the state dict of the authors' weights.pth)")
        state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
        if _PROBE not in state:
            sample = ", ".join(list(state)[:2])
            raise WeightsError(f"{source} is not an RGMP checkpoint: no module.{_PROBE} (found {sample})")
        return Checkpoint(state_dict=state, source=source)

    def load_backbone(self, state: dict[str, torch.Tensor], source: str) -> None:
        """``--backbone-weights PATH`` (read by vostool.loader): a torchvision ResNet-50 state dict for the
        encoder (strict; ``fc.*`` ignored; the mask convolution and the normalisation buffers are not
        part of it and stay)."""
        _load_encoder(self.network.Encoder, state, source)
        self.network.to(self.device)

    def new_session(self):
        from vostool.methods.rgmp.session import RGMPSession

        return RGMPSession(self)

    def training_module(self, recipe=None, env=None) -> nn.Module:
        """Stage 1 or 2 of the paper's training; see vostool.methods.rgmp.training."""
        from vostool.methods.rgmp.training import training_module

        return training_module(self, recipe, env)


def _tensor_dict(value: Any) -> dict[str, torch.Tensor] | None:
    """``value`` when it is a non-empty dict of tensors (a state dict), else None."""
    if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
        return value
    return None


def _load_encoder(encoder: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strictly load torchvision ResNet-50 weights (``layer1..4`` -> ``res2..5``, ``fc.*`` dropped) into
    the encoder; its own ``conv1_p`` (the mask filters stay as they are) and ``mean``/``std`` are kept."""
    renamed = {k: v for k, v in encoder.state_dict().items() if k.startswith("conv1_p.") or k in ("mean", "std")}
    for key, value in state.items():
        stage, _, rest = key.partition(".")
        if stage != "fc":
            renamed[f"{_TORCHVISION_STAGES.get(stage, stage)}.{rest}" if rest else key] = value
    load_state_strict(encoder, renamed, source, "rgmp encoder")
