"""MUNet's card: Sun et al. (no code released).

The one place naming the method; read lazily by :mod:`vostool.registry`. Speed: paper Table 2 (RTX 2080 Ti).
"""

from __future__ import annotations

from vostool.cards import MethodCard, PaperSpeed
from vostool.methods.munet.options import MUNetOptions
from vostool.methods.munet.recipe import MUNetRecipe

CARD = MethodCard(
    name="munet",
    method="vostool.methods.munet:MUNet",
    summary="STM whose query feature is enhanced by a cost-volume motion + uncertainty layer (MU-Layer, MSAM)",
    paper="Sun et al., MUNet: Motion Uncertainty-aware Semi-supervised Video Object Segmentation "
          "(no code released)",
    speeds=(PaperSpeed("munet", 6.42, "RTX 2080 Ti"),),
    options=MUNetOptions,
    recipe=MUNetRecipe,
)
