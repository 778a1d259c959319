"""The space-time memory network (STM, Oh et al. ICCV 2019), shared by ``stm``, ``flowvos`` and MUNet.

Parameter names are the authors' (``Encoder_M``, ``Encoder_Q``, ``KV_M_r4``, ``KV_Q_r4``,
``Decoder``), so STM's and STM-cycle's state dicts load strictly once ``module.`` is stripped.
The network is a set of functions on batches (memorise a frame for K objects, encode a query,
decode a memory read; the read itself is :func:`vostool.methods.stm.memory.memory_read`) that
sessions call per video and a training module can call per clip, with gradients.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vostool.methods.stm.memory import from_pixels_last, to_pixels_last
from vostool.methods.stm.modules import Decoder, KeyValue, MemoryEncoder, QueryEncoder

ThirdChannel = str  # "others" (STM) | "background" (STM-cycle, FlowVOS); None: mask only (MUNet's Enc-R)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two dims up to a multiple, split evenly as STM's ``pad_divide_by``
    (left/top get the floor of half). Returns the padded tensor and (left, right, top, bottom)."""
    h, w = x.shape[-2:]
    dh, dw = (-h) % multiple, (-w) % multiple
    pad = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    return (F.pad(x, pad) if dh or dw else x), pad


def crop_padding(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on the last two dims."""
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top:h - bottom, left:w - right]


def third_channel_maps(probs: torch.Tensor, mode: ThirdChannel) -> torch.Tensor:
    """The memory encoder's third input per object. probs: (..., K, H, W) object probabilities.

    ``others``: clamp(sum of the other objects' probabilities, 0, 1) (STM ``memorize``, summed in
    the authors' order: objects before, then objects after); ``background``: clamp(1 - own, 0, 1)
    (STM-cycle ``conv1_bg``).
    """
    if mode == "background":
        return (1 - probs).clamp(0, 1)
    if mode == "others":
        k = probs.shape[-3]
        return torch.stack([(probs[..., :i, :, :].sum(-3) + probs[..., i + 1:, :, :].sum(-3)).clamp(0, 1)
                            for i in range(k)], dim=-3)
    raise ValueError(f"unknown third channel {mode!r}")


class QueryFeatures(NamedTuple):
    """One query frame's object-independent features (batch 1, channels-last)."""

    key: torch.Tensor  # (1, HW, 128) pixels-last
    value: torch.Tensor  # (1, 512, h, w)
    skips: tuple[torch.Tensor, torch.Tensor]  # decoder skip features at 1/8 and 1/4


class STMNetwork(nn.Module):
    """STM. ``third_channel``: meaning of the memory encoder's third input (set by the weights);
    ``flow_mixer``: add FlowVOS's decoder layer that mixes in a warped mask."""

    def __init__(self, third_channel: ThirdChannel | None = "others", flow_mixer: bool = False) -> None:
        super().__init__()
        self.third_channel = third_channel
        self.Encoder_M = MemoryEncoder(third_channel)
        self.Encoder_Q = QueryEncoder()
        self.KV_M_r4 = KeyValue()
        self.KV_Q_r4 = KeyValue()
        self.Decoder = Decoder(flow_mixer=flow_mixer)

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> ImageNet-normalised, as STM's encoders do (same constants as
        STM-cycle's data pipeline)."""
        return (frames - self.Encoder_Q.mean) / self.Encoder_Q.std

    def memorize(self, frame_norm: torch.Tensor, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of one frame for K objects, batched over objects.

        frame_norm: (1, 3, H, W); probs: (K, H, W) each object's probability on that frame.
        Returns keys (K, HW/256, 128) and values (K, HW/256, 512), pixels-last.
        """
        masks = probs.unsqueeze(1).to(frame_norm.dtype)
        third = None
        if self.third_channel is not None:
            third = third_channel_maps(probs, self.third_channel).unsqueeze(1).to(frame_norm.dtype)
        r4 = self.Encoder_M(frame_norm, masks, third)
        keys, values = self.KV_M_r4(r4)
        return to_pixels_last(keys), to_pixels_last(values)

    def encode_query_backbone(self, frame_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder_Q: (B, 3, H, W) -> (r4, r3, r2)."""
        return self.Encoder_Q(frame_norm)

    def query_features(self, r4: torch.Tensor, r3: torch.Tensor, r2: torch.Tensor) -> QueryFeatures:
        """Query key/value from r4 (or a module's transform of it) and the decoder's skips."""
        key, value = self.KV_Q_r4(r4)
        return QueryFeatures(to_pixels_last(key), value, self.Decoder.skips(r3, r2))

    def read_and_decode(self, read: torch.Tensor, query: QueryFeatures, size: tuple[int, int],
                        warp_mask: torch.Tensor | None = None) -> torch.Tensor:
        """read: (K, HW, 512) memory read of K objects -> logits (K, 2, H, W) at ``size``."""
        h, w = query.value.shape[-2:]
        mem = from_pixels_last(read, h, w)
        x = torch.cat([mem, query.value.expand(mem.shape[0], -1, -1, -1)], dim=1)
        return self.Decoder.decode(x, query.skips, size, warp_mask)

    def imagenet_state(self) -> dict[str, torch.Tensor]:
        """Both encoders' trunks from torchvision's ImageNet ResNet-50 (IMAGENET1K_V1, as the authors)."""
        from vostool.methods.backbones import load_imagenet_state

        imagenet = load_imagenet_state("resnet50")
        state = {}
        for name in ("Encoder_M", "Encoder_Q"):
            for tv_key, key in getattr(self, name).imagenet_keys().items():
                state[f"{name}.{key}"] = imagenet[tv_key]
        return state
