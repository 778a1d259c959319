"""Inference copies of modules with BatchNorm folded into the preceding convolutions.

In eval mode a BatchNorm after a convolution is a per-channel affine map, so it can be folded into
the convolution's weights and bias: one pass over the feature map instead of two. The results are
the same up to float rounding. The copy is cached on the module and rebuilt whenever one of its
parameters or buffers changes (loading weights, a training step, moving to another device); while
training or recording gradients the module itself is used.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

_CACHE = "_vostool_folded"


def _stamp(module: nn.Module) -> tuple:
    return tuple((t.device, t.data_ptr(), t._version) for t in itertools.chain(module.parameters(), module.buffers()))


def folded(module: nn.Module) -> nn.Module:
    """``module`` with Conv2d -> BatchNorm2d pairs folded (a cached copy), or ``module`` itself when
    training or when gradients are recorded. The module must be traceable by ``torch.fx``."""
    if module.training or torch.is_grad_enabled():
        return module
    stamp = _stamp(module)
    cached = module.__dict__.get(_CACHE)  # not a submodule: stays out of state_dict() and modules()
    if cached is None or cached[0] != stamp:
        from torch.fx.experimental.optimization import fuse

        module.__dict__.pop(_CACHE, None)  # or the copy would carry (and chain) the stale one
        copy = fuse(module, inplace=False)
        weight = next((p for p in module.parameters() if p.dim() == 4), None)
        if weight is not None and weight.is_contiguous(memory_format=torch.channels_last):
            copy = copy.to(memory_format=torch.channels_last)
        cached = (stamp, copy)
        module.__dict__[_CACHE] = cached
    return cached[1]
