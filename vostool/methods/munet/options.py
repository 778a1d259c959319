"""MUNet's options: STM's inference settings plus the MU-Layer's and MSAM's choices.

Every default is the paper's statement (Sun et al., sections 3.1-3.5) or, where it is silent, a choice
that keeps MUNet closest to STM (docs/methods.md); the alternatives are the paper's printed variants or
its ablations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vostool.errors import OptionError
from vostool.methods.stm.options import STMOptions, _opt


@dataclass(frozen=True)
class MUNetOptions(STMOptions):
    method_name = "munet"

    third_channel: Literal["none", "others", "background"] = _opt(
        "none", "Enc-R's inputs besides the frame: none = the object's mask only (the paper); others / "
        "background = STM's / STM-cycle's third map as well", arch=True)
    pad_to: int | None = _opt(
        None, "pad height and width to a multiple of this (default 16, as STM)")
    motion: bool = _opt(
        True, "the motion branch (MU-Layer + MSAM); false = the paper's baseline without it (query key/value "
        "from F_s, as STM), for the ablation", arch=True)
    fusion: Literal["msam", "add"] = _opt(
        "msam", "how the motion feature enters: msam = F_s * sigmoid(conv1x1(F_m)) + F_s (the paper), "
        "add = F_s + F_m (the paper's ablation)", arch=True)
    window: int = _opt(25, "side of the cost volume's search window in feature cells (odd; the paper: 25)")
    displacement_sign: Literal[1, -1] = _opt(
        1, "soft arg-extremum over the window: 1 = softmax(+similarity), the best match the text describes; "
        "-1 = softmax(-similarity), the soft-argmin as printed")
    temperature: float = _opt(1.0, "softmax temperature of the soft displacement (a choice; the paper: none)")
    init_from: str | None = _opt(
        None, "STM checkpoint (a file, or stm's named weights) that initialises every part MUNet shares with "
        "STM when the network is built; the MU-Layer and MSAM keep their random initialisation")

    @property
    def resolved_pad(self) -> int:
        # 16 whatever Enc-R's inputs: the frames t-1 and t must give feature maps of one size.
        return self.pad_to if self.pad_to is not None else 16

    @property
    def radius(self) -> int:
        return self.window // 2

    @property
    def network_third_channel(self) -> str | None:
        return None if self.third_channel == "none" else self.third_channel

    def validate(self) -> None:
        super().validate()
        if self.window < 1 or self.window % 2 == 0:
            raise OptionError("--set window: must be an odd number of feature cells (e.g. 25)")
        if not self.temperature > 0:
            raise OptionError("--set temperature: must be positive")
