"""FlowVOS's training recipe (paper section 3.4; the authors' ``stm/train.py`` and ``config.yaml``, spec §4.3).

STM-cycle's recipe (:class:`~vostool.methods.stm.recipe.STMRecipe`) in two stages within one run: the
segmentation network alone for ``base_epochs``, then with the flow module, the segmentation network
alternately frozen every ``freeze_seg_every`` epochs. ``code_quirks=true`` reproduces the released code
instead of the paper (see docs/methods.md, "Training FlowVOS").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vostool.data.clip_settings import setting
from vostool.methods.stm.recipe import STMRecipe, default


@dataclass(frozen=True)
class FlowVOSRecipe(STMRecipe):
    """240 epochs without the flow module, then 240 with it (the README's two stages)."""

    method_name = "flowvos"

    epochs: int = default(STMRecipe, "epochs", 480)

    base_epochs: int = setting(240, "stage 1: epochs that train the segmentation network without the flow module")
    freeze_seg_every: int = setting(
        5, "stage 2: the segmentation network is trainable in the epochs with ((e + 1) // N) odd (e counted from the "
        "stage's start, the authors' schedule) and frozen otherwise; 0: never frozen")
    teacher_forcing: float = setting(0.5, "probability per clip that the flow warps the ground-truth previous mask")
    mask_flow_weight: float = setting(1.0, "weight of the Mask Flow Loss (CE + IoU of the warped previous mask)")
    visual_flow_weight: float = setting(1.0, "weight of the Visual Flow Loss (MSE of the masked warped previous frame)")
    flow_mixer_init: Literal["random", "identity"] = setting(
        "random", "how the flow stage's first step finds Decoder.flow_mixer: random (the authors: PyTorch's default "
        "initialisation, or init's weights) or identity (passes the decoder's 256 channels through and ignores the "
        "warped mask, so the flow stage starts from the segmentation network's output; not in the paper), set at "
        "the start of the run, after init")
    code_quirks: bool = setting(
        False, "reproduce the released code: no freezing, round() stops the Mask Flow Loss gradient, BatchNorm "
        "never in training mode")

    def validate(self) -> None:
        super().validate()
        from vostool.errors import OptionError

        if self.base_epochs < 0 or self.freeze_seg_every < 0:
            raise OptionError("--set base_epochs and freeze_seg_every must be >= 0")
        if not 0 <= self.teacher_forcing <= 1:
            raise OptionError("--set teacher_forcing: must be in [0, 1]")
