"""STM's training recipe: STM-cycle's public one (``lyxok1/STM-Training`` commit 4ac2681,
``train.py``, ``config.yaml``; Li et al., NeurIPS 2020), as FlowVOS uses it (``juliagong/flowvos`` commit
4cf77d9, ``stm/train.py``).

The original STM has no public training code; STM-cycle's is the closest runnable recipe and the one
FlowVOS builds on, so ``vostool train stm`` uses it (STM's own third encoder input stays the default:
``--set third_channel=background`` trains STM-cycle's).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from vostool.data.clip_settings import setting
from vostool.training.recipe import Recipe


def default(base: type, name: str, value: Any) -> Any:
    """Override an inherited recipe field's default, keeping its help text."""
    return dataclasses.field(default=value, metadata=base.__dataclass_fields__[name].metadata)


@dataclass(frozen=True)
class STMRecipe(Recipe):
    """STM-cycle's ``config.yaml`` and ``train.py`` (Adam 1e-5, weight decay 5e-4, no decay, 240 epochs,
    one clip per step with 4 accumulated = batch 4; DAVIS 17 x5 + YouTube-VOS; 3 ordered frames, max skip
    50 (DAVIS) / 10 (YouTube-VOS) growing by 5 / 1 every 5 epochs up to 100; up to 5 objects)."""

    method_name = "stm"

    optimizer: Literal["adam", "adamw", "sgd"] = default(Recipe, "optimizer", "adam")
    lr: float = default(Recipe, "lr", 1e-5)
    weight_decay: float = default(Recipe, "weight_decay", 5e-4)
    schedule: Literal["constant", "step", "cosine"] = default(Recipe, "schedule", "constant")
    epochs: int = default(Recipe, "epochs", 240)
    batch_size: int = default(Recipe, "batch_size", 4)
    clip_mode: Literal["reference", "sequential"] = default(Recipe, "clip_mode", "sequential")
    clip_frames: int = default(Recipe, "clip_frames", 3)
    max_skip: int = default(Recipe, "max_skip", 50)
    ytvos_max_skip: int = default(Recipe, "ytvos_max_skip", 10)
    max_skip_growth: tuple[int, int] = default(Recipe, "max_skip_growth", (5, 1))
    max_skip_every: int = default(Recipe, "max_skip_every", 5)
    max_skip_limit: int = default(Recipe, "max_skip_limit", 100)
    objects: int = default(Recipe, "objects", 5)
    min_frames: int = default(Recipe, "min_frames", 3)
    repeats: int = default(Recipe, "repeats", 5)
    size: tuple[int, int] | None = default(Recipe, "size", (240, 427))
    crop_percent: float = default(Recipe, "crop_percent", 0.1)
    affine_rotate: float = default(Recipe, "affine_rotate", 15.0)
    affine_scale: tuple[float, float] = default(Recipe, "affine_scale", (0.95, 1.05))
    affine_shear: float = default(Recipe, "affine_shear", 0.176)  # tan(10 degrees)
    hflip: float = default(Recipe, "hflip", 0.5)
    contrast: float = default(Recipe, "contrast", 0.03)
    noise: float = default(Recipe, "noise", 5.0)

    bootstrap: float = setting(0.4, "cross-entropy over the hardest fraction of pixels (1 = plain mean)")
    cycle: bool = setting(True, "add the cycle loss: segment frame 0 back from each later frame's memory alone")
    read_loss: float = setting(
        0.0, "weight of an auxiliary loss on the memory read's attention (the memory frames' ground truth carried to "
        "the query by it, against the query's ground truth); not in the papers: 0 = off (the authors). For training "
        "from random weights, whose read otherwise collapses onto one memory position")
    freeze_bn: bool = setting(True, "BatchNorm uses its running statistics (STM-cycle never calls net.train())")
    init: str = setting("", "start from these weights (a vostool checkpoint or the authors' file; FlowVOS also takes "
                        "an STM-cycle checkpoint, its flow module then starting from its initialisation)")

    def validate(self) -> None:
        super().validate()
        from vostool.errors import OptionError

        if self.clip_frames < 2:
            raise OptionError("--set clip_frames: STM needs the annotated first frame and at least one more")
        if not 0 < self.bootstrap <= 1:
            raise OptionError("--set bootstrap: must be in (0, 1]")
        if self.read_loss < 0:
            raise OptionError("--set read_loss: must be >= 0 (0 = off)")
