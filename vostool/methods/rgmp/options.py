"""RGMP's options. Defaults are the authors' run.py / utils.py values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vostool.errors import OptionError


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class RGMPOptions:
    method_name = "rgmp"

    scales: tuple[float, ...] = _opt((0.5, 0.75, 1.0), "input scales whose object probabilities are averaged "
                                     "(scales=1.0: one pass per stream, about 2x faster)")
    pad_rule: Literal["authors", "ceil"] = _opt("authors", "round sizes up to a multiple of 32 as the authors "
                                                "(+32 even when already a multiple: 480 -> 512) or to the next multiple")
    max_batch: int = _opt(0, "streams (objects + background) per network pass; 0 = automatic: one at a time on the "
                          "CPU (faster there), all at once on a GPU. Results do not change")

    def validate(self) -> None:
        if not self.scales:
            raise OptionError("--set scales: give at least one scale, e.g. scales=1.0")
        if any(not 0 < s <= 4 for s in self.scales):
            raise OptionError("--set scales: every scale must be in (0, 4]")
        if len(set(self.scales)) != len(self.scales):
            raise OptionError("--set scales: a scale is given twice")
        if self.max_batch < 0:
            raise OptionError("--set max_batch: must be 0 (automatic) or a positive number of streams")
