"""The authors' TVOS checkpoint layout, written out from ../shared/specs/tvos.md (not from vostool's modules).

``nn.DataParallel(VOSNet)``: ``module.backbone.N`` with N the position in ``Sequential(conv1, bn1, relu,
maxpool, layer1..layer4)``; layer3 and layer4 have 256 planes at stride 1 (layer4 without a downsample);
ResNet-50/101 add ``module.adjust_dim`` (256, 1024, 1, 1) and ``module.bn256``.
"""

from __future__ import annotations

import torch

BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}


def _bn(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def authors_shapes(arch: str = "resnet50") -> dict[str, tuple[int, ...]]:
    """Every key of the authors' checkpoint with its shape."""
    basic = arch == "resnet18"
    expansion = 1 if basic else 4
    shapes = {"module.backbone.0.weight": (64, 3, 7, 7), **_bn("module.backbone.1", 64)}
    inplanes = 64
    # (Sequential position, planes); layer3 and layer4 both have 256 planes in TVOS.
    for (position, planes), count in zip(((4, 64), (5, 128), (6, 256), (7, 256)), BLOCKS[arch]):
        width = planes * expansion
        for i in range(count):
            p = f"module.backbone.{position}.{i}"
            cin = inplanes if i == 0 else width
            if basic:
                shapes[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
                shapes.update(_bn(f"{p}.bn1", planes))
                shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                shapes.update(_bn(f"{p}.bn2", planes))
            else:
                shapes[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
                shapes.update(_bn(f"{p}.bn1", planes))
                shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                shapes.update(_bn(f"{p}.bn2", planes))
                shapes[f"{p}.conv3.weight"] = (width, planes, 1, 1)
                shapes.update(_bn(f"{p}.bn3", width))
            if i == 0 and cin != width:
                shapes[f"{p}.downsample.0.weight"] = (width, cin, 1, 1)
                shapes.update(_bn(f"{p}.downsample.1", width))
        inplanes = width
    if not basic:
        shapes["module.adjust_dim.weight"] = (256, 1024, 1, 1)
        shapes.update(_bn("module.bn256", 256))
    return shapes


def authors_checkpoint(arch: str = "resnet50", seed: int = 0, prefix: str = "module.") -> dict:
    """A training checkpoint as ``main.py`` saves it, with random but well-formed tensors."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in authors_shapes(arch).items():
        if key.endswith("num_batches_tracked"):
            value = torch.tensor(1000)
        elif key.endswith("running_var"):
            value = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(("running_mean", "bias")):
            value = torch.randn(shape, generator=g) * 0.1
        elif len(shape) == 1:  # BN weight
            value = torch.rand(shape, generator=g) * 0.5 + 0.5
        else:
            fan_in = shape[1] * shape[2] * shape[3]
            value = torch.randn(shape, generator=g) * (1 / fan_in) ** 0.5
        state[prefix + key[len("module."):]] = value
    return {"epoch": 240, "state_dict": state, "optimizer": {"state": {}, "param_groups": [{"lr": 4e-5}]},
            "scheduler": {"T_max": 240, "eta_min": 4e-5, "last_epoch": 240}}
