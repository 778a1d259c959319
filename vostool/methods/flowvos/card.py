"""FlowVOS's card: Gong, Holsinger, Yeung, BMVC 2021 (authors' code: juliagong/flowvos).

The one place naming the method; read lazily by :mod:`vostool.registry`. Speed: the paper's
timing table (TITAN RTX, at 240x427). No weights are public.
"""

from __future__ import annotations

from vostool.cards import MethodCard, PaperSpeed
from vostool.methods.flowvos.options import FlowVOSOptions
from vostool.methods.flowvos.recipe import FlowVOSRecipe

CARD = MethodCard(
    name="flowvos",
    method="vostool.methods.flowvos:FlowVOS",
    summary="STM-cycle plus a weakly-supervised flow module that warps the previous mask into the decoder",
    paper="Gong et al., FlowVOS: Weakly-Supervised Visual Warping for Detail-Preserving and Temporally "
          "Consistent Single-Shot VOS, BMVC 2021",
    speeds=(PaperSpeed("flowvos", 17.3, "TITAN RTX, at 240x427"),),
    options=FlowVOSOptions,
    recipe=FlowVOSRecipe,
)
