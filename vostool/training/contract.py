"""What a method's training code may know about the trainer: the small contract between the two.

``vostool/methods/<m>/training.py`` (and recipes) import this module, never the trainer itself:
:class:`TrainingEnv` (the run as the training module sees it), :class:`TrainingModule` (what the
trainer calls, with its optional hooks), :class:`Recipe` (the base of every method's recipe) and
:class:`DemoRecipe` (the fixed recipe behind ``--weights demo``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from vostool.training.recipe import Recipe

if TYPE_CHECKING:
    from vostool.methods.base import Checkpoint

__all__ = ["DemoRecipe", "Recipe", "TrainingEnv", "TrainingModule", "training_hooks"]


@dataclass
class TrainingEnv:
    """What the trainer tells a method's training module about the run."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    # A vostool.training.cache.TensorCache for per-sample results (FRTM's pre-learned target models),
    # or None when caching is off.
    cache: Any = None
    backbone_weights: str = "imagenet"  # imagenet | none | a file path (see --backbone-weights)
    backbone_fingerprint: str = ""  # identifies the backbone's weights (for cache keys)

    def checkpoint(self, method_cls: type, spec: str, options: Any) -> "Checkpoint":
        """Weights named by a recipe's ``init`` (any form of ``--weights``) as a Checkpoint for
        ``method_cls``, resolved by :mod:`vostool.loader` (files, names, ``OTHER:SPEC``)."""
        from vostool.loader import checkpoint_for_method

        return checkpoint_for_method(method_cls, spec, options)

    def load_init(self, method: Any, spec: str) -> None:
        """Strictly load ``spec`` into ``method`` (its architecture options must agree)."""
        checkpoint = self.checkpoint(type(method), spec, method.options)
        method.check_arch(checkpoint.arch)
        method.load_checkpoint(checkpoint)


@runtime_checkable
class TrainingModule(Protocol):
    """``forward(batch) -> {"loss": scalar, other named scalars}`` (docs/architecture.md, "Training").

    Optional hooks are plain attributes the trainer looks up once through :func:`training_hooks`:
    ``clip_dataset(sources, recipe, seed)``, ``visible_frames(kind, sequence, counts, settings)``,
    ``training_state()`` / ``load_training_state(state)`` and ``find_unused_parameters``.
    """

    def __call__(self, batch: dict) -> dict: ...


@dataclass(frozen=True)
class TrainingHooks:
    """The optional hooks a training module provides (None where it has none)."""

    clip_dataset: Any = None
    visible_frames: Any = None
    training_state: Any = None
    load_training_state: Any = None
    find_unused_parameters: bool = False


def training_hooks(module: Any) -> TrainingHooks:
    """The optional hooks of ``module`` (see :class:`TrainingModule`), found in one place."""
    return TrainingHooks(
        clip_dataset=getattr(module, "clip_dataset", None),
        visible_frames=getattr(module, "visible_frames", None),
        training_state=getattr(module, "training_state", None),
        load_training_state=getattr(module, "load_training_state", None),
        find_unused_parameters=bool(getattr(module, "find_unused_parameters", False)),
    )


@dataclass(frozen=True)
class DemoRecipe:
    data: str  # a synthetic source spec
    settings: dict[str, str] = field(default_factory=dict)  # --set values (recipe fields and options)
    steps: int = 100  # the budget: a number of steps, so that every machine builds the same weights
    seed: int = 0
    val: str = "synthetic:videos=10,seed=1"  # held-out videos the weights must score on above copying
    val_size: tuple[int, int] = (240, 432)
