"""The authors' inference procedure written out literally: one stream and one scale at a time.

Not used by :class:`~vostool.methods.rgmp.session.RGMPSession`. It is the yardstick that tests compare
the batched session against and that benchmarks/bench_rgmp.py times it against. It follows run.py's
``Encode_MS``, ``Propagate_MS``, ``Infer_SO`` and ``Infer_MO``: for every stream and every scale the
frame and the guidance are resized, the full Encoder and Decoder run (all four heads), the
two-class softmax is taken and resized back, and the scales are averaged. Only first-frame objects
are supported, as in the authors' code.
"""

from __future__ import annotations

import torch

from vostool.aggregate import soft_aggregate
from vostool.methods.rgmp.geometry import Geometry, resize
from vostool.methods.rgmp.network import RGMPNetwork


def _scaled(frame: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    if tuple(frame.shape[-2:]) == tuple(size):
        return frame, mask
    # The authors' downsample() returns a transposed numpy array, i.e. a channels-last strided frame,
    # so PyTorch runs the resized scales in channels-last memory: kept for honest timings.
    return resize(frame, size).contiguous(memory_format=torch.channels_last), resize(mask.unsqueeze(1), size)[:, 0]


def encode_ms(network: RGMPNetwork, frame: torch.Tensor, mask: torch.Tensor, geometry: Geometry) -> dict[float, torch.Tensor]:
    """Reference stream: frame (1, 3, Hp, Wp), mask (1, Hp, Wp) -> {scale: r5 (1, 2048, h/32, w/32)}."""
    return {s: network.Encoder(*_scaled(frame, mask, size))[0] for s, size in geometry.sizes.items()}


def propagate_ms(network: RGMPNetwork, ref: dict[float, torch.Tensor], frame: torch.Tensor, prev: torch.Tensor,
                 geometry: Geometry) -> torch.Tensor:
    """One stream on one frame: frame (1, 3, Hp, Wp), prev (1, Hp, Wp) soft guidance -> (1, Hp, Wp)."""
    total = torch.zeros_like(prev)
    for s, size in geometry.sizes.items():
        r5, r4, r3, r2 = network.Encoder(*_scaled(frame, prev, size))
        logits = network.Decoder(r5, ref[s], r4, r3, r2)[0]
        fg = torch.softmax(logits, dim=1)[:, 1:2]
        total += resize(fg, geometry.padded)[:, 0]
    return total / len(geometry.scales)


class AuthorsProcedure:
    """``Infer_MO`` one frame at a time: :meth:`start` on the first frame, then :meth:`step`.

    One object: the single-object path (its output fed back as is). Several: one stream per object and
    a background stream on their union, merged with soft aggregation, the merged maps fed back.
    """

    def __init__(self, network: RGMPNetwork, scales: tuple[float, ...] = (0.5, 0.75, 1.0), rule: str = "authors") -> None:
        self.network = network
        self.scales = tuple(scales)
        self.rule = rule

    def start(self, frame: torch.Tensor, labels: torch.Tensor, object_ids: tuple[int, ...]) -> torch.Tensor:
        """frame (3, H, W) in [0, 1], labels (H, W) -> (1+K, H, W) one-hot probabilities."""
        self.geometry = Geometry(frame.shape[-2], frame.shape[-1], self.scales, self.rule)  # type: ignore[arg-type]
        padded = self.geometry.pad_tensor(frame.float().unsqueeze(0))
        masks = self.geometry.pad_tensor(torch.stack([(labels == oid).float() for oid in object_ids]))  # (K, Hp, Wp)
        self.refs = [encode_ms(self.network, padded, masks[k:k + 1], self.geometry) for k in range(len(object_ids))]
        if len(object_ids) > 1:
            self.ref_bg = encode_ms(self.network, padded, masks.sum(dim=0, keepdim=True), self.geometry)
        self.estimate = torch.cat([1 - masks.sum(dim=0, keepdim=True), masks])  # (1+K, Hp, Wp)
        return self.geometry.crop(self.estimate)

    def step(self, frame: torch.Tensor) -> torch.Tensor:
        """The next frame (3, H, W) -> (1+K, H, W) probabilities."""
        padded = self.geometry.pad_tensor(frame.float().unsqueeze(0))
        previous = self.estimate
        fg = [propagate_ms(self.network, ref, padded, previous[k + 1:k + 2], self.geometry) for k, ref in enumerate(self.refs)]
        if len(self.refs) == 1:
            self.estimate = torch.cat([1 - fg[0], fg[0]])
        else:
            bg = 1 - propagate_ms(self.network, self.ref_bg, padded, previous[1:].sum(dim=0, keepdim=True), self.geometry)
            self.estimate = soft_aggregate(torch.cat(fg), bg[0])
        # The authors keep ``.data`` of every output, so with autograd on no graph spans frames.
        self.estimate = self.estimate.detach()
        return self.geometry.crop(self.estimate)


def infer(network: RGMPNetwork, frames: list[torch.Tensor], labels: torch.Tensor, object_ids: tuple[int, ...],
          scales: tuple[float, ...] = (0.5, 0.75, 1.0), rule: str = "authors") -> list[torch.Tensor]:
    """``Infer_MO`` on a whole clip: frames (3, H, W) in [0, 1], first-frame labels (H, W) -> per frame
    (1+K, H, W) probabilities."""
    procedure = AuthorsProcedure(network, scales, rule)
    return [procedure.start(frames[0], labels, object_ids)] + [procedure.step(f) for f in frames[1:]]
