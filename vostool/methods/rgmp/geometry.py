"""RGMP's input geometry: padding to a multiple of 32, the sizes of the scales, resizing, cropping.

The authors (utils.py) round a length up to a multiple of 32 as ``n + 32 - n % 32``, which adds a
full 32 when ``n`` is already a multiple (480 -> 512). That is the default rule (``pad_rule=authors``);
``pad_rule=ceil`` adds nothing to a multiple of 32. The same rule gives the size of each scale:
``int(n * scale)`` rounded up (so the aspect ratio is not exactly kept), except that scale 1.0 is the
padded frame itself. Their ``cv2.resize(INTER_LINEAR)`` on float data is bilinear interpolation with
half-pixel centres and no antialiasing; ``F.interpolate(align_corners=False)`` is close to it, not equal:
measured on these calls, at most 1.8e-5 (480p frames; 3.7e-5 at 720p) when shrinking a frame and
5.5e-5 (random values) when enlarging a probability map (tests/test_resize_rules.py bounds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

PadRule = Literal["authors", "ceil"]
STRIDE = 32


def round_up(n: int, rule: PadRule = "authors") -> int:
    """``n`` rounded up to a multiple of 32 by ``rule`` (see the module docstring)."""
    if rule == "authors":
        return n + STRIDE - n % STRIDE
    if rule == "ceil":
        return max(STRIDE, -(-n // STRIDE) * STRIDE)
    raise ValueError(f"unknown padding rule {rule!r}")


def scale_size(height: int, width: int, scale: float, rule: PadRule = "authors") -> tuple[int, int]:
    """Network input size of ``scale`` for a padded (height, width), as the authors' downsample()."""
    if scale == 1.0:
        return height, width
    return round_up(int(height * scale), rule), round_up(int(width * scale), rule)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, C, H, W) to ``size`` (align_corners=False); the input when already that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class Geometry:
    """Padding and scale sizes for frames of one size.

    ``pad`` is ((top, bottom), (left, right)) with the odd pixel at the bottom/right, as the authors.
    """

    height: int
    width: int
    scales: tuple[float, ...]
    rule: PadRule = "authors"

    @property
    def padded(self) -> tuple[int, int]:
        return round_up(self.height, self.rule), round_up(self.width, self.rule)

    @property
    def pad(self) -> tuple[tuple[int, int], tuple[int, int]]:
        ph, pw = self.padded[0] - self.height, self.padded[1] - self.width
        return (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)

    @property
    def sizes(self) -> dict[float, tuple[int, int]]:
        """Network input size of every scale."""
        hp, wp = self.padded
        return {s: scale_size(hp, wp, s, self.rule) for s in self.scales}

    def pad_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad the last two dimensions (H, W) -> padded size (black frames, empty masks)."""
        (top, bottom), (left, right) = self.pad
        return F.pad(x, (left, right, top, bottom))

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`pad_tensor` on the last two dimensions; exact for every padding."""
        (top, _), (left, _) = self.pad
        return x[..., top:top + self.height, left:left + self.width]
