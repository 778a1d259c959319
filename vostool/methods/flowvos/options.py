"""FlowVOS's options: STM's, with STM-cycle's memory-encoder input (the authors' default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vostool.methods.stm.options import STMOptions, _opt


@dataclass(frozen=True)
class FlowVOSOptions(STMOptions):
    method_name = "flowvos"

    third_channel: Literal["others", "background"] = _opt(
        "background", "memory encoder's third input: background = 1 - own mask (STM-cycle, FlowVOS), others = "
        "union of the other objects (STM); set by the weights", arch=True)
