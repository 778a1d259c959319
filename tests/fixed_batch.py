"""Optimisation on one fixed batch: the CI-sized check that a training module learns."""

from __future__ import annotations

from typing import Callable

import torch


def fit_fixed_batch(module: torch.nn.Module, batch: dict, steps: int, lr: float = 1e-4,
                    optimizer: torch.optim.Optimizer | None = None,
                    after_backward: Callable[[int], None] | None = None) -> tuple[list[float], dict]:
    """``steps`` optimiser steps (Adam on the trainable parameters unless ``optimizer`` is given) on
    ``batch``; returns every step's loss and the last step's outputs. ``after_backward(step)`` runs
    between the backward pass and the update (e.g. to inspect gradients)."""
    if optimizer is None:
        optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
    losses, out = [], {}
    for step in range(steps):
        optimizer.zero_grad()
        out = module(batch)
        out["loss"].backward()
        if after_backward is not None:
            after_backward(step)
        optimizer.step()
        losses.append(float(out["loss"].detach()))
    return losses, out
