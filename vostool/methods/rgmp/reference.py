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
    return resize(frame, size), resize(mask.unsqueeze(1), size)[:, 0]


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


def infer(network: RGMPNetwork, frames: list[torch.Tensor], labels: torch.Tensor, object_ids: tuple[int, ...],
          scales: tuple[float, ...] = (0.5, 0.75, 1.0), rule: str = "authors") -> list[torch.Tensor]:
    """``Infer_MO``: frames (3, H, W) in [0, 1], first-frame labels (H, W) -> per frame (1+K, H, W) probabilities.

    One object: the single-object path (its output fed back as is). Several: one stream per object and a
    background stream on their union, merged with soft aggregation, the merged maps fed back.
    """
    height, width = frames[0].shape[-2:]
    geometry = Geometry(height, width, tuple(scales), rule)  # type: ignore[arg-type]
    padded = [geometry.pad_tensor(f.float().unsqueeze(0)) for f in frames]
    masks = geometry.pad_tensor(torch.stack([(labels == oid).float() for oid in object_ids]))  # (K, Hp, Wp)
    if len(object_ids) == 1:
        ref = encode_ms(network, padded[0], masks[:1], geometry)
        estimate = masks[:1]
        outputs = [torch.cat([1 - estimate, estimate])]
        for frame in padded[1:]:
            estimate = propagate_ms(network, ref, frame, estimate, geometry)
            outputs.append(torch.cat([1 - estimate, estimate]))
        return [geometry.crop(p) for p in outputs]
    ref_bg = encode_ms(network, padded[0], masks.sum(dim=0, keepdim=True), geometry)
    refs = [encode_ms(network, padded[0], masks[k:k + 1], geometry) for k in range(len(object_ids))]
    estimate = torch.cat([1 - masks.sum(dim=0, keepdim=True), masks])  # (1+K, Hp, Wp)
    outputs = [estimate]
    for frame in padded[1:]:
        bg = 1 - propagate_ms(network, ref_bg, frame, estimate[1:].sum(dim=0, keepdim=True), geometry)
        fg = [propagate_ms(network, refs[k], frame, estimate[k + 1:k + 2], geometry) for k in range(len(object_ids))]
        estimate = soft_aggregate(torch.cat(fg), bg[0])
        outputs.append(estimate)
    return [geometry.crop(p) for p in outputs]
