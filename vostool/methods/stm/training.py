"""STM's offline training, STM-cycle's recipe (``lyxok1/STM-Training`` ``train.py``; spec §3, §4.3).

A sample is a clip of T ordered frames with up to 5 objects. Frame 0 is memorised with its ground
truth; then for t = 1..T-1 frame t is segmented from the memory of *all* earlier clip frames (each
memorised with the network's own soft output, gradients kept), the objects are merged by soft
aggregation, and the loss is bootstrapped cross-entropy (the hardest 40 % of pixels) + soft IoU.
The cycle loss memorises the last frame too and segments frame 0 back from each frame t's memory
alone, when all objects are visible on frame t. A clip's loss is the sum over all terms / (T-1), the
batch's the mean over clips (the authors: one clip per step, 4 accumulated). BatchNorm is frozen.
``read_loss`` > 0 adds a loss on each read's attention (:mod:`vostool.methods.stm.read_loss`; not
STM-cycle's, off by default).

Subclasses (FlowVOS) add a decoder input and extra losses per segmentation through
:meth:`STMTraining.decoder_input`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vostool.aggregate import soft_aggregate
from vostool.training.contract import TrainingEnv
from vostool.methods.stm.losses import mask_loss
from vostool.methods.stm.memory import memory_read
from vostool.methods.stm.network import QueryFeatures, crop_padding, pad_to_multiple
from vostool.methods.stm.read_loss import grid_masks, propagation_loss
from vostool.methods.stm.recipe import STMRecipe


class Clip:
    """One clip on the network's (padded) grid.

    norm (T, 3, H, W) normalised frames; target (T, 1+K, H, W) one-hot ground truth; inside (1, H, W)
    1 on the original pixels, 0 on the padding; pad as returned by ``pad_to_multiple``.
    """

    def __init__(self, network, frames: torch.Tensor, labels: torch.Tensor, num_objects: int, multiple: int) -> None:
        frames, self.pad = pad_to_multiple(frames.float() / 255, multiple)
        self.norm = network.normalize(frames)
        ids = torch.arange(num_objects + 1, device=labels.device).view(1, -1, 1, 1)
        target = (labels.long().unsqueeze(1) == ids).float()
        self.target, _ = pad_to_multiple(target, multiple)
        self.inside, _ = pad_to_multiple(torch.ones_like(target[0, :1]), multiple)
        self.num_objects = num_objects
        self.info: dict = {}

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        return crop_padding(x, self.pad)

    def all_visible(self, t: int) -> bool:
        """Every object has a pixel on frame t (STM-cycle's condition for a cycle step)."""
        return bool((self.target[t, 1:].flatten(1).amax(dim=1) > 0).all())


class STMTraining(nn.Module):
    """``forward(batch)`` -> ``{"loss", "segmentation", "cycle", "iou"}`` (see the module docstring)."""

    def __init__(self, method, recipe: STMRecipe, env: TrainingEnv) -> None:
        super().__init__()
        self.network = method.network
        self.network.requires_grad_(True)
        self.recipe = recipe
        self.env = env
        self.multiple = method.options.resolved_pad
        if recipe.init:
            self.load_initial(method, recipe.init)

    def load_initial(self, method, path: str) -> None:
        """``init``: strictly load weights before training (a later ``--resume`` replaces them)."""
        self.env.load_init(method, path)

    def train(self, mode: bool = True) -> "STMTraining":
        super().train(mode)
        if self.recipe.freeze_bn:
            self.set_batchnorm_training(self.network, False)
        return self

    @staticmethod
    def set_batchnorm_training(module: nn.Module, mode: bool) -> None:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train(mode)

    # -- one segmentation ---------------------------------------------------------------------------

    def memorize(self, clip: Clip, t: int, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of frame t for the K objects; probs (1+K, H, W), padding zeroed as at inference."""
        return self.network.memorize(clip.norm[t : t + 1], probs[1:] * clip.inside)

    def decoder_input(self, clip: Clip, source: int, dest: int, previous: torch.Tensor
                      ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Extra decoder input for segmenting frame ``dest`` after frame ``source`` whose soft output is
        ``previous`` (1+K, H, W), and extra loss terms. STM: none."""
        return None, {}

    def segment(self, clip: Clip, query: QueryFeatures, t: int, memory: list[tuple[torch.Tensor, torch.Tensor]],
                warp: torch.Tensor | None) -> torch.Tensor:
        """Frame t from ``memory`` (a list of (keys, values)) -> merged probabilities (1+K, H, W)."""
        q = QueryFeatures(query.key[t : t + 1], query.value[t : t + 1], tuple(s[t : t + 1] for s in query.skips))
        keys = torch.cat([k for k, _ in memory], dim=1)
        values = torch.cat([v for _, v in memory], dim=1)
        logits = self.network.read_and_decode(memory_read(keys, values, q.key), q, tuple(clip.norm.shape[-2:]), warp)
        fg = torch.softmax(logits.float(), dim=1)[:, 1] * clip.inside
        return soft_aggregate(fg, bg_rule="prod")

    def _step(self, clip: Clip, query: QueryFeatures, memory: list, source: int, dest: int, previous: torch.Tensor,
              terms: dict[str, torch.Tensor], memory_frames: list[int]) -> torch.Tensor:
        """Segment ``dest`` after ``source`` and add its losses to ``terms``; returns the output.
        ``memory_frames``: the clip frame of each ``memory`` entry."""
        warp, extra = self.decoder_input(clip, source, dest, previous)
        out = self.segment(clip, query, dest, memory, warp)
        name = "cycle" if dest == 0 else "segmentation"
        terms[name] = terms.get(name, 0) + mask_loss(clip.crop(out), clip.crop(clip.target[dest]), self.recipe.bootstrap)
        if self.recipe.read_loss:
            terms["read"] = terms.get("read", 0) + self.recipe.read_loss * self.read_term(
                clip, query, dest, memory, memory_frames)
        for key, value in extra.items():
            terms[key] = terms.get(key, 0) + value
        return out

    def read_term(self, clip: Clip, query: QueryFeatures, dest: int, memory: list, memory_frames: list[int]
                  ) -> torch.Tensor:
        """The ``read_loss`` term (vostool.methods.stm.read_loss): the memory frames' ground truth carried
        to frame ``dest`` by the read's attention, against frame ``dest``'s ground truth."""
        if clip.num_objects == 0:
            return query.key.sum() * 0
        grid = tuple(query.value.shape[-2:])
        pooled = grid_masks(clip.target[:, 1:], grid)  # (T, K, hw)
        mem_masks = torch.cat([pooled[f] for f in memory_frames], dim=1)  # (K, M)
        keys = torch.cat([k for k, _ in memory], dim=1)
        return propagation_loss(keys, query.key[dest : dest + 1], mem_masks, pooled[dest])

    # -- one clip -----------------------------------------------------------------------------------

    def clip_losses(self, clip: Clip) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Loss terms of one clip (each summed over its segmentations, / (T-1)) and the mean IoU of the
        forward frames' argmax labels."""
        length = clip.norm.shape[0]
        network = self.network
        query = network.query_features(*network.encode_query_backbone(clip.norm))
        memory = [self.memorize(clip, 0, clip.target[0])]
        outs = [clip.target[0]]
        terms: dict[str, torch.Tensor] = {}
        for t in range(1, length):
            outs.append(self._step(clip, query, memory, t - 1, t, outs[t - 1], terms, list(range(t))))
            memory.append(self.memorize(clip, t, outs[t]))
        if self.recipe.cycle:
            for t in range(length - 1, 0, -1):
                if clip.all_visible(t):
                    self._step(clip, query, [memory[t]], t, 0, outs[t], terms, [t])
        iou = torch.stack([_label_iou(clip.crop(outs[t]).detach(), clip.crop(clip.target[t]))
                           for t in range(1, length)]).mean()
        return {k: v / (length - 1) for k, v in terms.items()}, iou

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch: frames (B, T, 3, H, W) uint8, labels (B, T, H, W) uint8 (0 = background, 1..K objects),
        num_objects (B,)."""
        frames, labels = batch["frames"], batch["labels"]
        totals: dict[str, torch.Tensor] = {}
        ious = []
        for b in range(frames.shape[0]):
            clip = Clip(self.network, frames[b], labels[b], int(batch["num_objects"][b]), self.multiple)
            clip.info = batch["info"][b] if "info" in batch else {}
            terms, iou = self.clip_losses(clip)
            for key, value in terms.items():
                totals[key] = totals.get(key, 0) + value / frames.shape[0]
            ious.append(iou)
        loss = sum(totals.values())
        out = {"loss": loss, **{k: v.detach() for k, v in totals.items()}, "iou": torch.stack(ious).mean()}
        out.setdefault("cycle", loss.new_zeros(()))
        return out


def _label_iou(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over objects of the IoU of argmax labels: probs, target (1+K, H, W)."""
    pred = F.one_hot(probs.argmax(0), probs.shape[0]).permute(2, 0, 1)[1:].bool()
    gt = target[1:] > 0.5
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean()


def training_module(method, recipe: STMRecipe | None, env: TrainingEnv | None) -> STMTraining:
    return STMTraining(method, recipe or STMRecipe(), env or TrainingEnv())
