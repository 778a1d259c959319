"""Reading the authors' checkpoints of STM, STM-cycle and FlowVOS.

* STM ``STM_weights.pth``: a bare state dict saved from ``nn.DataParallel`` (``module.`` prefix).
* STM-cycle / FlowVOS ``*.pth.tar``: ``{'epoch', 'state_dict', 'max_skip'}`` with unprefixed keys
  (``load_param`` also accepts the bare state dict).

vostool's keys are the authors' without ``module.``. The memory encoder's third input is read from
the file: ``Encoder_M.conv1_o`` (STM: the other objects) or ``Encoder_M.conv1_bg`` (STM-cycle:
1 - own mask). Same shape, different meaning, so it is never guessed.
"""

from __future__ import annotations

from typing import Any

import torch

from vostool.errors import WeightsError

THIRD_CHANNEL_KEYS = {"Encoder_M.conv1_o.weight": "others", "Encoder_M.conv1_bg.weight": "background"}
FLOW_PREFIX = "FlowRegressor."


def read_state_dict(raw: Any, source: str, what: str) -> dict[str, torch.Tensor]:
    """The tensors of an STM-family checkpoint, ``module.`` stripped; a WeightsError if it is none.
    ``what`` names the expected kind in messages (e.g. "an STM or STM-cycle")."""
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{source} is not {what} checkpoint (expected a state dict or a dict with 'state_dict')")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def third_channel_of(state: dict[str, torch.Tensor], source: str, what: str) -> str:
    """``others`` or ``background`` from the memory encoder's third mask convolution."""
    found = [mode for key, mode in THIRD_CHANNEL_KEYS.items() if key in state]
    if len(found) != 1:
        sample = ", ".join(list(state)[:2])
        raise WeightsError(
            f"{source} is not {what} checkpoint: expected exactly one of Encoder_M.conv1_o (STM) or "
            f"Encoder_M.conv1_bg (STM-cycle) (found {sample}, …)"
        )
    return found[0]


def has_flow_module(state: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith(FLOW_PREFIX) for k in state)
