"""FRTM's training recipe: the authors' ``train.py`` and ``lib/training.py``
(``andr345/frtm-vos`` commit e994ac2; Robinson et al., CVPR 2020, section 3.3)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from vostool.data.clip_settings import setting
from vostool.methods.frtm.options import FRTMOptions
from vostool.training.contract import DemoRecipe
from vostool.training.recipe import Recipe


def _default(name: str, value: Any) -> Any:
    """Override an inherited recipe field's default, keeping its help text."""
    return dataclasses.field(default=value, metadata=Recipe.__dataclass_fields__[name].metadata)


@dataclass(frozen=True)
class FRTMRecipe(Recipe):
    """The authors' train.py (paper section 3.3, spec A.7)."""

    method_name = "frtm"

    optimizer: Literal["adam", "adamw", "sgd"] = _default("optimizer", "adam")
    lr: float = _default("lr", 1e-3)
    amsgrad: bool = _default("amsgrad", True)
    weight_decay: float = _default("weight_decay", 1e-5)
    schedule: Literal["constant", "step", "cosine"] = _default("schedule", "step")
    lr_step: int = _default("lr_step", 127)
    lr_gamma: float = _default("lr_gamma", 0.1)
    epochs: int = _default("epochs", 260)
    batch_size: int = _default("batch_size", 16)
    clip_mode: Literal["reference", "sequential"] = _default("clip_mode", "reference")
    clip_frames: int = _default("clip_frames", 3)
    min_frames: int = _default("min_frames", 4)
    min_object_pixels: int = _default("min_object_pixels", 100)
    min_object_fraction: float = _default("min_object_fraction", 0.25)
    repeats: int = _default("repeats", 8)
    ytvos_samples: int = _default("ytvos_samples", 4000)
    size: tuple[int, int] | None = _default("size", (480, 854))
    workers: int = _default("workers", 8)

    tm_num_aug: int = setting(15, "target model: first-frame samples, the original included")
    tm_channels: int = setting(32, "target model: channels of the 1x1 projection")
    tm_memory: int = setting(20, "target model: memory size")
    tm_filter_reg: tuple[float, float] = setting((1e-5, 1e-4), "target model: regularisation (projection, filter)")
    tm_precond: tuple[float, float] = setting((1e-5, 1e-4), "target model: preconditioner (projection, filter)")
    tm_cg_forgetting_rate: float = setting(75.0, "target model: CG direction forgetting rate")
    tm_pixel_weighting: Literal["none", "hinge"] = setting("none", "target model: pixel weighting")
    tm_init_iters: tuple[int, ...] = setting((5, 10, 10, 10, 10), "target model: CG iterations per GN step")
    tm_update_iters: tuple[int, ...] = setting((10,), "target model: CG iterations of the filter update")
    tm_init: Literal["slot", "seeded"] = setting(
        "slot", "slot: start each target model from the previous one of the same batch slot (the authors' code); "
        "seeded: from inference's seeded initialisation")

    def validate(self) -> None:
        super().validate()
        if self.clip_frames < 2:
            from vostool.errors import OptionError

            raise OptionError("--set clip_frames: FRTM needs a reference frame and at least one more")
        self.target_options()  # checks the tm_* values

    def target_options(self, backbone: str = "resnet101") -> FRTMOptions:
        from vostool.options import make_options

        return make_options(FRTMOptions, {
            "backbone": backbone, "num_aug": self.tm_num_aug, "c_channels": self.tm_channels,
            "memory_size": self.tm_memory, "filter_reg": self.tm_filter_reg, "precond": self.tm_precond,
            "cg_forgetting_rate": self.tm_cg_forgetting_rate, "pixel_weighting": self.tm_pixel_weighting,
            "init_iters": self.tm_init_iters, "update_iters": self.tm_update_iters,
        })


# `vostool weights build-demo frtm` (vostool.training.demo): a small model trained on synthetic video;
# held-out, scored with FRTM's defaults (see docs/benchmarks.md for how often it beats copying).
FRTM_DEMO = DemoRecipe(
    data="synthetic:videos=40,frames=12",
    settings={"backbone": "resnet18", "size": "240,320", "batch_size": "2", "tm_num_aug": "5", "workers": "1"},
    steps=250,
)
