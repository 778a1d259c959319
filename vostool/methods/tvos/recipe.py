"""TVOS's training recipe: the authors' ``main.py`` and ``dataset/davis.py`` (paper section 4, spec 2.4)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from vostool.data.clip_settings import setting
from vostool.training.contract import DemoRecipe
from vostool.training.recipe import Recipe


def _default(name: str, value: Any) -> Any:
    """Override an inherited recipe field's default, keeping its help text."""
    return dataclasses.field(default=value, metadata=Recipe.__dataclass_fields__[name].metadata)


@dataclass(frozen=True)
class TVOSRecipe(Recipe):
    """The authors' DAVIS training: 10 consecutive frames, one 256x256 crop and flips per clip, the
    labels of the first 9 propagated to the 10th, SGD (Nesterov) with a per-epoch cosine schedule."""

    method_name = "tvos"

    optimizer: Literal["adam", "adamw", "sgd"] = _default("optimizer", "sgd")
    lr: float = _default("lr", 0.02)
    momentum: float = _default("momentum", 0.9)
    nesterov: bool = _default("nesterov", True)
    weight_decay: float = _default("weight_decay", 3e-4)
    schedule: Literal["constant", "step", "cosine"] = _default("schedule", "cosine")
    lr_min: float = _default("lr_min", 4e-5)
    cosine_per_epoch: bool = _default("cosine_per_epoch", True)
    epochs: int = _default("epochs", 240)
    batch_size: int = _default("batch_size", 16)
    clip_mode: Literal["reference", "sequential"] = _default("clip_mode", "sequential")
    clip_frames: int = _default("clip_frames", 10)
    max_skip: int = _default("max_skip", 1)
    clips_per_frame: bool = _default("clips_per_frame", True)
    objects: int = _default("objects", 255)  # every object of the video: the authors label them all
    min_frames: int = _default("min_frames", 10)
    repeats: int = _default("repeats", 1)
    size: tuple[int, int] | None = _default("size", None)
    crop: tuple[int, int] | None = _default("crop", (256, 256))
    hflip: float = _default("hflip", 0.5)
    vflip: float = _default("vflip", 0.5)
    workers: int = _default("workers", 8)

    loss_temperature: float = setting(1.0, "multiplier of the affinity before the training softmax (authors' --temperature)")
    label_downsample: Literal["palette", "onehot"] = setting(
        "palette", "labels on the feature grid: palette = the authors' (the label image's palette colours "
        "downsampled bilinearly, then the nearest of 22 colours); onehot = the one-hot labels downsampled "
        "bilinearly, then argmax")

    def validate(self) -> None:
        super().validate()
        from vostool.errors import OptionError

        if self.clip_frames < 2:
            raise OptionError("--set clip_frames: TVOS needs at least one reference frame and the target frame")
        if not self.loss_temperature > 0:
            raise OptionError("--set loss_temperature: must be > 0")


# --weights demo: the packaged demo weights were built with this recipe (`vostool weights build-demo tvos`,
# vostool.training.demo); the learning proof's setting with a step budget.
TVOS_DEMO = DemoRecipe(
    data="synthetic:videos=40,frames=16",
    settings={"backbone": "resnet18", "crop": "128,128", "batch_size": "2", "workers": "1"},
    steps=1000,
)
