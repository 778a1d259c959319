"""The one place that turns ``--weights`` into weights and a ready :class:`~vostool.methods.base.Method`.

``--weights`` may be ``demo`` (the packaged demo weights, or those built by ``vostool weights
build-demo``),
``OTHER:SPEC`` (another method's weights, e.g. ``stm:STM_weights.pth`` for munet), a name from the
table of named weights (downloaded into the cache, or from ``$VOSTOOL_WEIGHTS_MIRROR``), an http(s)
URL (downloaded into the cache the same way), or a path. Methods only ever
see the resulting :class:`~vostool.state_dicts.Checkpoint` (tensors in vostool's names).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from vostool.errors import WeightsError
from vostool.methods.base import Checkpoint, Method
from vostool.options import make_options
from vostool.registry import get_method_class
from vostool.weights import (
    NAMED_WEIGHTS,
    demo_file,
    fetch_named,
    is_vostool_checkpoint,
    named_for_method,
    read_checkpoint,
    sha256_file,
    url_entry,
)

def resolve_weights(method: str, spec: str | os.PathLike | None, default: str | None) -> tuple[Path, str]:
    """Turn ``--weights`` (a path, a name, or None for the default) into a local file and a label."""
    if spec is None:
        if default is None:
            raise WeightsError(
                f"{method} has no default weights; pass --weights FILE or use --untrained for speed tests"
            )
        spec = default
    text = str(spec)
    if text.startswith(("http://", "https://")):  # downloaded into the cache like a named entry
        return fetch_named(url_entry(text, method)), text
    path = Path(text).expanduser()
    if path.is_file():
        return path, str(path)
    if text == "demo":  # packaged, or built by `vostool weights build-demo` (never trained here)
        return demo_file(method), "demo"
    if path.is_dir():
        raise WeightsError(f"--weights {text} is a folder; give a checkpoint file")
    if text in NAMED_WEIGHTS:
        entry = NAMED_WEIGHTS[text]
        if entry.method != method:
            raise WeightsError(f"weights {text!r} are for {entry.method}, not {method}")
        return fetch_named(entry), text
    if os.sep in text or "/" in text or path.suffix in (".pth", ".pt", ".tar", ".ckpt"):
        raise WeightsError(f"weights file not found: {text}")
    names = ", ".join(w.name for w in named_for_method(method)) or "none"
    raise WeightsError(f"unknown weights {text!r} for {method}; named weights: {names}; or give a file path")


def checkpoint_for_method(method_cls: type[Method], spec: str | os.PathLike | None, options: Any) -> Checkpoint:
    """Resolve, read and convert weights for ``method_cls`` into a Checkpoint in vostool's names."""
    # "OTHER:SPEC": initialise from another method's weights (e.g. munet from stm:STM_weights.pth)
    other, sep, rest = str(spec if spec is not None else method_cls.default_weights(options) or "").partition(":")
    if sep and other in method_cls.init_methods:
        other_cls = get_method_class(other)
        return method_cls.checkpoint_from(other, checkpoint_for_method(other_cls, rest, other_cls.Options()))
    path, label = resolve_weights(method_cls.name, spec, method_cls.default_weights(options))
    raw = read_checkpoint(path)
    digest = sha256_file(path)
    if is_vostool_checkpoint(raw):
        if raw.get("method") != method_cls.name:
            raise WeightsError(f"{path} holds {raw.get('method')} weights, not {method_cls.name}")
        checkpoint = Checkpoint(dict(raw["state_dict"]), dict(raw.get("arch") or {}), label, digest)
    else:
        checkpoint = method_cls.convert_checkpoint(raw, label)
        checkpoint.source = label
        checkpoint.sha256 = digest
    return checkpoint


def build_method(cls: type[Method], options: Any, device: torch.device | str = "cpu",
                 pretrained_backbone: bool = False) -> Method:
    """``cls.build`` plus the weights its options name as a starting point (``Method.init_spec``,
    e.g. MUNet's ``init_from``): those are loaded into the network without counting as its weights."""
    method = cls.build(options, device=device, pretrained_backbone=pretrained_backbone)
    spec = cls.init_spec(method.options)
    if spec:
        method.initialise(checkpoint_for_method(cls, spec, method.options))
    return method


def load_method(
    method: str | type[Method],
    options: Mapping[str, Any] | None = None,
    weights: str | None = None,
    untrained: bool = False,
    device: torch.device | str = "cpu",
) -> Method:
    """Build a method and load its weights strictly.

    ``options`` are ``--set`` overrides (strings are parsed). Architecture options implied by the
    weights (e.g. FRTM's backbone) are taken from the checkpoint; an explicit override that
    contradicts them is a WeightsError. ``untrained=True`` builds random weights with bounded
    activations, for speed tests and smoke tests.
    """
    cls = get_method_class(method) if isinstance(method, str) else method
    overrides = dict(options or {})
    requested = make_options(cls.Options, overrides)
    if untrained:
        built = build_method(cls, requested, device=device)
        built.weights_source = "untrained"
        return built
    checkpoint = checkpoint_for_method(cls, weights, requested)
    for key, value in checkpoint.arch.items():
        if key in overrides and getattr(requested, key) != value:
            raise WeightsError(
                f"--set {key}={getattr(requested, key)} contradicts the weights ({checkpoint.source} is {key}={value})"
            )
    resolved = make_options(cls.Options, checkpoint.arch, base=requested)
    built = build_method(cls, resolved, device=device)
    built.load_checkpoint(checkpoint)
    return built


def load_weights(method: Method, spec: str) -> None:
    """Strictly load ``spec`` (any form of ``--weights``) into an already built ``method``."""
    checkpoint = checkpoint_for_method(type(method), spec, method.options)
    method.check_arch(checkpoint.arch)
    method.load_checkpoint(checkpoint)


def load_backbone(method: Method, path: str | os.PathLike) -> None:
    """``--backbone-weights PATH``: a torchvision-style state dict, read here, loaded strictly by the
    method into its backbone (``Method.load_backbone``)."""
    raw = read_checkpoint(Path(path))
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else raw
    if not isinstance(state, dict):
        raise WeightsError(f"{path} is not a state dict of backbone weights")
    method.load_backbone(state, str(path))
