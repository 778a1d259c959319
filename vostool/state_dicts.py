"""Weights in vostool's names and strict loading: tensors only, no files (shared by methods and weights)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vostool.errors import WeightsError


@dataclass
class Checkpoint:
    """Weights in vostool's naming, ready for a strict ``load_state_dict``."""

    state_dict: dict[str, torch.Tensor]
    arch: dict[str, Any] = field(default_factory=dict)  # architecture options implied by the weights
    source: str = ""  # where the weights came from (file, named weights)
    sha256: str | None = None


def check_state(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], source: str, method: str) -> None:
    """Raise one WeightsError line unless ``state`` has exactly the keys and shapes of ``own``."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]

    def sample(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({sample(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({sample(unexpected)})")
        raise WeightsError(f"{source} does not fit the {method} model: {'; '.join(parts)} tensors")
    if shapes:
        k = shapes[0]
        raise WeightsError(
            f"{source} does not fit the {method} model: {k} is {tuple(state[k].shape)}, expected "
            f"{tuple(own[k].shape)}" + (f" ({len(shapes) - 1} more mismatches)" if len(shapes) > 1 else "")
        )


def load_state_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str, method: str) -> None:
    """``load_state_dict(strict=True)`` with one readable line instead of PyTorch's report.

    BatchNorm's ``num_batches_tracked`` did not exist before PyTorch 0.4; files saved earlier lack it
    and PyTorch itself fills it in, so its absence is not an error.
    """
    own = module.state_dict()
    state = dict(state)
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    check_state(own, state, source, method)
    module.load_state_dict(state, strict=True)
