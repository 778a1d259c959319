"""Checkpoint files: safe reading, the vostool checkpoint format, saving.

* Checkpoints are read with ``torch.load(weights_only=True)``: no code from a file is ever run.
  Training-time objects the authors pickled next to the weights (e.g. FRTM's ``stats`` of
  ``lib.utils.AverageMeter``) are read into inert stand-ins.
* A *vostool checkpoint* is a dict with ``vostool_checkpoint``, ``method``, ``arch``, ``options`` and
  ``state_dict`` in vostool's names; anything else is handed to the method's converter.
* Loading is strict: missing, unexpected or mis-shaped tensors are one WeightsError line
  (:mod:`vostool.state_dicts`, re-exported here).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vostool.errors import WeightsError
from vostool.state_dicts import check_state, load_state_strict

if TYPE_CHECKING:
    import torch

__all__ = ["CHECKPOINT_FORMAT", "read_checkpoint", "is_vostool_checkpoint", "save_checkpoint", "check_state",
           "load_state_strict"]

CHECKPOINT_FORMAT = 1


def read_checkpoint(path: Path) -> Any:
    """Unpickle a checkpoint without running code from it (see vostool.weights.safe_pickle)."""
    from vostool.weights.safe_pickle import read_checkpoint as read_safely

    return read_safely(path)


def is_vostool_checkpoint(raw: Any) -> bool:
    return isinstance(raw, dict) and "vostool_checkpoint" in raw and "state_dict" in raw

def save_checkpoint(
    path: Path,
    method: str,
    state_dict: "dict[str, torch.Tensor]",
    arch: dict[str, Any],
    options: dict[str, Any] | None = None,
    source: str = "",
    source_sha256: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a vostool checkpoint atomically."""
    import torch

    from vostool import __version__
    from vostool.io.masks import atomic_save

    payload = {
        "vostool_checkpoint": CHECKPOINT_FORMAT,
        "method": method,
        "arch": arch,
        "options": options or {},
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "source": source,
        "source_sha256": source_sha256,
        "vostool_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    atomic_save(Path(path), lambda tmp: torch.save(payload, tmp))
