"""Options of STM-based methods. Defaults are the authors' inference settings (``eval_DAVIS.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vostool.errors import OptionError


# The authors' memory is unlimited; on benchmark videos a read attends to at most 22 frames (DAVIS,
# <= 104 frames: 0, 5, ..., 100 and the previous frame) or 37 (YouTube-VOS, <= 180 frames with all
# frames decoded). 50 leaves every such video untouched and is reached at frame ~245 (10 s at 25 fps).
DEFAULT_MAX_MEMORY_FRAMES = 50


def _opt(default, help: str, arch: bool = False):
    return field(default=default, metadata={"help": help, "arch": arch})


@dataclass(frozen=True)
class STMOptions:
    method_name = "stm"

    third_channel: Literal["others", "background"] = _opt(
        "others", "memory encoder's third input: others = union of the other objects (STM), background = "
        "1 - own mask (STM-cycle); set by the weights", arch=True)
    mem_every: int = _opt(5, "memorise every N-th frame (besides the first and the previous frame)")
    max_memory_frames: int | None = _opt(
        DEFAULT_MAX_MEMORY_FRAMES, "cap on the frames one read attends to (given frames and the previous frame "
        "included); beyond it memory_policy applies. 50 is more than any DAVIS or YouTube-VOS video needs "
        "(at most 37 with mem_every=5); none = unlimited, as the authors (memory grows with the video)")
    memory_policy: Literal["recent"] = _opt(
        "recent", "which frames stay once max_memory_frames is reached: recent = the frames with given masks "
        "(never dropped), the previous frame and the most recent memorised frames; the oldest goes first")
    pad_to: int | None = _opt(
        None, "pad height and width to a multiple of this (default: 16 with STM weights, as STM; "
        "1 = no padding with STM-cycle weights, as STM-cycle)")
    resize: Literal["authors", "smooth"] = _opt(
        "authors", "resizing to and from the processing size: authors = STM-cycle's test pipeline (frames "
        "bilinear without antialiasing, the first mask bilinear and truncated, probabilities back nearest); "
        "smooth = vostool's (antialiased frames, nearest masks, bilinear probabilities); see vostool.resize_rules")

    @property
    def resolved_pad(self) -> int:
        if self.pad_to is not None:
            return self.pad_to
        return 16 if self.third_channel == "others" else 1

    def validate(self) -> None:
        if self.mem_every < 1:
            raise OptionError("--set mem_every: must be at least 1")
        if self.max_memory_frames is not None and self.max_memory_frames < 2:
            raise OptionError("--set max_memory_frames: must be at least 2 (the first and the previous frame) or none")
        if self.pad_to is not None and self.pad_to < 1:
            raise OptionError("--set pad_to: must be at least 1 (1 = no padding)")
