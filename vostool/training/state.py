"""Training checkpoints: a vostool weights checkpoint plus everything needed to continue exactly.

``runs/NAME/last.pt`` and ``best.pt`` are vostool checkpoints (``--weights runs/NAME/best.pt`` works
for ``segment``) with a ``training`` entry: step, the run's configuration, optimiser and schedule
state, the AMP scaler, every process's random-number states and the training module's own state
(:meth:`training_state`), and the best validation score so far. Files are written atomically, so
an interrupted write or a full disk leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vostool.errors import OutputError, WeightsError

TRAINING_FORMAT = 1
# The files a run writes into runs/NAME (the folder may hold the user's own files too).
RUN_FILES = ("last.pt", "best.pt", "log.jsonl", "curves.png", "config.json")


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) random states, as plain data."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": [int(k) for k in keys], "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def model_state(method, omit_prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The method network's weights, without the parts that are rebuilt from elsewhere (ImageNet)."""
    return {k: v for k, v in method.network.state_dict().items() if not k.startswith(omit_prefixes)}


def save(path: Path, method, options_dict: dict, arch: dict, model: dict[str, torch.Tensor],
         training: dict[str, Any], source: str) -> None:
    """Write a training checkpoint atomically; a full disk is an OutputError and the old file stays."""
    from vostool.weights import save_checkpoint

    try:
        save_checkpoint(path, method.name, model, arch, options_dict, source=source,
                        extra={"training": {"format": TRAINING_FORMAT, **training}})
    except RuntimeError as exc:  # torch's zip writer reports a full disk as a RuntimeError
        raise OutputError(f"cannot write {path}: {str(exc).splitlines()[0]} (disk full?); "
                          "the previous checkpoint is untouched") from None
    except OutputError as exc:
        raise OutputError(f"{exc}; the previous checkpoint is untouched") from None


def load(path: Path, method_name: str) -> dict[str, Any]:
    """Read a training checkpoint for ``--resume``: one WeightsError line when it is unusable."""
    from vostool.weights import is_vostool_checkpoint, read_checkpoint

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"cannot resume: {path} not found (was the run started? see runs/NAME/)")
    raw = read_checkpoint(path)
    if not is_vostool_checkpoint(raw) or not isinstance(raw.get("training"), dict):
        raise WeightsError(f"cannot resume from {path}: it is not a vostool training checkpoint")
    if raw.get("method") != method_name:
        raise WeightsError(f"cannot resume from {path}: it trains {raw.get('method')}, not {method_name}")
    training = raw["training"]
    needed = ("step", "config", "optimizer", "rng")
    missing = [k for k in needed if k not in training]
    if missing or training.get("format") != TRAINING_FORMAT:
        raise WeightsError(f"cannot resume from {path}: incomplete training state ({', '.join(missing) or 'format'})")
    return raw


def restore_model(method, raw: dict[str, Any], source: str) -> None:
    """Strictly load a checkpoint's weights; parts it omits (ImageNet backbones) keep the built values."""
    from vostool.weights import check_state

    own = method.network.state_dict()
    state = dict(raw["state_dict"])
    for key in method.completed_prefixes:
        for k, v in own.items():
            if k.startswith(key) and k not in state:
                state[k] = v
    check_state(own, state, source, method.name)
    method.network.load_state_dict(state, strict=True)
