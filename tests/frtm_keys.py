"""The authors' FRTM refiner checkpoint layout, written out from the spec (not from vostool's modules)."""

from __future__ import annotations

import torch

FEATURE_CHANNELS = {
    "resnet101": {"layer5": 2048, "layer4": 1024, "layer3": 512, "layer2": 256},
    "resnet18": {"layer5": 512, "layer4": 256, "layer3": 128, "layer2": 64},
}


def authors_refiner_shapes(backbone: str = "resnet101") -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    levels = FEATURE_CHANNELS[backbone]
    for level, fc in levels.items():
        p = f"refiner.TSE.{level}."
        shapes.update({p + "reduce.0.weight": (64, fc, 1, 1), p + "reduce.0.bias": (64,),
                       p + "reduce.2.weight": (64, 64, 1, 1), p + "reduce.2.bias": (64,),
                       p + "transform.0.weight": (65, 65, 3, 3), p + "transform.0.bias": (65,),
                       p + "transform.2.weight": (65, 65, 3, 3), p + "transform.2.bias": (65,),
                       p + "transform.4.weight": (64, 65, 3, 3), p + "transform.4.bias": (64,)})
    for block in ("RRB1", "RRB2", "CAB"):
        for level in levels:
            p = f"refiner.{block}.{level}."
            if block == "CAB":
                shapes.update({p + "convreluconv.0.weight": (64, 128, 1, 1), p + "convreluconv.0.bias": (64,),
                               p + "convreluconv.2.weight": (64, 64, 1, 1), p + "convreluconv.2.bias": (64,)})
            else:
                shapes.update({p + "conv1x1.weight": (64, 64, 1, 1), p + "conv1x1.bias": (64,),
                               p + "bblock.0.weight": (64, 64, 3, 3), p + "bblock.0.bias": (64,),
                               p + "bblock.1.weight": (64,), p + "bblock.1.bias": (64,),
                               p + "bblock.1.running_mean": (64,), p + "bblock.1.running_var": (64,),
                               p + "bblock.1.num_batches_tracked": (),
                               p + "bblock.3.weight": (64, 64, 3, 3)})
    shapes.update({"refiner.project.conv1.weight": (32, 64, 3, 3), "refiner.project.conv1.bias": (32,),
                   "refiner.project.conv2.weight": (1, 32, 3, 3), "refiner.project.conv2.bias": (1,)})
    return shapes


def authors_checkpoint(backbone: str = "resnet101", seed: int = 0, legacy_bn: bool = False) -> dict:
    """A training checkpoint as the authors save it: {'name', 'epoch', 'stats', 'model', ...}."""
    g = torch.Generator().manual_seed(seed)
    model = {}
    for key, shape in authors_refiner_shapes(backbone).items():
        if key.endswith("num_batches_tracked"):
            if legacy_bn:
                continue
            model[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            model[key] = torch.rand(shape, generator=g) + 0.5
        else:
            model[key] = torch.randn(shape, generator=g) * 0.05
    return {"name": "frtm", "epoch": 260, "model": model, "optimizer": {}, "scheduler": {}}
