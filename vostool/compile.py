"""Optional ``torch.compile`` of a method's network (off by default everywhere).

Methods do not call one ``forward``: sessions call parts of their network (a backbone's stages, a
decoder's blocks). So instead of wrapping the top module, every ``nn.Sequential`` that is not inside
another one (ResNet stages, decoder blocks) is compiled in place with ``nn.Module.compile``: parameter
names, ``state_dict`` and the sessions' code stay as they are. Parts that run through
:func:`vostool.methods.fusion.folded` (RGMP's and FlowVOS's BatchNorm-folded copies) run uncompiled.

Not measured by default: benchmarks/gpu_check.py ``--compile`` times it and compares its labels with
the eager network's; until that shows a gain with the same labels, nothing turns it on.
"""

from __future__ import annotations

from torch import nn


def compile_network(network: nn.Module, mode: str | None = None, backend: str = "inductor") -> list[str]:
    """Compile the outermost ``nn.Sequential`` modules of ``network`` in place; returns their names.

    ``mode`` and ``backend`` are passed to ``torch.compile`` (e.g. ``mode="max-autotune"``).
    Shapes are fixed per video, so ``dynamic=False``; a new frame size recompiles.
    """
    names: list[str] = []
    inside: list[str] = []
    for name, module in network.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside):
            continue
        if isinstance(module, nn.Sequential) and len(module) > 0:
            module.compile(mode=mode, backend=backend, dynamic=False)
            names.append(name)
            inside.append(name)
    return names
