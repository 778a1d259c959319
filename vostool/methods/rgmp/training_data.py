"""RGMP's training samples: simulated pairs (stage 1) and recurrent video clips (stage 2).

Both are :class:`~vostool.data.clips.ClipDataset` subclasses, so epochs, seeding, resuming and data
workers behave as for every method; only the content of a clip differs.

Stage 1 clip: ``frames`` (2, 3, h, w) uint8 (reference, target), ``labels`` (2, h, w) uint8 (1 = the
object), ``guidance`` (1, h, w) uint8 (the simulated previous-frame mask), with (h, w) = ``s1_crop``.

Stage 2 clip: ``frames`` (T, 3, H, W), ``labels`` (T, H, W) with frame 0 the reference (any frame
showing the object, or the clip's first with ``reference=first``), frame 1 the frame whose ground
truth is the first guidance, and frames 2.. the ``clip_frames - 1`` recurrent targets in temporal
order with random skips of 1..``max_skip``; one random affine transform and crop for the whole clip.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from vostool.data.clips import ClipDataset, Unit, resize_clip
from vostool.data.sources import Source
from vostool.methods.rgmp.pairs import PairSettings, simulate_pair
from vostool.methods.rgmp.recipe import RGMPRecipe


def pair_settings(recipe: RGMPRecipe) -> PairSettings:
    return PairSettings(crop=recipe.s1_crop, min_object=recipe.s1_min_object, rotate=recipe.s1_rotate,
                        scale=recipe.s1_scale, translate=recipe.s1_translate, colour=recipe.s1_colour,
                        guide_rotate=recipe.guide_rotate, guide_scale=recipe.guide_scale,
                        guide_translate=recipe.guide_translate)


class PairDataset(ClipDataset):
    """Stage 1: one still image per (video, object) unit, a frame where the object is visible; the
    background of strategy 2 is a frame of another unit, and one of its objects occludes."""

    def __init__(self, sources: Sequence[Source], recipe: RGMPRecipe, seed: int = 0) -> None:
        super().__init__(sources, recipe, seed)
        self.pairs = pair_settings(recipe)
        self.all_units = [u for units in self.units for u in units]

    def _still(self, unit: Unit, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """(image (H, W, 3) uint8, labels (H, W) uint8, frame index) of a frame showing ``unit.obj``."""
        src = self.sources[unit.source]
        shown = self._visible(unit.source, unit.video)[:, unit.obj]
        if not shown.any():
            shown = src.counts(unit.video)[:, unit.obj] == src.counts(unit.video)[:, unit.obj].max()
        t = int(rng.choice(np.flatnonzero(shown)))
        video = src.video(unit.video)
        image, labels = video.frame(t), video.label(t)
        if self.settings.size is not None:
            image, labels = (x[0] for x in resize_clip(image[None], labels[None], self.settings.size))
        return image, labels, t

    def make_clip(self, unit: Unit, rng: np.random.Generator) -> dict:
        src = self.sources[unit.source]
        image, labels, t = self._still(unit, rng)
        background = None
        if rng.random() < self.settings.s1_strategy2:
            others = [u for u in self.all_units if (u.source, u.video) != (unit.source, unit.video)] or self.all_units
            other = others[int(rng.integers(len(others)))]
            bg_image, bg_labels, _ = self._still(other, rng)
            present = [k for k in np.unique(bg_labels) if k]
            occluder = bg_labels == present[int(rng.integers(len(present)))] if present else np.zeros_like(bg_labels, bool)
            background = (bg_image, occluder)
        pair = simulate_pair(rng, image, labels == unit.obj, self.pairs, background)
        frames = np.stack([pair.reference, pair.target]).transpose(0, 3, 1, 2)
        masks = np.stack([pair.reference_mask, pair.target_mask]).astype(np.uint8)
        return {
            "frames": torch.from_numpy(np.ascontiguousarray(frames)),
            "labels": torch.from_numpy(masks),
            "guidance": torch.from_numpy(pair.guidance[None].astype(np.uint8)),
            "num_objects": 1,
            "info": {"source": src.key, "sequence": src.video(unit.video).name, "frames": [t], "objects": [unit.obj],
                     "augmented": True, "strategy": pair.strategy, "guide_affine": pair.guide_affine.tolist()},
        }


class RecurrentClipDataset(ClipDataset):
    """Stage 2: a reference frame, then ``clip_frames`` successive frames (see the module docstring)."""

    def _choose_frames(self, unit: Unit, rng: np.random.Generator) -> tuple[list[int], list[int]]:
        frames, objects = super()._choose_frames(unit, rng)
        if self.settings.reference == "first":
            return [frames[0], *frames], objects
        shown = self._visible(unit.source, unit.video)[:, objects].any(axis=1)
        reference = int(rng.choice(np.flatnonzero(shown))) if shown.any() else frames[0]
        return [reference, *frames], objects


def clip_dataset(sources: Sequence[Source], recipe: RGMPRecipe, seed: int = 0) -> ClipDataset:
    """The dataset of ``recipe.stage``."""
    return (PairDataset if recipe.stage == 1 else RecurrentClipDataset)(sources, recipe, seed)
