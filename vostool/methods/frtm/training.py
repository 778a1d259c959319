"""FRTM's offline training (paper section 3.3; the authors' train.py and model/training_model.py).

Only the segmentation network (``refiner``) is trained; the backbone stays frozen in eval mode and the
refiner's BatchNorm trains. A sample is one object in three frames of a video: a target model is
learned on the first (reference) frame exactly as at inference but with the training settings
(15 augmented samples, 32 channels, memory 20, regularisation and preconditioning (1e-5, 1e-4), CG
forgetting rate 75, no pixel weighting), then it scores the two other frames without any update,
the refiner turns the scores into masks, and the loss is the mean binary cross-entropy of each
frame (gradients of both frames add up; one optimiser step per batch).

Target models are pre-learned once per (sequence, reference frame, object) and cached on disk as the
authors do, in ``<cache>/<backbone>-c32/<sequence>/<frame:05d>.<object>.layer4.pth`` with the
keys ``project.weight`` and ``filter.weight``; caches made with other backbones weights, sizes or
target-model settings get their own folder (``<backbone>-c32-<fingerprint>``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vostool.data.clip_settings import ClipSettings
from vostool.data.clips import default_visibility
from vostool.training.contract import TrainingEnv
from vostool.methods.frtm.augment import FirstFrameAugmenter
from vostool.methods.frtm.segnet import FRTM_TO_TORCHVISION, TARGET_STAGE
from vostool.methods.frtm.problems import BilinearStencil
from vostool.methods.frtm.recipe import FRTMRecipe
from vostool.methods.frtm.target_model import TargetModel, _default_conv_weight


# The authors' hand-made visibility rules for DAVIS 2017 train (training_datasets.py).
_NEVER_OCCLUDED = {"bus", "car-turn", "drift-turn", "kid-football", "koala", "mallard-fly", "motocross-bumps",
                   "motorbike", "rallye", "snowboard", "train", "upside-down"}
_FRACTIONS = {"bmx-bumps": 0.5, "disk-jockey": 0.5, "boxing-fisheye": 0.2, "cat-girl": 0.2, "dog-gooses": 0.2,
              "tractor-sand": 0.1, "drone": 0.1}


def frtm_visibility(kind: str, name: str, counts: np.ndarray, settings: ClipSettings) -> np.ndarray:
    """Which frames show which object, (T, 256) bool: the generic rule, plus the authors' per-sequence
    thresholds and corrections on DAVIS 2017 train."""
    if kind != "davis":
        return default_visibility(kind, name, counts, settings)
    if name in _NEVER_OCCLUDED:
        occluded = np.zeros(counts.shape, dtype=bool)
    else:
        fraction = _FRACTIONS.get(name, settings.min_object_fraction)
        peak = counts.max(axis=0, keepdims=True)
        occluded = (counts / (peak + 0.001) < fraction) | (peak == 0)
    if name == "classic-car":
        occluded[:56, :] = False
    elif name == "drone":
        occluded[:17, 1] = False
        occluded[24:60, 1] = False
    elif name == "night-race":
        occluded[:29, :] = False
        occluded[:, 2] = False
    return ~(occluded | (counts < settings.min_object_pixels))


def _binary_iou(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean IoU of (prob > 0.5) and target over the batch; empty/empty = 1 (the authors' accuracy)."""
    pred = prob > 0.5
    gt = target > 0.5
    inter = (pred & gt).sum(dim=(-2, -1)).float()
    union = (pred | gt).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean()


