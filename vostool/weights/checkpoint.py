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
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vostool.errors import WeightsError
from vostool.state_dicts import check_state, load_state_strict

if TYPE_CHECKING:
    import torch

__all__ = ["CHECKPOINT_FORMAT", "read_checkpoint", "is_vostool_checkpoint", "save_checkpoint", "check_state",
           "load_state_strict"]

CHECKPOINT_FORMAT = 1


_GLOBAL_RE = re.compile(r"GLOBAL ([\w\.]+)")


def _defaultdict_as_dict(*args):
    """Stands in for collections.defaultdict (weights-only unpickling cannot fill one): a plain dict."""
    return {}


_defaultdict_as_dict.__module__ = "collections"
_defaultdict_as_dict.__name__ = _defaultdict_as_dict.__qualname__ = "defaultdict"


def _stand_in(qualified: str) -> type:
    """An inert class with the given module and name, so weights-only unpickling can build it."""
    module, _, name = qualified.rpartition(".")
    cls = type(name, (), {"__module__": module, "__qualname__": name, "__setstate__": lambda self, state: None})
    return cls


def read_checkpoint(path: Path) -> Any:
    """Unpickle a checkpoint without running code from it; one WeightsError line when impossible."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    allowed: list = []
    for _ in range(16):
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            match = _GLOBAL_RE.search(str(exc))
            if not match:
                raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({_first_line(exc)})") from None
            qualified = match.group(1)
            if qualified == "collections.defaultdict":
                allowed.append(_defaultdict_as_dict)
            elif qualified.startswith(("torch.", "builtins.", "numpy.")) or "__" in qualified:
                raise WeightsError(f"{path} contains {qualified}, which is not allowed in a weights file") from None
            else:
                allowed.append(_stand_in(qualified))
        except (zipfile.BadZipFile, EOFError) as exc:
            raise WeightsError(f"{path} is truncated or damaged ({_first_line(exc)}); download it again") from None
        except RuntimeError as exc:
            text = str(exc)
            if "zip" in text.lower() or "archive" in text.lower() or "storage" in text.lower():
                raise WeightsError(f"{path} is truncated or damaged ({_first_line(exc)}); download it again") from None
            raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({_first_line(exc)})") from None
        except (OSError, ValueError, KeyError, IndexError) as exc:  # IndexError: some tiny non-pickle files
            raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({_first_line(exc)})") from None
    raise WeightsError(f"{path} references too many unknown classes to be a weights file")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


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
