"""STM-cycle's training losses (``libs/utils/loss.py``), also FlowVOS's segmentation and Mask Flow losses.

Both take a distribution over background and K objects, ``probs`` (1+K, H, W), and the one-hot target
``target`` (1+K, H, W) of the same shape.
"""

from __future__ import annotations

import torch

LOG_EPS = 1e-5  # -log(p + 1e-5), as the authors


def bootstrapped_cross_entropy(probs: torch.Tensor, target: torch.Tensor, fraction: float = 0.4) -> torch.Tensor:
    """Mean of the ``fraction`` largest per-pixel cross-entropies ``-Σ_c target_c log(probs_c + 1e-5)``
    (the hardest pixels; at least one pixel). probs, target: (1+K, H, W) -> scalar."""
    per_pixel = -(target * torch.log(probs + LOG_EPS)).sum(dim=0).flatten()
    count = max(1, int(fraction * per_pixel.numel()))
    return per_pixel.topk(count, sorted=False).values.mean()


def soft_iou_loss(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - Σ min(p, g) / Σ max(p, g)`` per object channel (1..K), averaged over objects.
    probs, target: (1+K, H, W) -> scalar (0 when there is no object channel)."""
    p, g = probs[1:].flatten(1), target[1:].flatten(1)
    if p.shape[0] == 0:
        return probs.sum() * 0
    inter = torch.minimum(p, g).sum(dim=1)
    union = torch.maximum(p, g).sum(dim=1).clamp(min=1e-6)
    return (1 - inter / union).mean()


def mask_loss(probs: torch.Tensor, target: torch.Tensor, fraction: float = 0.4) -> torch.Tensor:
    """STM-cycle's criterion: bootstrapped cross-entropy + soft IoU (weights 1)."""
    return bootstrapped_cross_entropy(probs, target, fraction) + soft_iou_loss(probs, target)
