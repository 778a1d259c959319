"""TVOS's offline training (paper section 4; the authors' ``main.py``, ``lib/loss.py``, ``dataset/davis.py``).

The whole embedding network trains (BatchNorm included). A clip is 10 consecutive frames of one video
with all its objects; every frame is embedded, the labels are brought to the feature grid, and the
labels of the first 9 frames are propagated to the 10th exactly as at inference but without the
spatial prior: one softmax over the dot products with all reference pixels jointly, the prediction is
the references' one-hot labels weighted by it, and the loss is the NLL of ``log(prediction + 1e-14)``
averaged over the target pixels of the batch.

The authors' labels on the feature grid: the label image is turned into its palette colours, those are
downsampled bilinearly (factor 1/8, ``align_corners=False``: the mean of the 2x2 pixels at the centre of
each 8x8 cell) and each cell takes the nearest of 22 reference colours (``dataset/annotation_centroids.npy``:
the DAVIS palette's first 22 colours with 191 where it has 192). On object borders the mean colour can be
nearest to a third class; that is kept by default (``label_downsample=palette``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vostool.data.clip_settings import ClipSettings
from vostool.training.contract import TrainingEnv
from vostool.methods.tvos.recipe import TVOSRecipe

NUM_CENTROIDS = 22  # classes of the authors' training (annotation_centroids.npy)
LOG_EPSILON = 1e-14  # the authors' log(prediction + 1e-14)


def _palette_and_centroids() -> tuple[torch.Tensor, torch.Tensor]:
    """The DAVIS palette (256, 3) float and the authors' 22 class colours (22, 3) float."""
    from vostool.io.masks import davis_palette

    palette = torch.from_numpy(davis_palette().astype(np.float32))
    centroids = palette[:NUM_CENTROIDS].clone()
    centroids[centroids == 192] = 191
    return palette, centroids


def palette_grid_labels(labels: torch.Tensor, object_ids: list[list[int]], grid: tuple[int, int]) -> torch.Tensor:
    """The authors' feature-grid classes (see the module docstring).

    labels: (B, T, H, W) integer, 0 = background and k = the clip's object ``object_ids[b][k-1]`` (its
    dataset id, which chooses its palette colour). Returns (B, T, h, w) int64 in 0..21.
    """
    palette, centroids = _palette_and_centroids()
    palette, centroids = palette.to(labels.device), centroids.to(labels.device)
    num, length, height, width = labels.shape
    lut = torch.zeros(num, 256, dtype=torch.int64, device=labels.device)
    for b, ids in enumerate(object_ids):
        if ids:
            lut[b, 1 : len(ids) + 1] = torch.tensor(ids, dtype=torch.int64, device=labels.device)
    dataset_ids = torch.gather(lut, 1, labels.reshape(num, -1).long()).reshape(num * length, height, width)
    rgb = palette[dataset_ids].permute(0, 3, 1, 2)  # (B*T, 3, H, W)
    small = F.interpolate(rgb, size=grid, mode="bilinear", align_corners=False)
    pixels = small.permute(0, 2, 3, 1).reshape(-1, 1, 3)
    classes = ((pixels - centroids) ** 2).sum(dim=-1).sqrt().argmin(dim=1)  # the authors' rgb2class
    return classes.reshape(num, length, *grid)


def onehot_grid_labels(labels: torch.Tensor, classes: int, grid: tuple[int, int]) -> torch.Tensor:
    """(B, T, H, W) labels 0..classes-1 -> (B, T, h, w) int64: argmax of the bilinearly downsampled one-hot."""
    num, length = labels.shape[:2]
    onehot = F.one_hot(labels.long().flatten(0, 1), classes).permute(0, 3, 1, 2).float()
    small = F.interpolate(onehot, size=grid, mode="bilinear", align_corners=False)
    return small.argmax(dim=1).reshape(num, length, *grid)


def propagation_nll(ref: torch.Tensor, target: torch.Tensor, ref_labels: torch.Tensor, target_labels: torch.Tensor,
                    classes: int, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' ``CrossEntropy``: labels propagated from the references to the target, no prior.

    ref (B, N, C, h, w) and target (B, C, h, w) embeddings; ref_labels (B, N, h, w) and target_labels
    (B, h, w) classes in 0..classes-1. Returns the mean NLL over all target pixels (a scalar) and the
    prediction (B, classes, h, w), whose columns sum to 1.
    """
    num, refs, channels, height, width = ref.shape
    keys = ref.permute(0, 1, 3, 4, 2).reshape(num, refs * height * width, channels)
    affinity = torch.bmm(keys, target.reshape(num, channels, height * width)) * temperature
    affinity = affinity.softmax(dim=1)  # over all reference pixels of all references jointly
    onehot = F.one_hot(ref_labels.reshape(num, -1), classes).transpose(1, 2).to(affinity.dtype)  # (B, d, N*hw)
    prediction = torch.bmm(onehot, affinity).reshape(num, classes, height, width)
    loss = F.nll_loss(torch.log(prediction + LOG_EPSILON), target_labels)
    return loss, prediction


class TVOSTraining(nn.Module):
    """``forward(batch)`` -> ``{"loss", "accuracy", "fg_accuracy"}`` (see the module docstring)."""

    def __init__(self, method, recipe: TVOSRecipe, env: TrainingEnv) -> None:
        super().__init__()
        self.network = method.network
        self.network.requires_grad_(True)
        self.recipe = recipe
        self.env = env

    @staticmethod
    def visible_frames(kind: str, name: str, counts: np.ndarray, settings: ClipSettings) -> np.ndarray:
        """Every object of the video counts as shown on every frame: the authors label all objects of
        all frames, whatever their size. counts (T, 256) -> (T, 256) bool."""
        present = counts.sum(axis=0) > 0
        return np.broadcast_to(present, counts.shape).copy()

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch: frames (B, T, 3, H, W) uint8, labels (B, T, H, W) uint8 (0 background, 1..K objects)."""
        frames = batch["frames"]
        num, length, _, height, width = frames.shape
        images = (frames.flatten(0, 1).float() / 255).contiguous(memory_format=torch.channels_last)
        features = self.network(images)
        grid = tuple(features.shape[-2:])
        features = features.reshape(num, length, *features.shape[1:])
        if self.recipe.label_downsample == "palette":
            classes = NUM_CENTROIDS
            labels = palette_grid_labels(batch["labels"], [info["objects"] for info in batch["info"]], grid)
        else:
            classes = int(batch["num_objects"].max()) + 1
            labels = onehot_grid_labels(batch["labels"], classes, grid)
        with torch.autocast(frames.device.type, enabled=False):  # softmax and log need fp32
            loss, prediction = propagation_nll(features[:, :-1].float(), features[:, -1].float(), labels[:, :-1],
                                               labels[:, -1], classes, self.recipe.loss_temperature)
        with torch.no_grad():
            target = labels[:, -1]
            correct = (prediction.argmax(dim=1) == target).float()
            foreground = (target > 0).float()
            fg_accuracy = (correct * foreground).sum() / foreground.sum().clamp(min=1)
        return {"loss": loss, "accuracy": correct.mean(), "fg_accuracy": fg_accuracy}


def training_module(method, recipe: TVOSRecipe | None, env: TrainingEnv | None) -> TVOSTraining:
    return TVOSTraining(method, recipe or TVOSRecipe(), env or TrainingEnv())
