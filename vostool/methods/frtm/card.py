"""FRTM's card: Robinson et al., CVPR 2020 (authors' code: andr345/frtm-vos).

The one place naming the method; read lazily by :mod:`vostool.registry`. Speeds: paper Table 4 and section 4
(V100, all steps of Algorithm 1).
"""

from __future__ import annotations

from vostool.cards import MethodCard, PaperSpeed
from vostool.methods.frtm.options import FRTMOptions
from vostool.methods.frtm.recipe import FRTM_DEMO, FRTMRecipe

CARD = MethodCard(
    name="frtm",
    method="vostool.methods.frtm:FRTM",
    summary="online-learned linear target model + offline-trained segmentation network",
    paper="Robinson et al., Learning Fast and Robust Target Models for VOS, CVPR 2020",
    speeds=(PaperSpeed("frtm", 21.9, "V100"),
            PaperSpeed("frtm-fast", 41.3, "V100", {"backbone": "resnet18", "fast": "true"})),
    weights=("rn101_all", "rn101_ytvos", "rn101_dv", "rn18_all", "rn18_ytvos"),
    options=FRTMOptions,
    recipe=FRTMRecipe,
    demo=FRTM_DEMO,
)
