"""Merging per-object foreground probabilities into one distribution, and turning it into labels.

This is the only place aggregation is written. Two rules:

``soft`` — soft aggregation, RGMP paper eq. (1), the default for every method::

    p_m = (p̂_m / (1 - p̂_m)) / Σ_j (p̂_j / (1 - p̂_j)),   m = 0 (background), 1..K

i.e. a softmax of the logits. The background estimate p̂_0 is given (RGMP runs a separate network
stream for it) or derived from the objects: ``1 - max``-style ``min_k(1 - p̂_k)`` (FRTM) or
``Π_k (1 - p̂_k)`` (STM).

``frtm`` — the variant in FRTM's code (tracker.py): background ``min_k(1 - p̂_k)``, a softmax over
the *odds* (not the log-odds), then every pixel keeps only its winner's value. Its label rule (a second
merge pass) is equivalent to: object k where k wins and its value is > 0.5, else background. We
return it as a distribution whose argmax gives exactly that label: channel k holds the winner's value
v, channel 0 holds ``1 - Σ_k``, which is ``1 - v`` where an object wins and 1 where the background wins.
The object channels are the masks FRTM's target models learn from.
"""

from __future__ import annotations

from typing import Literal

import torch

MergeRule = Literal["soft", "frtm"]
BackgroundRule = Literal["min", "prod"]

EPS = 1e-7


def background_from_objects(fg: torch.Tensor, rule: BackgroundRule = "min") -> torch.Tensor:
    """Background probability from per-object probabilities. fg: (K, H, W) -> (H, W)."""
    if fg.shape[0] == 0:
        return torch.ones(fg.shape[1:], dtype=fg.dtype, device=fg.device)
    if rule == "min":
        return (1 - fg).amin(dim=0)
    if rule == "prod":
        return (1 - fg).prod(dim=0)
    raise ValueError(f"unknown background rule {rule!r}")


def soft_aggregate(fg: torch.Tensor, bg: torch.Tensor | None = None, bg_rule: BackgroundRule = "min") -> torch.Tensor:
    """RGMP eq. (1). fg: (K, H, W) object probabilities; bg: optional (H, W) background estimate.

    Returns (1+K, H, W) probabilities summing to 1 over dim 0 (channel 0 = background).
    """
    fg = fg.float()
    if bg is None:
        bg = background_from_objects(fg, bg_rule)
    p = torch.cat([bg.float().unsqueeze(0), fg], dim=0).clamp(EPS, 1 - EPS)
    return torch.softmax(torch.log(p / (1 - p)), dim=0)


def frtm_aggregate(fg: torch.Tensor) -> torch.Tensor:
    """FRTM's code variant (see module docstring). fg: (K, H, W) -> (1+K, H, W), sums to 1."""
    fg = fg.float()
    p = torch.cat([fg.new_zeros((1, *fg.shape[1:])), fg], dim=0).clamp(EPS, 1 - EPS)
    p[0] = (1 - p[1:]).amin(dim=0)  # from the clamped values, as the authors' code
    segs = torch.softmax(p / (1 - p), dim=0)
    winner = argmax_channels(segs).unsqueeze(0)
    kept = segs * (torch.arange(p.shape[0], device=p.device).view(-1, 1, 1) == winner)
    out = kept.clone()
    out[0] = 1 - kept[1:].sum(dim=0)
    return out


def aggregate(fg: torch.Tensor, rule: MergeRule = "soft", bg: torch.Tensor | None = None, bg_rule: BackgroundRule = "min") -> torch.Tensor:
    """Dispatch on the merge rule. fg: (K, H, W) -> (1+K, H, W)."""
    if rule == "soft":
        return soft_aggregate(fg, bg, bg_rule)
    if rule == "frtm":
        if bg is not None:
            raise ValueError("the frtm merge derives the background itself")
        return frtm_aggregate(fg)
    raise ValueError(f"unknown merge rule {rule!r}")


def argmax_channels(probs: torch.Tensor) -> torch.Tensor:
    """``probs.argmax(dim=0)`` for (C, H, W), first maximum on ties.

    A reduction over the outer dimension is slow on the CPU (30 ms at 480p); over a contiguous last
    dimension it takes 3 ms.
    """
    if probs.device.type == "cpu":
        return probs.permute(1, 2, 0).contiguous().argmax(dim=-1)
    return probs.argmax(dim=0)


def probs_to_labels(probs: torch.Tensor, object_ids: tuple[int, ...] | list[int]) -> torch.Tensor:
    """Argmax over channels, mapped to object ids. probs: (1+K, H, W) -> (H, W) uint8."""
    # Built on the host and copied without blocking: torch.tensor(..., device="cuda") would wait for the
    # GPU to finish the frame before the argmax is even queued.
    lut = torch.tensor([0, *object_ids], dtype=torch.uint8).to(probs.device, non_blocking=True)
    return lut[argmax_channels(probs)]
