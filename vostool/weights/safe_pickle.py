"""Reading checkpoints without running code from them: PyTorch's weights-only unpickler plus an
allow-list of the inert data training scripts pickle next to their weights.

``torch.load(weights_only=True)`` builds only tensors and plain containers; every other *global* (a
class or function named in the pickle) must be allow-listed. This module allows, scoped to one read
with ``torch.serialization.safe_globals`` (no global state is changed):

* numpy scalars, arrays and dtypes (FRTM's ``stats`` hold ``acc.mean().cpu().numpy()`` values,
  ``model/training_model.py``, github.com/andr345/frtm-vos at e994ac2), under numpy 1's and 2's names;
* ``argparse.Namespace`` (pickled ``args``), ``collections.defaultdict``/``deque`` (read as a plain
  dict/list: the weights-only unpickler can fill only those), ``datetime`` values, ``pathlib`` paths
  (as pure paths, which never touch the file system), and harmless builtins (``list``, ``range``, …);
* training-statistics classes of the authors' code (``lib.utils.AverageMeter`` in FRTM's
  ``lib/training.py`` ``save_checkpoint``, pytracking's ``StatValue``) as inert stand-ins that keep
  the pickled attributes and have no behaviour.

Every other global is refused before anything is built, with one line naming it. There is no
fallback to unsafe loading.
"""

from __future__ import annotations

import pickle
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from functools import lru_cache
from typing import Any

from vostool.errors import WeightsError

# Class names of the authors' training statistics (any module): read as inert stand-ins.
STATS_CLASS_NAMES = ("AverageMeter", "StatValue")
_BUILTIN_DATA = ("list", "dict", "tuple", "int", "float", "str", "bool", "bytes", "frozenset", "slice", "range")
_PICKLE_OPS_LIMIT = 5_000_000  # a scan gives up (and loading decides) beyond this many opcodes


@dataclass(frozen=True)
class GlobalVerdict:
    """What the reader does with one global named in a pickle."""

    name: str
    kind: str  # "torch" (PyTorch's own allow-list), "data", "stand-in" or "refused"
    reason: str


def _defaultdict(default_factory: Any = None, *args: Any) -> dict:
    """``collections.defaultdict(factory)`` as a plain dict (its items follow in the pickle)."""
    return {}


def _deque(iterable: Any = (), maxlen: Any = None) -> list:
    """``collections.deque`` as a plain list (its items follow in the pickle)."""
    return list(iterable)


class StandIn:
    """An inert object in place of a training-statistics class: the pickled attributes, no methods."""

    qualified_name = "StandIn"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            self.__dict__["args"] = (args, kwargs)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["state"] = state

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in list(self.__dict__.items())[:6])
        return f"{self.qualified_name}({fields})"


def stand_in(qualified: str) -> type:
    """A StandIn subclass named like ``qualified`` (``lib.utils.AverageMeter`` -> ``AverageMeter``)."""
    module, _, name = qualified.rpartition(".")
    return type(name, (StandIn,), {"__module__": module, "__qualname__": name, "qualified_name": qualified})


@lru_cache(maxsize=1)
def _data_globals() -> dict[str, Any]:
    """Name in a pickle -> the harmless object the reader builds it with."""
    import argparse
    import builtins
    import datetime
    import pathlib

    import numpy as np

    allowed: dict[str, Any] = {}
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1
        from numpy.core import multiarray  # type: ignore[no-redef]
    for core in ("numpy.core", "numpy._core"):  # files written under numpy 1 and numpy 2
        allowed[f"{core}.multiarray.scalar"] = multiarray.scalar
        allowed[f"{core}.multiarray._reconstruct"] = multiarray._reconstruct
    allowed["numpy.ndarray"] = np.ndarray
    allowed["numpy.dtype"] = np.dtype
    for name in dir(getattr(np, "dtypes", None) or ()):
        if name.endswith("DType"):
            allowed[f"numpy.dtypes.{name}"] = getattr(np.dtypes, name)
    allowed["argparse.Namespace"] = argparse.Namespace
    allowed["collections.defaultdict"] = _defaultdict
    allowed["collections.deque"] = _deque
    for name in _BUILTIN_DATA:
        allowed[f"builtins.{name}"] = getattr(builtins, name)
    for name in ("datetime", "date", "time", "timedelta", "timezone"):
        allowed[f"datetime.{name}"] = getattr(datetime, name)
    for module in ("pathlib", "pathlib._local"):
        for name in ("Path", "PosixPath", "PurePath", "PurePosixPath"):
            allowed[f"{module}.{name}"] = pathlib.PurePosixPath
        for name in ("WindowsPath", "PureWindowsPath"):
            allowed[f"{module}.{name}"] = pathlib.PureWindowsPath
    return allowed


def _torch_allowed(name: str) -> bool:
    """Whether PyTorch's weights-only unpickler allows ``name`` by itself (tensors, storages, …)."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        return name in _get_allowed_globals()
    except ImportError:  # pragma: no cover - a PyTorch without that module: let loading decide
        return name.startswith(("torch._utils._rebuild", "torch.", "collections.OrderedDict", "_codecs.encode"))


def classify(name: str) -> GlobalVerdict:
    """The reader's verdict on one global, with the reason in words."""
    if _torch_allowed(name):
        return GlobalVerdict(name, "torch", "tensor data (PyTorch's own allow-list)")
    if name in _data_globals():
        return GlobalVerdict(name, "data", "inert data, built without running code from the file")
    module, _, short = name.rpartition(".")
    if short in STATS_CLASS_NAMES and module and not module.startswith(("torch", "numpy", "builtins")):
        return GlobalVerdict(name, "stand-in", "training statistics, read as an inert stand-in")
    if module.startswith("torch.nn") or module.startswith("torch.optim") or module.startswith("torchvision"):
        why = "a pickled module or optimizer object, not its state dict (save .state_dict() instead)"
    elif module == "__main__":
        why = "a class defined in the training script"
    elif module.startswith(("builtins", "os", "posix", "nt", "subprocess", "sys", "importlib", "runpy", "shutil")):
        why = "a function that could run code"
    else:
        why = "a Python object vostool does not know"
    return GlobalVerdict(name, "refused", why)


