"""A method's card: its identity in one place (in the spirit of timm's pretrained configs).

Each method keeps its card beside its code as ``vostool/methods/<m>/card.py`` (``CARD``); the registry
maps a name to that module and imports it only when asked. The card names the method, its paper (with
venue), the speed the paper published (and on which GPU), the named weights the authors released (by
name: URLs and hashes stay in :data:`vostool.weights.table.NAMED_WEIGHTS`, which resolves them without
importing methods), its options class, training recipe and demo recipe. The Method class reads its
``name``, ``Options``, ``Recipe`` and ``demo_training`` from the card, so nothing is written twice.

This module imports nothing from vostool and nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PaperSpeed:
    """One speed the paper published: ``fps`` frames per second on ``gpu`` with these ``options``."""

    variant: str  # "frtm", "frtm-fast": the name benchmarks report it under
    fps: float
    gpu: str  # as published, with the conditions that matter (resolution, s/frame)
    options: dict[str, Any] = field(default_factory=dict)  # vostool options that run this variant


@dataclass(frozen=True)
class MethodCard:
    """Identity of one method. ``method`` is ``"module:Class"`` of its Method subclass."""

    name: str
    method: str
    summary: str
    paper: str  # authors, title, venue
    speeds: tuple[PaperSpeed, ...] = ()
    weights: tuple[str, ...] = ()  # keys of vostool.weights.NAMED_WEIGHTS
    options: type | None = None  # the options dataclass
    recipe: type | None = None  # the training recipe dataclass; None: not trainable
    demo: Any = None  # a vostool.training.contract.DemoRecipe behind ``--weights demo``, or None
