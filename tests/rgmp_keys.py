"""The authors' RGMP checkpoint layout (weights.pth), written out from the spec (not from vostool's modules).

``nn.DataParallel(RGMP())``: ``module.Encoder`` is torchvision's ResNet-50 with ``layer1..4`` renamed
``res2..5`` plus ``conv1_p`` and the ``mean``/``std`` buffers; ``module.Decoder`` is GC, convG1/2,
RF4/RF3/RF2 and pred5..pred2 (../shared/specs/rgmp.md, B.2).
"""

from __future__ import annotations

from collections import OrderedDict

import torch

BLOCKS = {"res2": (3, 64, 256), "res3": (4, 128, 512), "res4": (6, 256, 1024), "res5": (3, 512, 2048)}


def _bn(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,), f"{prefix}.running_mean": (channels,),
            f"{prefix}.running_var": (channels,), f"{prefix}.num_batches_tracked": ()}


def authors_shapes() -> dict[str, tuple[int, ...]]:
    e, d = "module.Encoder.", "module.Decoder."
    shapes: dict[str, tuple[int, ...]] = {e + "mean": (1, 3, 1, 1), e + "std": (1, 3, 1, 1),
                                          e + "conv1_p.weight": (64, 1, 7, 7), e + "conv1_p.bias": (64,),
                                          e + "conv1.weight": (64, 3, 7, 7)}
    shapes.update(_bn(e + "bn1", 64))
    inplanes = 64
    for stage, (count, width, out) in BLOCKS.items():
        for i in range(count):
            p = f"{e}{stage}.{i}."
            cin = inplanes if i == 0 else out
            shapes[p + "conv1.weight"] = (width, cin, 1, 1)
            shapes.update(_bn(p + "bn1", width))
            shapes[p + "conv2.weight"] = (width, width, 3, 3)
            shapes.update(_bn(p + "bn2", width))
            shapes[p + "conv3.weight"] = (out, width, 1, 1)
            shapes.update(_bn(p + "bn3", out))
            if i == 0:
                shapes[p + "downsample.0.weight"] = (out, cin, 1, 1)
                shapes.update(_bn(p + "downsample.1", out))
        inplanes = out
    for name, shape in (("conv_l1", (256, 4096, 7, 1)), ("conv_l2", (256, 256, 1, 7)),
                        ("conv_r1", (256, 4096, 1, 7)), ("conv_r2", (256, 256, 7, 1))):
        shapes[f"{d}GC.{name}.weight"], shapes[f"{d}GC.{name}.bias"] = shape, (256,)
    for name in ("convG1", "convG2"):
        shapes[f"{d}{name}.weight"], shapes[f"{d}{name}.bias"] = (256, 256, 3, 3), (256,)
    for rf, cin in (("RF4", 1024), ("RF3", 512), ("RF2", 256)):
        for name in ("convFS1", "convFS2", "convFS3", "convMM1", "convMM2"):
            shapes[f"{d}{rf}.{name}.weight"] = (256, cin if name == "convFS1" else 256, 3, 3)
            shapes[f"{d}{rf}.{name}.bias"] = (256,)
    for k in (5, 4, 3, 2):
        shapes[f"{d}pred{k}.weight"], shapes[f"{d}pred{k}.bias"] = (2, 256, 3, 3), (2,)
    return shapes


def authors_state_dict(seed: int = 0, legacy_bn: bool = False) -> "OrderedDict[str, torch.Tensor]":
    """Random tensors with the authors' names and shapes; ``legacy_bn``: as saved by PyTorch 0.3.1."""
    g = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, shape in authors_shapes().items():
        if key.endswith("num_batches_tracked"):
            if not legacy_bn:
                state[key] = torch.tensor(0)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(".mean"):
            state[key] = torch.tensor([0.485, 0.456, 0.406]).view(shape)
        elif key.endswith(".std"):
            state[key] = torch.tensor([0.229, 0.224, 0.225]).view(shape)
        else:
            state[key] = torch.randn(shape, generator=g) * 0.02
    return state
