"""``vostool weights inspect FILE``: what a checkpoint file holds and whether a method can load it.

The report lists the file's format, every global its pickle names with the reader's verdict (PyTorch's
tensor machinery, inert data, an inert stand-in, or refused and why), the top-level entries with their
types, the wrapper key that holds the state dict, its tensor and parameter counts, the ``module.``
prefix and BatchNorm counters, and which methods (and architectures) it fits strictly. Nothing from
the file is run: the globals come from a scan of the pickle's opcodes, the data from
:func:`vostool.safe_pickle.read_checkpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vostool.errors import WeightsError
from vostool.weights.safe_pickle import GlobalVerdict, StandIn, classify, pickle_globals, read_checkpoint

WRAPPER_KEYS = ("state_dict", "model", "net", "network", "weights")
FORMATS = {"zip": "torch.save zip format (PyTorch >= 1.6)", "legacy": "torch.save format of PyTorch < 1.6"}


@dataclass
class Entry:
    """One top-level entry of the file: its key, type and a short description."""

    key: str
    type: str
    summary: str


@dataclass
class Match:
    """A method whose converter accepts the file; ``fits``: its keys and shapes load strictly."""

    method: str
    arch: dict[str, Any]
    fits: bool
    detail: str


@dataclass
class InspectReport:
    """Everything ``weights inspect`` prints. ``error`` is set when the file cannot be read."""

    path: Path
    size_bytes: int
    format: str | None = None  # "zip" (PyTorch >= 1.6), "legacy" (older) or None (not torch.save)
    globals: list[GlobalVerdict] = field(default_factory=list)
    error: str | None = None
    layout: str | None = None
    wrapper_key: str | None = None
    entries: list[Entry] = field(default_factory=list)
    tensors: int = 0
    parameters: int = 0
    module_prefix: bool = False
    batchnorm_counters: str = "no BatchNorm"
    vostool: dict[str, Any] | None = None
    matches: list[Match] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def loadable(self) -> bool:
        return self.error is None and any(m.fits for m in self.matches)

    def lines(self) -> list[str]:
        """The report as text lines (the CLI prints them)."""
        kind = FORMATS.get(self.format or "", "not a torch.save file")
        out = [f"file: {self.path} ({self.size_bytes / 2**20:.1f} MiB, {kind})"]
        shown = [g for g in self.globals if g.kind != "torch"]
        torch_count = len(self.globals) - len(shown)
        out.append(f"pickled globals: {torch_count} of PyTorch's tensor machinery" + (", plus:" if shown else ""))
        out += [f"  {g.name}: {g.kind} ({g.reason})" for g in shown]
        if self.error is not None:
            out.append(f"refused: {self.error}")
            return out
        out.append(f"layout: {self.layout}" + (f", state dict under {self.wrapper_key!r}" if self.wrapper_key else ""))
        if self.vostool:
            out.append("vostool checkpoint: " + ", ".join(f"{k}={v}" for k, v in self.vostool.items()))
        for entry in self.entries:
            out.append(f"  {entry.key}: {entry.type}: {entry.summary}")
        out.append(f"state dict: {self.tensors} tensors, {self.parameters:,} values, "
                   f"'module.' prefix {'yes (DataParallel)' if self.module_prefix else 'no'}, "
                   f"BatchNorm num_batches_tracked {self.batchnorm_counters}")
        if not self.matches:
            out.append("matches: no method (no converter recognises these keys)")
        for m in self.matches:
            arch = ", ".join(f"{k}={v}" for k, v in m.arch.items()) or "default architecture"
            out.append(f"matches {m.method} ({arch}): " + ("loads strictly" if m.fits else f"does not fit: {m.detail}"))
        out += [f"note: {n}" for n in self.notes]
        return out


def _type_name(value: Any) -> str:
    if isinstance(value, StandIn):
        return f"{type(value).qualified_name} (inert stand-in)"
    module = type(value).__module__
    return type(value).__qualname__ if module == "builtins" else f"{module}.{type(value).__qualname__}"


def _is_state_dict(value: Any) -> bool:
    import torch

    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def describe(value: Any, depth: int = 0) -> str:
    """A short description of a pickled value (type, size, a few contents)."""
    import argparse

    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return f"tensor {value.dtype} {tuple(value.shape)}"
    if isinstance(value, np.generic):
        return f"numpy {value.dtype} {value.item()!r}"
    if isinstance(value, np.ndarray):
        return f"numpy array {value.dtype} {value.shape}"
    if isinstance(value, argparse.Namespace):
        fields = list(vars(value))
        return f"{len(fields)} fields ({', '.join(fields[:6])}{', …' if len(fields) > 6 else ''})"
    if isinstance(value, StandIn):
        return ", ".join(f"{k}={describe(v, depth + 1)}" for k, v in list(vars(value).items())[:4]) or "no attributes"
    if _is_state_dict(value):
        return f"state dict of {len(value)} tensors"
    if isinstance(value, dict):
        if "param_groups" in value and "state" in value:
            groups = value["param_groups"]
            lr = groups[0].get("lr") if groups and isinstance(groups[0], dict) else None
            return f"optimizer state: {len(value['state'])} parameter states, {len(groups)} group(s), lr={lr}"
        if "last_epoch" in value:
            return f"scheduler state: last_epoch={value['last_epoch']}"
        if depth >= 1:
            return f"{len(value)} entries"
        kinds = sorted({_type_name(v) for v in value.values()})
        return f"{len(value)} entries of {', '.join(kinds[:3])}" + (", …" if len(kinds) > 3 else "")
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"{len(value)} items"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _find_state(raw: Any) -> tuple[str, str | None, dict]:
    """(layout, wrapper key, state dict) of an unpickled file."""
    from vostool.weights import is_vostool_checkpoint

    if is_vostool_checkpoint(raw):
        return "vostool checkpoint", "state_dict", raw["state_dict"]
    if _is_state_dict(raw):
        return "a bare state dict", None, raw
    if isinstance(raw, dict):
        for key in [k for k in WRAPPER_KEYS if k in raw] + [k for k in raw if k not in WRAPPER_KEYS]:
            if _is_state_dict(raw[key]):
                return "a dict of entries", str(key), raw[key]
        return "a dict of entries without a state dict", None, {}
    return f"a {_type_name(raw)}, not a dict", None, {}


def _fit(cls: Any, raw: Any, label: str, vostool: bool) -> Match | None:
    """Whether ``cls`` converts ``raw`` and its network takes the result strictly (shapes only)."""
    import torch

    from vostool.methods.base import Checkpoint
    from vostool.options import make_options
    from vostool.weights import check_state

    try:
        if vostool:
            checkpoint = Checkpoint(dict(raw["state_dict"]), dict(raw.get("arch") or {}), label)
        else:
            checkpoint = cls.convert_checkpoint(raw, label)
    except WeightsError:
        return None
    try:
        options = make_options(cls.Options, dict(checkpoint.arch))
        with torch.device("meta"):  # shapes only: nothing is allocated or initialised
            own = cls.build_network(options).state_dict()
    except Exception as exc:  # a converter accepted keys its network cannot be built for
        return Match(cls.name, dict(checkpoint.arch), False, str(exc).splitlines()[0][:200])
    state = dict(checkpoint.state_dict)
    for key, value in own.items():  # what the strict loader fills or completes
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
        elif cls.completed_prefixes and key.startswith(cls.completed_prefixes) and key not in state:
            state[key] = value
    try:
        check_state(own, state, label, cls.name)
    except WeightsError as exc:
        return Match(cls.name, dict(checkpoint.arch), False, str(exc).split(": ", 1)[-1])
    return Match(cls.name, dict(checkpoint.arch), True, "")


def inspect_checkpoint(path: Path | str, match_methods: bool = True) -> InspectReport:
    """Read ``path`` safely and describe it; a file that cannot be read is a report with ``error``."""
    from vostool.registry import get_method_class, method_names

    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    report = InspectReport(path, path.stat().st_size)
    scanned = pickle_globals(path)
    if scanned is not None:
        report.format = scanned[0]
        report.globals = [classify(name) for name in scanned[1]]
    try:
        raw = read_checkpoint(path)
    except WeightsError as exc:
        report.error = str(exc)
        return report
    report.layout, report.wrapper_key, state = _find_state(raw)
    if isinstance(raw, dict) and state is not raw:
        report.entries = [Entry(str(k), _type_name(v), describe(v)) for k, v in raw.items() if k != report.wrapper_key]
    report.tensors = len(state)
    report.parameters = sum(int(v.numel()) for v in state.values())
    report.module_prefix = bool(state) and all(str(k).startswith("module.") for k in state)
    bn = [k for k in state if str(k).endswith(("running_var", "num_batches_tracked"))]
    if bn:
        counters = any(str(k).endswith("num_batches_tracked") for k in bn)
        report.batchnorm_counters = "present" if counters else "absent (PyTorch < 0.4 layout; filled in on loading)"
    if report.layout == "vostool checkpoint":
        report.vostool = {k: raw.get(k) for k in ("method", "arch", "source", "vostool_version")}
        report.entries = []
    if not match_methods or not state:
        return report
    candidates = [raw["method"]] if report.vostool and raw.get("method") in method_names() else method_names()
    for name in candidates:
        cls = get_method_class(name)
        if cls.init_methods:  # checked below as an initialisation, not as its own weights
            continue
        match = _fit(cls, raw, str(path), report.vostool is not None)
        if match is not None:
            report.matches.append(match)
    for name in method_names():
        cls = get_method_class(name)
        for other in cls.init_methods:
            if any(m.method == other and m.fits for m in report.matches):
                report.notes.append(f"{name} can start from it: --method {name} --weights {other}:{path}")
    return report
