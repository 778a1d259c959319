"""Training: recipes, the Trainer, checkpoints, validation and multi-process runs (``vostool train``).

Imported lazily: methods import :mod:`vostool.training.recipe` for their recipe classes without
pulling in the trainer.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Recipe", "TrainResult", "train"]


def __getattr__(name: str) -> Any:
    if name == "train":
        from vostool.training.run import train

        return train
    if name == "Recipe":
        from vostool.training.recipe import Recipe

        return Recipe
    if name == "TrainResult":
        from vostool.training.trainer import TrainResult

        return TrainResult
    raise AttributeError(f"module 'vostool.training' has no attribute {name!r}")
