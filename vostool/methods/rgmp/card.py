"""RGMP's card: Oh et al., CVPR 2018 (authors' code: seoungwugoh/RGMP).

The one place naming the method; read lazily by :mod:`vostool.registry`. Speed: paper Table 1
(0.13 s/frame; the runtime GPU is not named, training used a GTX 1080 Ti).
"""

from __future__ import annotations

from vostool.cards import MethodCard, PaperSpeed
from vostool.methods.rgmp.options import RGMPOptions
from vostool.methods.rgmp.recipe import RGMPRecipe

CARD = MethodCard(
    name="rgmp",
    method="vostool.methods.rgmp:RGMP",
    summary="Siamese encoder-decoder: reference frame + previous soft mask, multi-scale, no online learning",
    paper="Oh et al., Fast Video Object Segmentation by Reference-Guided Mask Propagation, CVPR 2018",
    speeds=(PaperSpeed("rgmp", 7.7, "GPU not named, 0.13 s/frame"),),
    options=RGMPOptions,
    recipe=RGMPRecipe,
)
