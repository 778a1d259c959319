"""STM's card: Oh et al., ICCV 2019 (authors' code: seoungwugoh/STM, inference only).

The one place naming the method; read lazily by :mod:`vostool.registry`. Speed: 0.16
s/frame on DAVIS-2016 on a GTX 1080 Ti, as the paper states it.
"""

from __future__ import annotations

from vostool.cards import MethodCard, PaperSpeed
from vostool.methods.stm.options import STMOptions
from vostool.methods.stm.recipe import STMRecipe

CARD = MethodCard(
    name="stm",
    method="vostool.methods.stm:STM",
    summary="space-time memory network: every memorised frame's keys attended by the query frame",
    paper="Oh et al., Video Object Segmentation using Space-Time Memory Networks, ICCV 2019",
    speeds=(PaperSpeed("stm", 6.25, "GTX 1080 Ti, 0.16 s/frame"),),
    weights=("stm",),
    options=STMOptions,
    recipe=STMRecipe,
)
