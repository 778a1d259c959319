"""All of RGMP's streams of one video, run together: references cached per stream and scale, one
batched Encoder+Decoder pass per scale and frame.

A *stream* is one run of the network with its own reference (an object, or the background stream
on the union of all objects). What the authors' procedure repeats per stream although it does not
depend on the stream is done once here, and what does not depend on the frame is done once per
stream:

* the frame is resized to each scale, normalised and put through ``conv1`` once; the mask enters
  through ``conv1_p`` and is added for each stream (``conv1(f) + conv1_p(p)`` is linear in the two);
* the GC block's first convolutions are linear in concat(current r5, reference r5), so the
  reference half (and the bias) is computed once per stream and scale and stored instead of r5;
* only the output head is evaluated (p3..p5 are training heads), as one channel: the two-class
  softmax equals ``sigmoid(l1 - l0)`` and bilinear upsampling commutes with the difference.

The results equal the per-stream procedure (reference.py) up to float rounding.
"""

from __future__ import annotations

from typing import Hashable

import torch
import torch.nn.functional as F

from vostool.methods.rgmp.geometry import Geometry, resize
from vostool.methods.rgmp.network import R5_CHANNELS, RGMPNetwork


class StreamBank:
    """Cached references of named streams at every scale, and the batched multi-scale pass.

    Streams are keyed (an object id, or ``"background"``). ``max_batch`` bounds how many streams go
    through the network together (0 = all), which bounds memory with many objects; it does not
    change the results.
    """

    def __init__(self, network: RGMPNetwork, geometry: Geometry, max_batch: int = 0) -> None:
        self.network = network
        self.geometry = geometry
        self.max_batch = max_batch
        gc = network.Decoder.GC
        self.memory_format = _memory_format(gc.conv_l1.weight)
        # Split the first GC convolutions into the current-r5 and the reference-r5 halves of their
        # input channels (torch.cat((current, reference)) in the authors' decoder).
        self._current = [w[:, :R5_CHANNELS].contiguous(memory_format=self.memory_format)
                         for w in (gc.conv_l1.weight, gc.conv_r1.weight)]
        self._reference = [w[:, R5_CHANNELS:].contiguous(memory_format=self.memory_format)
                           for w in (gc.conv_l1.weight, gc.conv_r1.weight)]
        self._biases = [gc.conv_l1.bias, gc.conv_r1.bias]
        self._paddings = [gc.conv_l1.padding, gc.conv_r1.padding]
        pred = network.Decoder.pred2
        self._head_weight = (pred.weight[1:2] - pred.weight[0:1]).contiguous(memory_format=self.memory_format)
        self._head_bias = pred.bias[1:2] - pred.bias[0:1]
        # key -> scale -> (left, right): the reference's share of the GC block's first convolutions
        # (bias included), (1, 256, h/32, w/32) each.
        self.refs: dict[Hashable, dict[float, tuple[torch.Tensor, torch.Tensor]]] = {}

    def _chunks(self, count: int) -> list[slice]:
        step = self.max_batch if self.max_batch > 0 else max(count, 1)
        return [slice(i, min(i + step, count)) for i in range(0, count, step)]

    def _image(self, frame: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The frame at one scale through the mask-independent first convolution: (1, 64, h/2, w/2)."""
        x = resize(frame, size).contiguous(memory_format=self.memory_format)
        return self.network.Encoder.image_conv(x)

    def set(self, frame: torch.Tensor, masks: dict[Hashable, torch.Tensor]) -> None:
        """Encode references (new streams, or replacing a stream's reference).

        frame: (1, 3, Hp, Wp) padded, in [0, 1]; masks: key -> (Hp, Wp) in [0, 1].
        """
        keys = list(masks)
        stacked = torch.stack([masks[k].float() for k in keys])
        for k in keys:
            self.refs[k] = {}
        for s, size in self.geometry.sizes.items():
            image = self._image(frame, size)
            for part in self._chunks(len(keys)):
                r5 = self.network.Encoder.trunk(image, resize(stacked[part].unsqueeze(1), size)[:, 0])[0]
                left, right = (F.conv2d(r5, w, b, padding=p) for w, b, p in zip(self._reference, self._biases, self._paddings))
                for i, k in enumerate(keys[part]):
                    self.refs[k][s] = (left[i:i + 1], right[i:i + 1])

    def propagate(self, frame: torch.Tensor, keys: list[Hashable], guidance: torch.Tensor) -> torch.Tensor:
        """Foreground probability of the streams ``keys``, averaged over the scales.

        frame: (1, 3, Hp, Wp) padded, in [0, 1]; guidance: (S, Hp, Wp) soft masks from the previous
        frame, one per key. Returns (S, Hp, Wp) float32.
        """
        total = torch.zeros(guidance.shape, dtype=torch.float32, device=guidance.device)
        for s, size in self.geometry.sizes.items():
            image = self._image(frame, size)
            for part in self._chunks(len(keys)):
                masks = resize(guidance[part].unsqueeze(1), size)[:, 0]
                r5, r4, r3, r2 = self.network.Encoder.trunk(image, masks)
                left = torch.cat([self.refs[k][s][0] for k in keys[part]])
                right = torch.cat([self.refs[k][s][1] for k in keys[part]])
                fg = self._decode(r5, left, right, r4, r3, r2)
                total[part] += resize(fg.float(), self.geometry.padded)[:, 0]
        return total / len(self.geometry.scales)

    def _decode(self, r5: torch.Tensor, ref_left: torch.Tensor, ref_right: torch.Tensor, r4: torch.Tensor,
                r3: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
        """Decoder output as the object probability (B, 1, H, W) at the network's input size."""
        decoder = self.network.Decoder
        left = F.conv2d(r5, self._current[0], padding=self._paddings[0]) + ref_left
        right = F.conv2d(r5, self._current[1], padding=self._paddings[1]) + ref_right
        m5 = decoder.after_gc(decoder.GC.second(left, right))
        m2 = decoder.refine(m5, r4, r3, r2)[2]
        diff = F.conv2d(F.relu(m2), self._head_weight, self._head_bias, padding=decoder.pred2.padding)
        return torch.sigmoid(F.interpolate(diff, scale_factor=4, mode="bilinear", align_corners=True))


def _memory_format(weight: torch.Tensor) -> torch.memory_format:
    if weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
