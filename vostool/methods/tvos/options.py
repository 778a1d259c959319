"""TVOS's options. Defaults are the authors' DAVIS ``inference.py`` arguments (commit 1312e43)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vostool.errors import OptionError


def _opt(default, help: str, arch: bool = False):
    return field(default=default, metadata={"help": help, "arch": arch})


@dataclass(frozen=True)
class TVOSOptions:
    method_name = "tvos"

    backbone: Literal["resnet50", "resnet18", "resnet101"] = _opt(
        "resnet50", "ResNet of the embedding network (set by the weights)", arch=True)
    ref_num: int = _opt(9, "reference frames per target: all earlier frames while t <= ref_num, else "
                           "ref_num-3 sparse + 3 dense (authors' --ref_num)")
    sparse_range: int = _opt(40, "span of the sparse references: linspace(max(t-4-range, 0), t-4) (authors' --range)")
    sigma1: float = _opt(8.0, "spatial prior sigma (feature cells) of the 4 most recent references, and of all "
                              "while t <= 15 (authors' --sigma1)")
    sigma2: float = _opt(21.0, "spatial prior sigma of the older references once t > 15 (authors' --sigma2)")
    temperature: float = _opt(1.0, "affinity multiplier before the softmax (authors' --temperature)")
    keep_first_frame: bool = _opt(False, "always add frame 0 as a reference (the authors' code drops it once t > 44)")
    chunk: int = _opt(128, "target pixels per propagation block: bounds memory, results do not depend on it")

    def validate(self) -> None:
        if self.ref_num < 4:
            raise OptionError("--set ref_num: must be at least 4 (3 dense references + at least 1 sparse)")
        if self.sparse_range < 0:
            raise OptionError("--set sparse_range: must be >= 0")
        for name in ("sigma1", "sigma2", "temperature"):
            if not getattr(self, name) > 0:
                raise OptionError(f"--set {name}: must be > 0")
        if self.chunk < 1:
            raise OptionError("--set chunk: must be at least 1")
