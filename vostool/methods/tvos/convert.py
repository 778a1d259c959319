"""The authors' TVOS checkpoints -> vostool's parameter names.

Their files (``main.py``: ``{'epoch', 'state_dict', 'optimizer', 'scheduler'}``) hold the state dict of
``nn.DataParallel(VOSNet)``: ``module.backbone.N.…`` where N indexes ``Sequential(*resnet.children()[:8])``,
plus ``module.adjust_dim.weight`` and ``module.bn256.*`` for ResNet-50/101. A bare state dict, with or
without ``module.``, is accepted too.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from vostool.errors import WeightsError
from vostool.methods.base import Checkpoint

# Position in the authors' Sequential -> torchvision name (2 = ReLU, 3 = MaxPool have no parameters).
BACKBONE_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
_BLOCKS_IN_LAYER3 = {6: "resnet50", 23: "resnet101"}
_CHILD = re.compile(r"^backbone\.(\d+)\.(.*)$")


def authors_to_vostool(key: str) -> str:
    """``[module.]backbone.6.0.conv1.weight`` -> ``backbone.layer3.0.conv1.weight``; other keys unchanged."""
    if key.startswith("module."):
        key = key[len("module."):]
    match = _CHILD.match(key)
    if match and match.group(1) in BACKBONE_CHILDREN:
        return f"backbone.{BACKBONE_CHILDREN[match.group(1)]}.{match.group(2)}"
    return key


def detect_backbone(state: dict[str, torch.Tensor], source: str) -> str:
    """resnet18 (no projection head, basic blocks) or resnet50/101 (by the number of layer3 blocks)."""
    if "adjust_dim.weight" not in state:
        if "backbone.layer1.0.conv3.weight" in state:
            raise WeightsError(f"{source}: a bottleneck ResNet without adjust_dim.weight; the file is incomplete")
        return "resnet18"
    blocks = {int(k.split(".")[2]) for k in state if k.startswith("backbone.layer3.")}
    count = max(blocks) + 1 if blocks else 0
    if count not in _BLOCKS_IN_LAYER3:
        raise WeightsError(f"{source}: layer3 has {count} blocks; TVOS uses ResNet-50 (6) or ResNet-101 (23)")
    return _BLOCKS_IN_LAYER3[count]


def convert_checkpoint(raw: Any, source: str) -> Checkpoint:
    """The authors' checkpoint (already unpickled) as a :class:`Checkpoint` in vostool's names."""
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{source} is not a TVOS checkpoint (expected a dict with a 'state_dict' of tensors)")
    converted = {authors_to_vostool(k): v for k, v in state.items()}
    probe = converted.get("backbone.conv1.weight")
    if probe is None or tuple(probe.shape) != (64, 3, 7, 7) or "backbone.layer1.0.conv1.weight" not in converted:
        sample = ", ".join(list(state)[:2])
        raise WeightsError(f"{source} is not a TVOS checkpoint: no module.backbone.0.weight of shape "
                           f"(64, 3, 7, 7) (found {sample})")
    return Checkpoint(state_dict=converted, arch={"backbone": detect_backbone(converted, source)}, source=source)
