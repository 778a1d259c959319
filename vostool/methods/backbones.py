"""torchvision ResNet trunks as feature extractors, with stage outputs computed on demand.

Stage names follow torchvision: ``stem`` (after the max-pool, stride 4), ``layer1`` (4), ``layer2`` (8),
``layer3`` (16), ``layer4`` (32). Methods that name stages differently (FRTM shifts them by one) map
names in their own code.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")

_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
}


def stage_channels(arch: str) -> dict[str, int]:
    """Output channels of each stage."""
    expansion = 1 if arch in ("resnet18", "resnet34") else 4
    return {"stem": 64, "layer1": 64 * expansion, "layer2": 128 * expansion, "layer3": 256 * expansion, "layer4": 512 * expansion}


def imagenet_weights_file(arch: str) -> Path:
    """Where torchvision caches the IMAGENET1K_V1 weights of ``arch``."""
    import torchvision.models as tvm

    url = getattr(tvm, _WEIGHTS[arch]).IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def load_imagenet_state(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's IMAGENET1K_V1 weights (cached or downloaded); a WeightsError when unavailable."""
    import torchvision.models as tvm

    from vostool.errors import WeightsError

    weights = getattr(tvm, _WEIGHTS[arch]).IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=True, check_hash=False)
    except Exception as exc:  # URLError, OSError, RuntimeError from a damaged file
        target = imagenet_weights_file(arch)
        raise WeightsError(
            f"ImageNet weights for {arch} are not available ({type(exc).__name__}: {exc}); "
            f"download {weights.url} and place it at {target}"
        ) from None


class ResNetBackbone(nn.Module):
    """A torchvision ResNet without its classifier. Input: normalised (B, 3, H, W) float."""

    def __init__(self, arch: str = "resnet101", zero_init_residual: bool = True) -> None:
        super().__init__()
        import torchvision.models as tvm

        if arch not in _WEIGHTS:
            raise ValueError(f"unknown backbone {arch!r}")
        # zero_init_residual makes every residual block start as the identity, so a randomly
        # initialised network keeps bounded activations in eval mode (needed for --untrained).
        net = getattr(tvm, arch)(weights=None, zero_init_residual=zero_init_residual)
        self.arch = arch
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.channels = stage_channels(arch)

    def imagenet_state(self) -> dict[str, torch.Tensor]:
        """The ImageNet state dict restricted to this module's keys."""
        state = load_imagenet_state(self.arch)
        return {k: v for k, v in state.items() if not k.startswith("fc.")}

    def run(self, x: torch.Tensor, upto: str, computed: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Compute stages up to ``upto`` (inclusive), continuing from stages already in ``computed``.

        x: (B, 3, H, W) normalised input; returns a dict stage -> (B, C, H/s, W/s), including the
        previously computed entries.
        """
        out = dict(computed or {})
        last = STAGES.index(upto)
        start = 0
        for i in range(last, -1, -1):
            if STAGES[i] in out:
                start = i + 1
                break
        h = out[STAGES[start - 1]] if start > 0 else x
        for i in range(start, last + 1):
            stage = STAGES[i]
            if stage == "stem":
                h = self.maxpool(self.relu(self.bn1(self.conv1(h))))
            else:
                h = getattr(self, stage)(h)
            out[stage] = h
        return out
