"""TVOS's card: Zhang et al., CVPR 2020 (authors' code: microsoft/transductive-vos.pytorch).

The one place naming the method; read lazily by :mod:`vostool.registry`. Speed: paper
section 4 (Titan Xp).
"""

from __future__ import annotations

from vostool.cards import MethodCard, PaperSpeed
from vostool.methods.tvos.options import TVOSOptions
from vostool.methods.tvos.recipe import TVOS_DEMO, TVOSRecipe

CARD = MethodCard(
    name="tvos",
    method="vostool.methods.tvos:TVOS",
    summary="transductive label propagation: softmax affinity to 9 sparse+dense earlier frames, spatial prior",
    paper="Zhang et al., A Transductive Approach for Video Object Segmentation, CVPR 2020",
    speeds=(PaperSpeed("tvos", 37.0, "Titan Xp"),),
    weights=("tvos_davis_train", "tvos_davis_trainval", "tvos_youtube_train"),
    options=TVOSOptions,
    recipe=TVOSRecipe,
    demo=TVOS_DEMO,
)
