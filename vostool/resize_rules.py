"""How the engine resizes a video to the processing size and back: frames, given masks, probabilities.

Two rule sets, chosen by a method's ``resize`` option (methods without one use ``smooth``):

* ``smooth`` (vostool's): frames bilinear, antialiased when shrinking; masks nearest neighbour at pixel
  centres (ids exact, thin parts kept); probabilities back bilinearly, then argmax.
* ``authors`` (STM-cycle's ``libs/dataset/transform.py`` and ``libs/utils/utility.py``,
  github.com/lyxok1/STM-Training at 4ac2681, which FlowVOS, github.com/juliagong/flowvos at 4cf77d9,
  reuses): frames with ``cv2.resize`` bilinear (``INTER_LINEAR``, no antialiasing; here
  ``F.interpolate(bilinear, align_corners=False)``, which differs from it by at most ~4e-5 on [0, 1]
  values); the first mask's one-hot map resized with ``cv2.resize(anno, size, cv2.INTER_NEAREST)``,
  whose third argument is ``dst``, so bilinearly, then truncated by ``astype(np.uint8)``: a pixel keeps
  an object only where the object covers its whole bilinear footprint; ``write_mask`` resizes the
  probabilities back with ``cv2.INTER_NEAREST`` (source index ``floor(x * in / out)``) before argmax.

The authors' aspect-preserving canvas (``Rescale`` pastes the frame centred on a zero 240x427 canvas)
is not reproduced: vostool keeps the aspect ratio with the short side at ``size``, which is the same
for 16:9 frames (480x854 -> 240x427).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F


def frame_smooth(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(3, H, W) in [0, 1] -> (3, h, w): bilinear, antialiased when shrinking."""
    shrink = size[0] < x.shape[-2]
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=shrink)[0].clamp_(0, 1)


def frame_authors(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(3, H, W) in [0, 1] -> (3, h, w): bilinear with half-pixel centres, no antialiasing (cv2 INTER_LINEAR)."""
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0].clamp_(0, 1)


def mask_smooth(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 ids -> (h, w): nearest neighbour at pixel centres."""
    from vostool.io.mask_schedule import resize_labels

    return resize_labels(labels, size)


def mask_authors(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 ids -> (h, w): each object's indicator resized bilinearly by cv2 in float32 and
    truncated to uint8, as the authors' one-hot annotation; pixels no object covers fully are 0."""
    import cv2

    if labels.shape == tuple(size):
        return labels
    out = np.zeros(size, np.uint8)
    for obj in np.unique(labels):
        if obj == 0:
            continue
        indicator = (labels == obj).astype(np.float32)
        kept = cv2.resize(indicator, (size[1], size[0]), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
        out[kept > 0] = obj
    return out


def probs_smooth(probs: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(K, h, w) -> (K, H, W): bilinear."""
    return F.interpolate(probs[None], size=size, mode="bilinear", align_corners=False)[0]


def nearest_index(src: int, dst: int) -> np.ndarray:
    """cv2 INTER_NEAREST's source index of each of ``dst`` pixels: floor(x * src / dst) in double precision."""
    scale = 1.0 / (dst / src)
    return np.minimum(np.floor(np.arange(dst) * scale).astype(np.int64), src - 1)


def probs_authors(probs: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(K, h, w) -> (K, H, W): cv2 INTER_NEAREST (not pixel-centred), as the authors' write_mask."""
    rows = torch.from_numpy(nearest_index(probs.shape[-2], size[0])).to(probs.device)
    cols = torch.from_numpy(nearest_index(probs.shape[-1], size[1])).to(probs.device)
    return probs.index_select(-2, rows).index_select(-1, cols)


@dataclass(frozen=True)
class ResizeRules:
    """The three resize steps of a run (see the module docstring)."""

    name: str
    frame: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]
    mask: Callable[[np.ndarray, tuple[int, int]], np.ndarray]
    probs: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]


RULES = {
    "smooth": ResizeRules("smooth", frame_smooth, mask_smooth, probs_smooth),
    "authors": ResizeRules("authors", frame_authors, mask_authors, probs_authors),
}


def rules_for(options: Any) -> ResizeRules:
    """The rules a method's options ask for (``resize``); ``smooth`` for methods without that option."""
    return RULES[getattr(options, "resize", "smooth")]
