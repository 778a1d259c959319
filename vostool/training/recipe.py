"""Training recipes: every method's training defaults in one dataclass, each field settable with ``--set``.

A method declares ``Recipe = MyRecipe`` where ``MyRecipe`` subclasses :class:`Recipe` and overrides
the defaults its paper or code uses (optimiser, learning rate and schedule, batch, clip sampling,
crops and augmentation from :class:`~vostool.data.clip_settings.ClipSettings`) and adds its own
fields (e.g. FRTM's target-model settings). ``vostool train METHOD --set key=value`` changes a recipe
field or, when the key is not a recipe field, one of the method's options (e.g. ``backbone``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from vostool.data.clip_settings import ClipSettings, setting
from vostool.errors import OptionError


@dataclass(frozen=True)
class Recipe(ClipSettings):
    """Fields shared by every method's recipe (the defaults here are placeholders; methods set theirs)."""

    method_name = "recipe"

    optimizer: Literal["adam", "adamw", "sgd"] = setting("adam", "optimiser")
    lr: float = setting(1e-3, "learning rate")
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam/AdamW moment decay rates")
    amsgrad: bool = setting(False, "Adam/AdamW: the AMSGrad variant")
    momentum: float = setting(0.9, "SGD momentum")
    nesterov: bool = setting(False, "SGD: Nesterov momentum")
    weight_decay: float = setting(0.0, "weight decay")
    schedule: Literal["constant", "step", "cosine"] = setting(
        "constant", "learning-rate schedule: constant; step (x lr_gamma every lr_step epochs); cosine to 0 over all epochs")
    lr_min: float = setting(0.0, "cosine schedule: the final learning rate (PyTorch's eta_min)")
    cosine_per_epoch: bool = setting(
        False, "cosine schedule: change the rate once per epoch (PyTorch's CosineAnnealingLR stepped per epoch) "
        "instead of at every step")
    lr_step: int = setting(1, "step schedule: epochs between decays")
    lr_gamma: float = setting(0.1, "step schedule: decay factor")
    grad_clip: float = setting(0.0, "clip the gradient norm to this value (0: off)")
    epochs: int = setting(1, "epochs (the schedule's length; --steps and --max-minutes stop earlier)")
    batch_size: int = setting(8, "clips per optimiser step, over all processes")
    val_every: int = setting(0, "validate every N steps (0: after every epoch)")
    save_every: int = setting(0, "write last.pt every N steps (0: after every epoch); always when stopping")
    cache: str = setting("", "folder for the method's per-sample caches (FRTM: pre-learned target models); "
                         "'' = $VOSTOOL_CACHE/<method>/cache, 'off' = none")

    def validate(self) -> None:
        self.validate_clips()
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1 or self.lr_step < 1:
            raise OptionError("--set lr, epochs, batch_size and lr_step must be positive")
        if not 0 <= self.lr_min <= self.lr:
            raise OptionError("--set lr_min: must be in [0, lr]")
        if self.val_every < 0 or self.save_every < 0 or self.workers < 0:
            raise OptionError("--set val_every, save_every and workers must be >= 0")


def lr_factor(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier before optimiser step ``step`` (0-based).

    ``step``: ``lr_gamma ** (epoch // lr_step)`` with epoch = completed epochs, which is PyTorch's
    StepLR stepped once per epoch; ``cosine``: half a cosine from ``lr`` to ``lr_min`` over all steps of
    all epochs, or over the epochs with ``cosine_per_epoch`` (PyTorch's CosineAnnealingLR with
    ``T_max = epochs`` stepped once per epoch).
    """
    if recipe.schedule == "step":
        return recipe.lr_gamma ** ((step // max(steps_per_epoch, 1)) // recipe.lr_step)
    if recipe.schedule == "cosine":
        if recipe.cosine_per_epoch:
            done, total = step // max(steps_per_epoch, 1), recipe.epochs
        else:
            done, total = step, max(recipe.epochs * steps_per_epoch, 1)
        cosine = 0.5 * (1 + math.cos(math.pi * min(done, total) / total))
        return (recipe.lr_min + (recipe.lr - recipe.lr_min) * cosine) / recipe.lr
    return 1.0


def split_assignments(recipe_cls: type, options_cls: type, assignments: Mapping[str, Any],
                      method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route ``--set`` keys to the recipe or the method's options; an unknown key lists both."""
    recipe_keys = {f.name for f in dataclasses.fields(recipe_cls)}
    option_keys = {f.name for f in dataclasses.fields(options_cls)}
    recipe, options = {}, {}
    for key, value in assignments.items():
        if key in recipe_keys:
            recipe[key] = value
        elif key in option_keys:
            options[key] = value
        else:
            raise OptionError(
                f"unknown key {key!r} for training {method}; recipe fields: {', '.join(sorted(recipe_keys))}; "
                f"method options: {', '.join(sorted(option_keys))}"
            )
    return recipe, options


def recipe_to_dict(recipe: Any) -> dict[str, Any]:
    from vostool.options import options_to_dict

    return options_to_dict(recipe)