class FRTMTraining(nn.Module):
    """``forward(batch)`` -> ``{"loss", "bce", "iou", "fg_prob", "tm_cache_hits"}`` (see the module docstring)."""

    def __init__(self, method, recipe: FRTMRecipe, env: TrainingEnv) -> None:
        super().__init__()
        self.network = method.network
        self.network.refiner.requires_grad_(True)
        self.recipe = recipe
        self.env = env
        self.tm_options = recipe.target_options(method.options.backbone)
        self.augmenter = FirstFrameAugmenter(recipe.tm_num_aug, "telea")
        self.cache = env.cache
        self.cache_folder = self._cache_folder(method.options.backbone)
        self._stencils: dict[tuple, BilinearStencil] = {}
        self._slots: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _cache_folder(self, backbone: str) -> str:
        """The authors' ``<backbone>-c<channels>``, plus a fingerprint when anything differs from their setup."""
        r = self.recipe
        name = f"{backbone}-c{r.tm_channels}"
        defaults = FRTMRecipe()
        tm_fields = [f.name for f in dataclasses.fields(FRTMRecipe) if f.name.startswith("tm_")]
        same = (self.env.backbone_weights == "imagenet" and r.size == (480, 854)
                and all(getattr(r, k) == getattr(defaults, k) for k in tm_fields))
        if same:
            return name
        text = repr((self.env.backbone_fingerprint or self.env.backbone_weights, r.size,
                     [(k, getattr(r, k)) for k in tm_fields]))
        return f"{name}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"

    @staticmethod
    def visible_frames(kind: str, name: str, counts: np.ndarray, settings: ClipSettings) -> np.ndarray:
        return frtm_visibility(kind, name, counts, settings)

    def train(self, mode: bool = True) -> "FRTMTraining":
        super().train(mode)
        self.network.backbone.eval()  # frozen, BatchNorm statistics included
        return self

    # -- target models ----------------------------------------------------------------------------

    def _stencil(self, low: tuple[int, int], high: tuple[int, int], device: torch.device) -> BilinearStencil:
        key = (low, high, str(device))
        if key not in self._stencils:
            self._stencils[key] = BilinearStencil(low, high, device)
        return self._stencils[key]

    def _slot(self, index: int, in_channels: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Starting weights of batch slot ``index``: the authors create one target model per slot once."""
        while len(self._slots) <= index:
            generator = torch.Generator().manual_seed(self.tm_options.seed + len(self._slots))
            c = self.tm_options.c_channels
            self._slots.append((_default_conv_weight((c, in_channels, 1, 1), generator),
                                _default_conv_weight((1, c, 3, 3), generator)))
        project, filt = self._slots[index]
        return project.to(device), filt.to(device)

    def _learn(self, slot: int, image255: torch.Tensor, mask: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Learn a target model from one frame: image (3, H, W) 0..255, mask (H, W) bool -> (project, filter)."""
        network = self.network
        image = image255.permute(1, 2, 0).to(torch.uint8).cpu().numpy()
        images, labels = self.augmenter(image, mask.cpu().numpy(), seed=seed)
        batch = torch.from_numpy(images).to(image255.device).permute(0, 3, 1, 2).float()
        with torch.no_grad():
            features = network.backbone.run(network.normalize(batch), TARGET_STAGE)[TARGET_STAGE].float()
        stencil = self._stencil(tuple(features.shape[-2:]), tuple(image255.shape[-2:]), image255.device)
        target = TargetModel(features.shape[1], self.tm_options, stencil, image255.device)
        if self.recipe.tm_init == "slot":
            target.project, target.filter = self._slot(slot, features.shape[1], image255.device)
        target.initialize(features, torch.from_numpy(labels).to(image255.device).unsqueeze(1))
        return target.project, target.filter

    def _target_model(self, slot: int, image255: torch.Tensor, mask: torch.Tensor, info: dict) -> tuple[tuple, bool]:
        key = f"{self.cache_folder}/{info['sequence']}/{info['frames'][0]:05d}.{info['objects'][0]}.layer4.pth"
        usable = self.cache is not None and not info.get("augmented", False)
        cached = self.cache.load(key) if usable else None
        if cached is not None and set(cached) == {"project.weight", "filter.weight"}:
            weights = (cached["project.weight"].to(image255.device), cached["filter.weight"].to(image255.device))
            hit = True
        else:
            weights = self._learn(slot, image255, mask, zlib.crc32(key.encode()))
            hit = False
            if usable:
                self.cache.save(key, {"project.weight": weights[0], "filter.weight": weights[1]})
        if self.recipe.tm_init == "slot":
            while len(self._slots) <= slot:
                self._slot(len(self._slots), weights[0].shape[1], image255.device)
            self._slots[slot] = (weights[0].detach().cpu(), weights[1].detach().cpu())
        return weights, hit

    def training_state(self) -> dict[str, torch.Tensor]:
        """The batch slots' last target models (the next ones start from them), for exact resumption."""
        state = {}
        for i, (project, filt) in enumerate(self._slots):
            state[f"slot{i}.project"] = project
            state[f"slot{i}.filter"] = filt
        return state

    def load_training_state(self, state: dict[str, torch.Tensor]) -> None:
        count = len([k for k in state if k.endswith(".project")])
        self._slots = [(state[f"slot{i}.project"], state[f"slot{i}.filter"]) for i in range(count)]

    # -- the loss ---------------------------------------------------------------------------------

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch: frames (B, T, 3, H, W) uint8 (frame 0 = reference), labels (B, T, H, W) uint8 (1 = object)."""
        images = batch["frames"].float()
        labels = batch["labels"]
        num, length, _, height, width = images.shape
        network = self.network
        targets, hits = [], 0
        for b in range(num):
            weights, hit = self._target_model(b, images[b, 0], labels[b, 0] == 1, batch["info"][b])
            targets.append(weights)
            hits += int(hit)
        total = images.new_zeros(())
        iou = images.new_zeros(())
        fg_prob = images.new_zeros(())
        for t in range(1, length):
            with torch.no_grad():
                stages = network.backbone.run(network.normalize(images[:, t]), "layer4")
                with torch.autocast(images.device.type, enabled=False):
                    feats = stages[TARGET_STAGE].float()
                    scores = torch.cat([F.conv2d(F.conv2d(feats[b : b + 1], p), f, padding=1)
                                        for b, (p, f) in enumerate(targets)])
            levels = {level: stages[stage] for level, stage in FRTM_TO_TORCHVISION.items()}
            logits = network.refiner(scores.to(levels["layer4"].dtype), levels, (height, width))
            prob = torch.sigmoid(logits.float())
            target = (labels[:, t] == 1).float().unsqueeze(1)
            with torch.autocast(images.device.type, enabled=False):  # BCE is unsafe under autocast
                total = total + F.binary_cross_entropy(prob, target)
            iou = iou + _binary_iou(prob.detach(), target)
            # How sure the refiner is on the object: FRTM's merge and memory need > 0.5 there.
            fg_prob = fg_prob + (prob.detach() * target).sum() / target.sum().clamp(min=1)
        frames = length - 1
        return {"loss": total, "bce": total.detach() / frames, "iou": iou / frames, "fg_prob": fg_prob / frames,
                "tm_cache_hits": torch.tensor(hits / num)}


def training_module(method, recipe: FRTMRecipe | None, env: TrainingEnv | None) -> FRTMTraining:
    return FRTMTraining(method, recipe or FRTMRecipe(), env or TrainingEnv())
