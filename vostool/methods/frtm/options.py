"""FRTM's options. Defaults are the authors' evaluate.py values (the code, where it and the paper differ)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vostool.errors import OptionError


def _opt(default, help: str, arch: bool = False):
    return field(default=default, metadata={"help": help, "arch": arch})


@dataclass(frozen=True)
class FRTMOptions:
    method_name = "frtm"

    backbone: Literal["resnet101", "resnet18"] = _opt("resnet101", "ResNet backbone (set by the weights)", arch=True)
    fast: bool = _opt(False, "the paper's 'Ours fast' schedule: init CG (5,10,10,10), update (5,)")
    init_iters: tuple[int, ...] | None = _opt(None, "CG iterations per Gauss-Newton step on the first frame (default by 'fast')")
    update_iters: tuple[int, ...] | None = _opt(None, "CG iterations per GN step of a memory update (default by 'fast')")
    num_aug: int = _opt(5, "first-frame samples, the original included")
    c_channels: int = _opt(96, "channels of the target model's 1x1 projection")
    memory_size: int = _opt(80, "samples kept in the target model's memory")
    update_interval: int = _opt(8, "re-optimise the target model's filter every N frames")
    memory_lr: float = _opt(0.1, "memory learning rate (exponential forgetting of old samples)")
    update: bool = _opt(True, "learn from new frames at all (false = the paper's 'no update' ablation)")
    refine: bool = _opt(True, "use the segmentation network (false = the paper's 'D-only' ablation: the target "
                        "model's score, upsampled bilinearly and clipped to [0, 1])")
    pixel_weighting: Literal["hinge", "none"] = _opt("hinge", "balance small objects' pixels against the background")
    pixel_tf: float = _opt(0.1, "hinge weighting: target influence of the foreground")
    filter_reg: tuple[float, float] = _opt((1e-4, 1e-2), "regularisation of (projection, filter)")
    precond: tuple[float, float] = _opt((1e-4, 1e-2), "diagonal preconditioner of (projection, filter)")
    precond_lr: float = _opt(0.1, "CG direction forgetting: factor (1 - precond_lr) ** cg_forgetting_rate")
    cg_forgetting_rate: float = _opt(750.0, "see precond_lr (750 in evaluate.py; 75 is the class default)")
    fletcher_reeves: bool = _opt(False, "Fletcher-Reeves instead of Polak-Ribiere CG (the YouTube-VOS variant)")
    inpaint: Literal["telea", "gray"] = _opt("telea", "fill the object's hole with Telea inpainting or gray 128")
    merge: Literal["frtm", "soft"] = _opt("frtm", "object merging: the authors' code variant or RGMP eq. 1")
    seed: int = _opt(0, "seed of the augmentation and target-model initialisation (the authors fix 0)")

    @property
    def resolved_init_iters(self) -> tuple[int, ...]:
        if self.init_iters is not None:
            return self.init_iters
        return (5, 10, 10, 10) if self.fast else (5, 10, 10, 10, 10)

    @property
    def resolved_update_iters(self) -> tuple[int, ...]:
        if self.update_iters is not None:
            return self.update_iters
        return (5,) if self.fast else (10,)

    def validate(self) -> None:
        for name in ("num_aug", "c_channels", "memory_size", "update_interval"):
            if getattr(self, name) < 1:
                raise OptionError(f"--set {name}: must be at least 1")
        if self.memory_size < self.num_aug:
            raise OptionError("--set memory_size: must be at least num_aug (the first-frame samples)")
        if not 0 < self.memory_lr <= 1:
            raise OptionError("--set memory_lr: must be in (0, 1]")
        if not 0 < self.pixel_tf < 1:
            raise OptionError("--set pixel_tf: must be in (0, 1)")
        for name in ("init_iters", "update_iters"):
            value = getattr(self, name)
            if value is not None and any(v < 0 for v in value):
                raise OptionError(f"--set {name}: iteration counts must be >= 0")
