"""MUNet's training recipe (Sun et al., paper section 3.5; no code was released, so
where the paper is silent the choices follow STM's and are documented in docs/methods.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from vostool.data.clip_settings import setting
from vostool.errors import OptionError
from vostool.training.recipe import Recipe


def _default(name: str, value: Any) -> Any:
    """Override an inherited recipe field's default, keeping its help text."""
    return dataclasses.field(default=value, metadata=Recipe.__dataclass_fields__[name].metadata)


@dataclass(frozen=True)
class MUNetRecipe(Recipe):
    """Paper 3.5: 6 consecutive frames (1 reference + 5 queries), flip, colour jitter and affine
    augmentation, random resize and 400x400 crop, AdamW (0.9, 0.999) lr 2e-5 weight decay 0.5,
    L = bootstrapped CE (hardest 40%) + soft IoU (lambda 1)."""

    method_name = "munet"

    optimizer: Literal["adam", "adamw", "sgd"] = _default("optimizer", "adamw")
    lr: float = _default("lr", 2e-5)
    betas: tuple[float, float] = _default("betas", (0.9, 0.999))
    weight_decay: float = _default("weight_decay", 0.5)
    schedule: Literal["constant", "step", "cosine"] = _default("schedule", "constant")  # none given: a choice
    epochs: int = _default("epochs", 100)  # not given: a choice
    batch_size: int = _default("batch_size", 1)  # "6 continuous frames per sequence as a batch"
    clip_mode: Literal["reference", "sequential"] = _default("clip_mode", "sequential")
    clip_frames: int = _default("clip_frames", 6)
    max_skip: int = _default("max_skip", 1)  # consecutive frames
    objects: int = _default("objects", 3)  # not given: a choice (multi-object as STM, soft aggregation)
    min_frames: int = _default("min_frames", 6)
    size: tuple[int, int] | None = _default("size", (480, 854))
    crop: tuple[int, int] | None = _default("crop", (400, 400))
    crop_object_fraction: float = _default("crop_object_fraction", 0.2)
    hflip: float = _default("hflip", 0.5)
    affine_rotate: float = _default("affine_rotate", 10.0)  # magnitudes not given: choices
    affine_scale: tuple[float, float] = _default("affine_scale", (0.8, 1.2))  # the random resize
    affine_shear: float = _default("affine_shear", 0.1)
    colour_jitter: float = _default("colour_jitter", 0.2)

    bootstrap_fraction: float = setting(0.4, "bootstrapped CE: fraction of hardest pixels per frame and object")
    iou_weight: float = setting(1.0, "lambda: weight of the soft IoU loss")
    read_loss: float = setting(
        0.0, "weight of an auxiliary loss on the memory read's attention (vostool.methods.stm.read_loss); not in the "
        "paper: 0 = off. For training from random weights, whose read otherwise collapses onto one memory position")
    freeze_bn: bool = setting(True, "keep BatchNorm statistics frozen (eval mode), as STM-family training "
                              "(the paper is silent)")
    init: str = setting("", "start from a whole MUNet's weights (a vostool munet checkpoint such as an earlier run's "
                        "last.pt, or the authors' file); for STM weights in the shared parts use --set init_from")

    def validate(self) -> None:
        super().validate()
        if self.clip_frames < 2:
            raise OptionError("--set clip_frames: MUNet needs a reference frame and at least one query")
        if not 0 < self.bootstrap_fraction <= 1 or self.iou_weight < 0 or self.read_loss < 0:
            raise OptionError("--set bootstrap_fraction must be in (0, 1], iou_weight and read_loss >= 0")
