"""The table of methods: name -> where its class lives, plus a one-line summary.

Importing this module imports nothing heavy; a method's module (and torch) is imported only when the
method is asked for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vostool.errors import MethodError

if TYPE_CHECKING:
    from vostool.methods.base import Method


@dataclass(frozen=True)
class MethodEntry:
    name: str
    target: str  # "module:Class"
    summary: str
    paper: str


METHODS: dict[str, MethodEntry] = {
    "frtm": MethodEntry(
        name="frtm",
        target="vostool.methods.frtm:FRTM",
        summary="online-learned linear target model + offline-trained segmentation network",
        paper="Robinson et al., Learning Fast and Robust Target Models for VOS, CVPR 2020",
    ),
    "rgmp": MethodEntry(
        name="rgmp",
        target="vostool.methods.rgmp:RGMP",
        summary="Siamese encoder-decoder: reference frame + previous soft mask, multi-scale, no online learning",
        paper="Oh et al., Fast Video Object Segmentation by Reference-Guided Mask Propagation, CVPR 2018",
    ),
    "tvos": MethodEntry(
        name="tvos",
        target="vostool.methods.tvos:TVOS",
        summary="transductive label propagation: softmax affinity to 9 sparse+dense earlier frames, spatial prior",
        paper="Zhang et al., A Transductive Approach for Video Object Segmentation, CVPR 2020",
    ),
    "stm": MethodEntry(
        name="stm",
        target="vostool.methods.stm:STM",
        summary="space-time memory network: every memorised frame's keys attended by the query frame",
        paper="Oh et al., Video Object Segmentation using Space-Time Memory Networks, ICCV 2019",
    ),
    "flowvos": MethodEntry(
        name="flowvos",
        target="vostool.methods.flowvos:FlowVOS",
        summary="STM-cycle plus a weakly-supervised flow module that warps the previous mask into the decoder",
        paper="Gong et al., FlowVOS: Weakly-Supervised Visual Warping for Detail-Preserving and Temporally "
              "Consistent Single-Shot VOS, BMVC 2021",
    ),
    "munet": MethodEntry(
        name="munet",
        target="vostool.methods.munet:MUNet",
        summary="STM whose query feature is enhanced by a cost-volume motion + uncertainty layer (MU-Layer, MSAM)",
        paper="Sun et al., MUNet: Motion Uncertainty-aware Semi-supervised Video Object Segmentation "
              "(no code released)",
    ),
}

# Methods the project will implement; asking for one gives a clear "not available yet" message.
PLANNED: dict[str, str] = {}


def method_names() -> list[str]:
    """Names of the methods that can be run, in table order."""
    return list(METHODS)


def get_entry(name: str) -> MethodEntry:
    key = name.strip().lower()
    if key in METHODS:
        return METHODS[key]
    available = ", ".join(METHODS)
    if key in PLANNED:
        raise MethodError(f"method {name!r} ({PLANNED[key]}) is not available in this version yet; available: {available}")
    raise MethodError(f"unknown method {name!r}; available: {available}")


def get_method_class(name: str) -> "type[Method]":
    """Import and return the Method subclass registered under ``name``."""
    entry = get_entry(name)
    module_name, _, class_name = entry.target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)
