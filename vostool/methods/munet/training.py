"""MUNet's training (paper section 3.5): clips of 6 consecutive frames, frame 0 the reference (memorised
with its ground truth), frames 1-5 segmented recurrently.

Per clip: Enc-Q runs on all frames at once (frame 0's feature is frame 1's F^s_{t-1}); the reduced
features are computed once per frame. Frame t reads a memory of all earlier frames of the clip, frame
0 with its one-hot ground truth and frames 1..t-1 with the network's own soft-aggregated outputs
(gradients flow through them, as at STM-family training); its objects are decoded batched and merged
by soft aggregation (background = prod(1 - p), as the session). The loss of every query frame is
bootstrapped CE on the hardest 40% of pixels plus the soft IoU (lambda 1), per object on the
aggregated probabilities, averaged over objects and frames. There is no loss on the motion branch:
it learns through the segmentation loss only, as in the paper. ``read_loss`` > 0 adds a loss on each
read's attention (:mod:`vostool.methods.stm.read_loss`; not in the paper, off by default).
"""

from __future__ import annotations

import torch
from torch import nn

from vostool.aggregate import soft_aggregate
from vostool.training.contract import TrainingEnv
from vostool.methods.munet.losses import munet_loss
from vostool.methods.munet.recipe import MUNetRecipe
from vostool.methods.stm.memory import memory_read
from vostool.methods.stm.network import crop_padding, pad_to_multiple
from vostool.methods.stm.read_loss import grid_masks, propagation_loss


class MUNetTraining(nn.Module):
    """``forward(batch)`` -> ``{"loss", "bsce", "miou", "iou"}`` (plus ``"read"``, weighted, with ``read_loss``;
    see the module docstring)."""

    def __init__(self, method, recipe: MUNetRecipe, env: TrainingEnv) -> None:
        super().__init__()
        self.network = method.network
        self.network.requires_grad_(True)
        self.recipe = recipe
        self.pad = method.options.resolved_pad
        if recipe.init:
            env.load_init(method, recipe.init)  # strict; a later --resume replaces these weights

    def train(self, mode: bool = True) -> "MUNetTraining":
        super().train(mode)
        if self.recipe.freeze_bn:
            for module in self.network.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self

    def clip_probabilities(self, frames: torch.Tensor, labels: torch.Tensor, objects: int
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """One clip: frames (T, 3, H, W) uint8, labels (T, H, W) with 1..K -> (T-1, 1+K, H, W) soft-aggregated
        probabilities of frames 1..T-1, and the ``read_loss`` term averaged over them (0 when off)."""
        net = self.network
        size = tuple(frames.shape[-2:])
        padded, pad = pad_to_multiple(frames.float() / 255, self.pad)
        norm = net.normalize(padded)
        ids = torch.arange(1, objects + 1, device=labels.device).view(-1, 1, 1)
        first, _ = pad_to_multiple((labels[0] == ids).float(), self.pad)  # (K, H', W')
        r4, r3, r2 = net.encode_query_backbone(norm)  # every frame once
        reduced = net.reduce(r4) if net.motion else None
        keys, values = net.memorize(norm[:1], first)
        mem_keys, mem_values = [keys], [values]
        outputs = []
        read = frames.new_zeros((), dtype=torch.float32)
        if self.recipe.read_loss:
            every, _ = pad_to_multiple((labels.unsqueeze(1) == ids.unsqueeze(0)).float(), self.pad)  # (T, K, H', W')
            pooled = grid_masks(every, tuple(r4.shape[-2:]))  # (T, K, hw)
        for t in range(1, frames.shape[0]):
            feature = net.enhance(r4[t:t + 1], reduced[t:t + 1], reduced[t - 1:t]) if net.motion else r4[t:t + 1]
            query = net.query_features(feature, r3[t:t + 1], r2[t:t + 1])
            all_keys = torch.cat(mem_keys, 1)
            if self.recipe.read_loss:
                mem_masks = pooled[:t].permute(1, 0, 2).flatten(1)  # (K, t*hw), memory order: frames 0..t-1
                read = read + propagation_loss(all_keys, query.key, mem_masks, pooled[t]) / (frames.shape[0] - 1)
            logits = net.read_and_decode(memory_read(all_keys, torch.cat(mem_values, 1), query.key), query,
                                         tuple(padded.shape[-2:]))
            fg = torch.softmax(logits.float(), dim=1)[:, 1]  # (K, H', W')
            probs = soft_aggregate(fg, bg_rule="prod")
            outputs.append(crop_padding(probs, pad))
            if t < frames.shape[0] - 1:
                keys, values = net.memorize(norm[t:t + 1], probs[1:])
                mem_keys.append(keys)
                mem_values.append(values)
        assert outputs[0].shape[-2:] == size
        return torch.stack(outputs), read

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch: frames (B, T, 3, H, W) uint8, labels (B, T, H, W) uint8 (0 background, 1..K), num_objects (B,)."""
        r = self.recipe
        total, bsce, miou, iou, read_total = (batch["frames"].new_zeros((), dtype=torch.float32) for _ in range(5))
        num = batch["frames"].shape[0]
        for b in range(num):
            objects = max(1, int(batch["num_objects"][b]))
            labels = batch["labels"][b].long()
            probs, read = self.clip_probabilities(batch["frames"][b], labels, objects)  # (T-1, 1+K, H, W)
            ids = torch.arange(1, objects + 1, device=labels.device).view(1, -1, 1, 1)
            target = (labels[1:].unsqueeze(1) == ids).float()  # (T-1, K, H, W)
            loss, part_bsce, part_miou = munet_loss(probs[:, 1:].flatten(0, 1), target.flatten(0, 1),
                                                    r.bootstrap_fraction, r.iou_weight)
            total = total + (loss + r.read_loss * read) / num
            read_total = read_total + r.read_loss * read.detach() / num
            bsce = bsce + part_bsce.detach() / num
            miou = miou + part_miou.detach() / num
            pred = probs.detach().argmax(dim=1, keepdim=True) == ids  # (T-1, K, H, W)
            inter = (pred & (target > 0)).sum(dim=(-2, -1)).float()
            union = (pred | (target > 0)).sum(dim=(-2, -1)).float()
            iou = iou + torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean() / num
        out = {"loss": total, "bsce": bsce, "miou": miou, "iou": iou}
        if r.read_loss:
            out["read"] = read_total
        return out


def training_module(method, recipe: MUNetRecipe | None, env: TrainingEnv | None) -> MUNetTraining:
    return MUNetTraining(method, recipe or MUNetRecipe(), env or TrainingEnv())
