"""The authors' STM, STM-cycle and FlowVOS checkpoint layouts, written out from the spec
(../shared/specs/stm_flowvos.md), not from vostool's modules."""

from __future__ import annotations

import torch

Shapes = dict[str, tuple[int, ...]]


def _bn(prefix: str, channels: int) -> Shapes:
    return {prefix + "weight": (channels,), prefix + "bias": (channels,), prefix + "running_mean": (channels,),
            prefix + "running_var": (channels,), prefix + "num_batches_tracked": ()}


def _bottlenecks(prefix: str, blocks: int, inplanes: int, planes: int) -> Shapes:
    """torchvision Bottleneck names: conv1/bn1/conv2/bn2/conv3/bn3, downsample.{0,1} on block 0."""
    shapes: Shapes = {}
    for i in range(blocks):
        p = f"{prefix}{i}."
        cin = inplanes if i == 0 else planes * 4
        shapes[p + "conv1.weight"] = (planes, cin, 1, 1)
        shapes.update(_bn(p + "bn1.", planes))
        shapes[p + "conv2.weight"] = (planes, planes, 3, 3)
        shapes.update(_bn(p + "bn2.", planes))
        shapes[p + "conv3.weight"] = (planes * 4, planes, 1, 1)
        shapes.update(_bn(p + "bn3.", planes * 4))
        if i == 0:
            shapes[p + "downsample.0.weight"] = (planes * 4, cin, 1, 1)
            shapes.update(_bn(p + "downsample.1.", planes * 4))
    return shapes


def _resnet50_layers(prefix: str, names: tuple[str, str, str]) -> Shapes:
    """ResNet-50 layer1-3 (3, 4, 6 blocks; 64, 128, 256 planes) under the given names."""
    shapes: Shapes = {}
    for name, blocks, inplanes, planes in zip(names, (3, 4, 6), (64, 256, 512), (64, 128, 256)):
        shapes.update(_bottlenecks(f"{prefix}{name}.", blocks, inplanes, planes))
    return shapes


def _conv(prefix: str, cout: int, cin: int, k: int) -> Shapes:
    return {prefix + "weight": (cout, cin, k, k), prefix + "bias": (cout,)}


def _encoder(prefix: str, extra: tuple[str, ...]) -> Shapes:
    shapes: Shapes = {prefix + "mean": (1, 3, 1, 1), prefix + "std": (1, 3, 1, 1)}
    for name in extra:
        shapes[f"{prefix}{name}.weight"] = (64, 1, 7, 7)
    shapes[prefix + "conv1.weight"] = (64, 3, 7, 7)
    shapes.update(_bn(prefix + "bn1.", 64))
    shapes.update(_resnet50_layers(prefix, ("res2", "res3", "res4")))
    return shapes


def _resblock(prefix: str) -> Shapes:
    return {**_conv(prefix + "conv1.", 256, 256, 3), **_conv(prefix + "conv2.", 256, 256, 3)}


def stm_shapes(third: str = "conv1_o", prefix: str = "") -> Shapes:
    """STM (third='conv1_o', prefix='module.') or STM-cycle (third='conv1_bg', no prefix)."""
    shapes = {**_encoder("Encoder_M.", ("conv1_m", third)), **_encoder("Encoder_Q.", ())}
    for kv in ("KV_M_r4.", "KV_Q_r4."):
        shapes.update({**_conv(kv + "Key.", 128, 1024, 3), **_conv(kv + "Value.", 512, 1024, 3)})
    shapes.update(_conv("Decoder.convFM.", 256, 1024, 3))
    shapes.update(_resblock("Decoder.ResMM."))
    for rf, cin in (("RF3", 512), ("RF2", 256)):
        shapes.update(_conv(f"Decoder.{rf}.convFS.", 256, cin, 3))
        shapes.update(_resblock(f"Decoder.{rf}.ResFS."))
        shapes.update(_resblock(f"Decoder.{rf}.ResMM."))
    shapes.update(_conv("Decoder.pred2.", 2, 256, 3))
    return {prefix + k: v for k, v in shapes.items()}


def _double_conv(prefix: str, cin: int, cout: int) -> Shapes:
    return {**_conv(prefix + "double_conv.0.", cout, cin, 3), **_bn(prefix + "double_conv.1.", cout),
            **_conv(prefix + "double_conv.3.", cout, cout, 3), **_bn(prefix + "double_conv.4.", cout)}


def flowvos_shapes() -> Shapes:
    """STM-cycle plus Decoder.flow_mixer and the FlowRegressor U-Net."""
    shapes = stm_shapes("conv1_bg")
    shapes.update(_conv("Decoder.flow_mixer.", 256, 257, 3))
    shapes.update(_double_conv("FlowRegressor.inc.", 6, 64))
    shapes.update(_resnet50_layers("FlowRegressor.", ("down1", "down2", "down3")))
    for name, cin, cout in (("up1", 1536, 256), ("up2", 512, 64), ("up3", 128, 64)):
        shapes.update(_double_conv(f"FlowRegressor.{name}.conv.", cin, cout))
    shapes.update(_conv("FlowRegressor.outc.", 2, 64, 1))
    return shapes


def state_dict(shapes: Shapes, seed: int = 0, legacy_bn: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of the given shapes as views of one shared storage: distinct values per key, but a
    saved file holds the storage once (~20 MB instead of ~200 MB)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(max(int(torch.Size(s).numel()) for s in shapes.values()) + len(shapes), generator=g)
    out = {}
    for i, (key, shape) in enumerate(shapes.items()):
        if key.endswith("num_batches_tracked"):
            if not legacy_bn:
                out[key] = torch.tensor(0)
            continue
        out[key] = base[i:i + torch.Size(shape).numel()].view(shape)
    return out


def read_key_list(path) -> Shapes:
    """A ../shared/specs/keys/*.txt file: 'key (d0, d1, ...)' per line."""
    shapes: Shapes = {}
    for line in path.read_text().splitlines():
        key, shape = line.split(" ", 1)
        shapes[key] = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
    return shapes
