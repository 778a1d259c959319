"""``load_method``: registry + options + weights -> a ready :class:`~vostool.methods.base.Method`."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from vostool.errors import WeightsError
from vostool.methods.base import Method
from vostool.options import make_options
from vostool.registry import get_method_class
from vostool.weights import checkpoint_for_method


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
        built = cls.build(requested, device=device)
        built.weights_source = "untrained"
        return built
    checkpoint = checkpoint_for_method(cls, weights, requested)
    for key, value in checkpoint.arch.items():
        if key in overrides and getattr(requested, key) != value:
            raise WeightsError(
                f"--set {key}={getattr(requested, key)} contradicts the weights ({checkpoint.source} is {key}={value})"
            )
    resolved = make_options(cls.Options, checkpoint.arch, base=requested)
    built = cls.build(resolved, device=device)
    built.load_checkpoint(checkpoint)
    return built