def _names_in(stream: Any) -> list[str]:
    """Globals named in one pickle read from ``stream`` (up to its STOP); nothing is built."""
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    names: list[str] = []
    strings: list[str] = []
    for count, (op, arg, _) in enumerate(pickletools.genops(stream)):
        if count > _PICKLE_OPS_LIMIT:
            break
        if op.name == "GLOBAL":
            module, name = arg.split(" ", 1)
            module, name = NAME_MAPPING.get((module, name), (IMPORT_MAPPING.get(module, module), name))
            names.append(f"{module}.{name}")
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:  # protocol 4: module and name pushed as strings
            names.append(f"{strings[-2]}.{strings[-1]}")
        elif isinstance(arg, str) and "UNICODE" in op.name:
            strings.append(arg)
    return list(dict.fromkeys(names))


def pickle_globals(path: Path) -> tuple[str, list[str]] | None:
    """``(format, globals)`` of a torch.save file: format ``zip`` (PyTorch >= 1.6) or ``legacy``
    (older, e.g. PyTorch 0.3.1), globals in order of first use. None when it is neither."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                if len(pkl) != 1:
                    return None
                with archive.open(pkl[0]) as stream:
                    return "zip", _names_in(stream)
        with open(path, "rb") as stream:
            if stream.read(1) != b"\x80":
                return None
            stream.seek(0)
            names: list[str] = []
            # legacy torch.save: magic number, protocol version, system info, then the object
            for _ in range(4):
                names += _names_in(stream)
            return "legacy", list(dict.fromkeys(names))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, KeyError, IndexError):
        return None


def refusal(path: Path, verdicts: list[GlobalVerdict]) -> str:
    """One line naming the refused globals of ``path``."""
    first = verdicts[0]
    more = f" (and {len(verdicts) - 1} more: {', '.join(v.name for v in verdicts[1:3])})" if len(verdicts) > 1 else ""
    return (f"{path} contains {first.name}, {first.reason}{more}; vostool reads tensors and inert data only and "
            f"runs nothing from a file (see `vostool weights inspect {path}`)")


def read_checkpoint(path: Path) -> Any:
    """Unpickle a checkpoint without running code from it; one WeightsError line when impossible."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    scanned = pickle_globals(path)
    if scanned is None and describe_bytes(path) in _NEVER_CHECKPOINTS:
        raise WeightsError(not_a_checkpoint(path))
    names = scanned[1] if scanned else []
    refused = [v for v in map(classify, names) if v.kind == "refused"]
    if refused:
        raise WeightsError(refusal(path, refused))
    data = _data_globals()
    extra = {n: stand_in(n) for n in names if classify(n).kind == "stand-in"}
    for _ in range(8):  # when the scan could not see every global, loading names the next one
        allowed: list = [(obj, name) for name, obj in {**data, **extra}.items()]
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            name = _global_in(str(exc))
            if name is None:
                raise WeightsError(not_a_checkpoint(path, exc)) from None
            verdict = classify(name)
            if verdict.kind != "stand-in" or name in extra:
                raise WeightsError(refusal(path, [verdict])) from None
            extra[name] = stand_in(name)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise WeightsError(f"{path} is truncated or damaged ({first_line(exc)}); download it again") from None
        except RuntimeError as exc:
            text = str(exc).lower()
            if "zip" in text or "archive" in text or "storage" in text:
                raise WeightsError(f"{path} is truncated or damaged ({first_line(exc)}); download it again") from None
            raise WeightsError(not_a_checkpoint(path, exc)) from None
        except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise WeightsError(not_a_checkpoint(path, exc)) from None
    raise WeightsError(f"{path} references too many unknown classes to be a weights file")


def _global_in(message: str) -> str | None:
    """The global named by PyTorch's weights-only refusal, or None."""
    import re

    match = re.search(r"GLOBAL ([\w\.]+)", message)
    if not match:
        return None
    name = match.group(1)
    return name if "." in name else f"builtins.{name}"  # PyTorch drops the "builtins." prefix


_EMPTY, _WEB_PAGE = "it is empty", "it is a web page (a failed download?)"
_SAFETENSORS, _TEXT = "it looks like a safetensors file, which vostool does not read", "it is a text file"
_NEVER_CHECKPOINTS = (_EMPTY, _WEB_PAGE, _SAFETENSORS, _TEXT)


def describe_bytes(path: Path) -> str:
    """What a file that is no checkpoint looks like, in a few words."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return _EMPTY
    if head[:2] == b"PK":
        return "it is a zip archive without a PyTorch checkpoint inside"
    if head.lstrip()[:5].lower() in (b"<!doc", b"<html"):
        return _WEB_PAGE
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return _SAFETENSORS
    if head[:1] == b"\x80":
        return "it is a pickle, but not one torch.save wrote"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if printable > 0.95 * len(head):
        return _TEXT
    return "its content is of an unknown kind"


def not_a_checkpoint(path: Path, exc: BaseException | None = None) -> str:
    """vostool's own line for a file torch.load cannot read at all (never PyTorch's advice)."""
    return f"{path} is not a readable PyTorch checkpoint (a file written by torch.save): {describe_bytes(path)}"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, at most 200 characters."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__

