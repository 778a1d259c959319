"""RGMP's training recipe: the paper's two stages (section 3.2 and 3.4; the authors released no training code).

Values the paper states are the defaults: Adam with a fixed learning rate 1e-5, 256x256 pre-training
patches holding at least half of the object, strategies 1 and 2 with equal probability, 256x512
fine-tuning patches, 5 recurrent frames with random skips. Values it leaves open (batch size, the
ranges of the random transforms, the largest skip, the number of epochs) are choices of this
re-implementation, listed as such in docs/methods.md ("Training RGMP").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from vostool.data.clip_settings import setting
from vostool.errors import OptionError
from vostool.training.recipe import Recipe


def _default(name: str, value: Any, help: str | None = None) -> Any:
    """Override an inherited recipe field's default (and, when given, its help text)."""
    metadata = {"help": help} if help else Recipe.__dataclass_fields__[name].metadata
    return dataclasses.field(default=value, metadata=metadata)


@dataclass(frozen=True)
class RGMPRecipe(Recipe):
    """Paper section 3.2 (two-stage training) and 3.4 (implementation details)."""

    method_name = "rgmp"

    stage: int = setting(1, "1: pre-training on pairs simulated from still images; 2: fine-tuning on video "
                         "with recurrence (start it from stage 1's weights with init=RUN/last.pt)")
    init: str = setting("", "start from these weights (a run's last.pt/best.pt or any RGMP checkpoint); "
                        "'' = the encoder from --backbone-weights, the rest random")
    bn_affine: bool = setting(False, "also train the encoder BatchNorm's scale and shift (its statistics stay "
                              "frozen); for training from random weights, whose residual branches start at zero "
                              "(zero-initialised last BatchNorm of each block) and stay there while it is frozen")
    freeze_bn: bool = setting(True, "keep the encoder's BatchNorm frozen (eval mode, running statistics), as the "
                              "authors' network; false: it trains on batch statistics (scale, shift and running "
                              "statistics), not in the paper, for training from random weights, whose frozen "
                              "statistics normalise nothing")
    iou_weight: float = setting(0.0, "weight of a soft IoU term (1 - (sum min(p, g) + 1) / (sum max(p, g) + 1) of the "
                                "object probability) added to the cross-entropy; not in the paper: 0 = off. From random "
                                "weights the cross-entropy alone, dominated by the background, lets stage 2's "
                                "recurrence settle on empty masks")
    deep_supervision: bool = setting(False, "also apply the cross-entropy to p3, p4 and p5 (upsampled to the "
                                     "input size); the paper does not say whether it does")

    optimizer: Literal["adam", "adamw", "sgd"] = _default("optimizer", "adam")
    lr: float = _default("lr", 1e-5)
    schedule: Literal["constant", "step", "cosine"] = _default("schedule", "constant")
    batch_size: int = _default("batch_size", 4)
    epochs: int = _default("epochs", 100)
    repeats: int = _default("repeats", 4)
    objects: int = _default("objects", 1, "objects per clip: the paper selects one instance per video (keep 1)")

    # Stage 1: simulated pairs (vostool.methods.rgmp.pairs).
    s1_crop: tuple[int, int] = setting((256, 256), "stage 1: patch size (multiples of 32)")
    s1_min_object: float = setting(0.5, "stage 1: a patch holds at least this fraction of its object's pixels")
    s1_strategy2: float = setting(0.5, "stage 1: probability of strategy 2 (a foreground pasted on another "
                                  "background) instead of strategy 1 (two transforms of one image)")
    s1_rotate: float = setting(20.0, "stage 1: random rotation of each image of a pair, up to this many degrees")
    s1_scale: tuple[float, float] = setting((0.8, 1.2), "stage 1: random scale range of each image of a pair")
    s1_translate: float = setting(0.1, "stage 1: random shift of each image of a pair, up to this fraction of its size")
    s1_colour: float = setting(0.15, "stage 1: brightness, contrast and saturation factors drawn from 1 +- this")
    guide_rotate: float = setting(10.0, "stage 1: guidance = the target mask under a random affine: rotation (degrees)")
    guide_scale: tuple[float, float] = setting((0.9, 1.1), "stage 1: guidance affine: scale range")
    guide_translate: float = setting(0.1, "stage 1: guidance affine: shift up to this fraction of the object's size")

    # Stage 2: recurrent fine-tuning on video (ClipDataset, sequential clips plus a reference frame).
    clip_mode: Literal["reference", "sequential"] = _default(
        "clip_mode", "sequential", "stage 2: sequential (the recurrent frames in temporal order); keep it")
    clip_frames: int = _default("clip_frames", 6, "stage 2: the frame whose ground truth is the first guidance, "
                                "then the recurrent target frames (paper: 5); the reference frame comes in addition")
    reference: Literal["random", "first"] = setting(
        "random", "stage 2: the reference frame: random (any frame showing the object, the paper) or first "
        "(the clip's first frame, as at inference)")
    max_skip: int = _default("max_skip", 3)
    crop: tuple[int, int] | None = _default("crop", (256, 512))
    crop_object_fraction: float = _default("crop_object_fraction", 0.5)
    affine_rotate: float = _default("affine_rotate", 15.0)
    affine_scale: tuple[float, float] = _default("affine_scale", (0.8, 1.2))
    affine_shear: float = _default("affine_shear", 0.1)

    def validate(self) -> None:
        super().validate()
        if self.stage not in (1, 2):
            raise OptionError("--set stage: 1 (pre-training on simulated pairs) or 2 (fine-tuning on video)")
        if self.clip_mode != "sequential" or self.clip_frames < 2:
            raise OptionError("--set clip_mode=sequential and clip_frames >= 2: RGMP's stage 2 needs a guidance frame "
                              "and at least one recurrent frame")
        if self.objects != 1:
            raise OptionError("--set objects: RGMP trains on one object per clip")
        if self.iou_weight < 0:
            raise OptionError("--set iou_weight: must be >= 0 (0 = off)")
        if min(self.s1_crop) < 32 or any(v % 32 for v in self.s1_crop):
            raise OptionError("--set s1_crop=H,W: multiples of 32 (the encoder's stride)")
        final = self.crop or self.size
        if self.stage == 2 and (final is None or any(v % 32 for v in final)):
            raise OptionError("--set crop=H,W (or size=H,W): stage 2 needs frames whose sides are multiples of 32")
        for name in ("s1_min_object", "s1_strategy2"):
            if not 0 <= getattr(self, name) <= 1:
                raise OptionError(f"--set {name}: must be in [0, 1]")
        for name in ("s1_scale", "guide_scale"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise OptionError(f"--set {name}=LOW,HIGH with 0 < LOW <= HIGH")
        if min(self.s1_rotate, self.s1_translate, self.s1_colour, self.guide_rotate, self.guide_translate) < 0:
            raise OptionError("--set s1_*/guide_* ranges must be >= 0")
