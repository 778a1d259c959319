"""MUNet's loss (paper eq. 4): bootstrapped *binary* cross-entropy over the hardest pixels of each
object's map plus the soft (mask-)IoU loss, on per-object maps (N, H, W).

Not :mod:`vostool.methods.stm.losses`: STM-cycle's criterion is a multi-class cross-entropy over the
aggregated (1+K, H, W) distribution with the authors' ``log(p + 1e-5)``; the paper defines MUNet's
per object, so the two are different losses, not copies."""

from __future__ import annotations

import torch

EPS = 1e-7


def bootstrapped_bce(prob: torch.Tensor, target: torch.Tensor, fraction: float = 0.4) -> torch.Tensor:
    """Mean binary cross-entropy of the hardest ``fraction`` of pixels of every map, averaged over maps.

    prob, target: (N, H, W) probabilities and {0, 1} (or soft) targets. At least one pixel per map.
    """
    p = prob.float().clamp(EPS, 1 - EPS)
    t = target.float()
    losses = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).flatten(1)  # (N, HW)
    k = max(1, int(round(fraction * losses.shape[1])))
    return losses.topk(k, dim=1).values.mean()


def soft_iou_loss(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - sum(min(M, M^)) / sum(max(M, M^))`` per map, averaged. prob, target: (N, H, W).
    A map where both are exactly empty counts 0 (nothing to get wrong)."""
    p, t = prob.float(), target.float()
    inter = torch.minimum(p, t).sum(dim=(-2, -1))
    union = torch.maximum(p, t).sum(dim=(-2, -1))
    return torch.where(union > 0, 1 - inter / union.clamp(min=EPS), torch.zeros_like(union)).mean()


def munet_loss(prob: torch.Tensor, target: torch.Tensor, fraction: float = 0.4,
               iou_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L = L_bsce + lambda * L_miou over (N, H, W) maps -> (total, bsce, miou)."""
    bsce = bootstrapped_bce(prob, target, fraction)
    miou = soft_iou_loss(prob, target)
    return bsce + iou_weight * miou, bsce, miou
