"""RGMP's training (Oh et al., CVPR 2018, section 3.2; ``seoungwugoh/RGMP`` at commit
652b6f7 releases inference code only, so training follows the paper).

Everything trains except the encoder's BatchNorm (frozen, in eval mode, as at inference;
``bn_affine`` trains its scale and shift, never its statistics; ``freeze_bn=false`` trains all of it on
batch statistics, not the paper's). One training step, per clip of the batch:

* stage 1 (simulated pairs, :mod:`vostool.methods.rgmp.pairs`): the reference stream encodes the
  reference image with its mask, the target stream the target image with the simulated guidance;
  the loss is the cross-entropy of the decoder's output ``p`` against the target's mask;
* stage 2 (video, with recurrence): the reference stream runs once; the first guidance is the
  ground truth of the frame before the first target, and each target's softmax object probability
  (not binarised, not detached) is the next target's guidance, so the loss, the sum of the
  per-frame cross-entropies, back-propagates through time (BPTT, the paper's Fig. 4).

With ``deep_supervision`` the side outputs p3, p4 and p5, upsampled to the input size (bilinear,
``align_corners=True`` like the network's own upsampling), add their cross-entropies. ``iou_weight``
> 0 adds a soft IoU term on ``p`` (not in the paper).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vostool.training.contract import TrainingEnv
from vostool.methods.rgmp.recipe import RGMPRecipe


def _iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of (object logit > background logit) and ``target`` over the whole batch (empty/empty = 1)."""
    pred = logits[:, 1] > logits[:, 0]
    union = (pred | target).sum()
    return (pred & target).sum() / union if union > 0 else torch.ones((), device=logits.device)


def soft_iou_loss(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - (Σ min(p, g) + 1) / (Σ max(p, g) + 1)`` per sample, averaged: prob (B, H, W) object
    probability, target (B, H, W) bool. Smoothed by one pixel (unlike MUNet's term) so that a frame
    whose object has left still pulls a stray prediction towards empty, and an empty prediction of an
    empty target scores 0."""
    g = target.float().flatten(1)
    p = prob.flatten(1)
    inter = torch.minimum(p, g).sum(1)
    union = torch.maximum(p, g).sum(1)
    return (1 - (inter + 1) / (union + 1)).mean()


class RGMPTraining(nn.Module):
    """``forward(batch)`` -> ``{"loss", "ce", "iou"}`` (see the module docstring)."""

    def __init__(self, method, recipe: RGMPRecipe, env: TrainingEnv) -> None:
        super().__init__()
        if recipe.init:
            env.load_init(method, recipe.init)  # e.g. stage 2 from stage 1's last.pt (strict)
        self.network = method.network
        if recipe.bn_affine or not recipe.freeze_bn:
            for m in self._encoder_batchnorms():
                m.requires_grad_(True)
        self.recipe = recipe
        self.env = env
        # Without deep supervision the side heads pred3..pred5 get no gradient (DDP must know).
        self.find_unused_parameters = not recipe.deep_supervision

    def _encoder_batchnorms(self) -> list[nn.BatchNorm2d]:
        return [m for m in self.network.Encoder.modules() if isinstance(m, nn.BatchNorm2d)]

    def train(self, mode: bool = True) -> "RGMPTraining":
        super().train(mode)  # the Encoder keeps its BatchNorm in eval mode
        if not self.recipe.freeze_bn:
            for m in self._encoder_batchnorms():
                m.train(mode)
        return self

    def clip_dataset(self, sources: Sequence, recipe: RGMPRecipe, seed: int):
        """The stage's samples (the trainer calls this instead of building a plain ClipDataset)."""
        from vostool.methods.rgmp.training_data import clip_dataset

        return clip_dataset(sources, recipe, seed)

    def _encode(self, frames255: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, 3, H, W) 0..255, (B, H, W) in [0, 1] -> (r5, r4, r3, r2)."""
        return self.network.Encoder(frames255.float() / 255, masks.float())

    def _loss(self, outputs: tuple[torch.Tensor, ...], target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, cross-entropy of p): the cross-entropy of p (B, 2, H, W) against target (B, H, W) bool, plus
        those of p3..p5 with deep supervision and the soft IoU term with ``iou_weight``."""
        labels = target.long()
        ce = F.cross_entropy(outputs[0].float(), labels)
        loss = ce
        if self.recipe.iou_weight:
            loss = loss + self.recipe.iou_weight * soft_iou_loss(torch.softmax(outputs[0].float(), dim=1)[:, 1], target)
        if self.recipe.deep_supervision:
            for side in outputs[2:]:
                up = F.interpolate(side.float(), size=labels.shape[-2:], mode="bilinear", align_corners=True)
                loss = loss + F.cross_entropy(up, labels)
        return loss, ce.detach()

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch: frames (B, T, 3, H, W) uint8, labels (B, T, H, W) uint8 (1 = object); stage 1 also
        guidance (B, 1, H, W) uint8. Frame 0 is the reference. ``ce`` is the mean per-frame cross-entropy
        of p alone, ``loss`` the sum of every term over the frames."""
        frames, labels = batch["frames"], batch["labels"] == 1
        reference = self._encode(frames[:, 0], labels[:, 0])[0]
        if self.recipe.stage == 1:
            steps = [(frames[:, 1], labels[:, 1])]
            guidance = batch["guidance"][:, 0].float()
        else:
            steps = [(frames[:, t], labels[:, t]) for t in range(2, frames.shape[1])]
            guidance = labels[:, 1].float()
        total = frames.new_zeros((), dtype=torch.float32)
        ce = frames.new_zeros((), dtype=torch.float32)
        iou = frames.new_zeros((), dtype=torch.float32)
        for frame, target in steps:
            r5, r4, r3, r2 = self._encode(frame, guidance)
            outputs = self.network.Decoder(r5, reference, r4, r3, r2)
            loss, frame_ce = self._loss(outputs, target)
            total, ce = total + loss, ce + frame_ce
            iou = iou + _iou(outputs[0].detach(), target)
            # The soft output is the next guidance, with its gradient: back-propagation through time.
            guidance = torch.softmax(outputs[0].float(), dim=1)[:, 1]
        return {"loss": total, "ce": ce / len(steps), "iou": iou / len(steps)}


def training_module(method, recipe: RGMPRecipe | None, env: TrainingEnv | None) -> RGMPTraining:
    return RGMPTraining(method, recipe or RGMPRecipe(), env or TrainingEnv())
