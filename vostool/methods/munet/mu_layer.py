"""MUNet's motion modules: the MU-Layer (cost volume, soft displacement, uncertainty, motion network)
and MSAM, the motion-aware spatial attention that fuses the motion feature into the semantic one.

Paper: Sun et al., MUNet, sections 3.2-3.3 and Table 1. No code was released; what the paper leaves
open is decided as close to STM (Oh et al., ICCV 2019) as possible, documented in docs/methods.md,
and marked "choice" here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Upper bound on the intermediate tensors of one chunk of the cost volume (bytes). The volume is
# computed band by band over query rows; every band is exact, so chunking changes nothing but memory.
COST_CHUNK_BYTES = 32 << 20

# Table 1: (C_in, C_out, kernel) of the motion feature representation network, all stride 1.
MOTION_LAYERS = ((3, 3, 7), (3, 16, 1), (16, 16, 3), (16, 32, 1), (32, 32, 3), (32, 32, 1), (32, 64, 3), (64, 1024, 1))


def cost_volume(query: torch.Tensor, reference: torch.Tensor, radius: int = 12,
                chunk_bytes: int = COST_CHUNK_BYTES) -> torch.Tensor:
    """Cosine-similarity cost volume over a (2r+1) x (2r+1) search window (paper eq. 1).

    query: F_t (B, C, H, W); reference: F_{t-1} (B, C, H, W).
    Returns (B, (2r+1)^2, H, W): channel ``(dy + r) * (2r+1) + (dx + r)`` holds
    ``cos(F_t(y, x), F_{t-1}(y + dy, x + dx))``; positions outside the map compare against zeros
    (similarity 0, a choice: the paper does not say).

    No loop over displacements: per band of query rows, one batched matrix product of each row's
    features with the 2r+1 reference rows around it (all columns), then the (2r+1) columns of each
    query position's window are read out of the product with a strided view. This does (W+2r)/(2r+1)
    times the needed multiply-adds but as one GEMM, far faster than an elementwise product over an
    unfolded (C x (2r+1)^2 x H x W) tensor, and never holds that tensor. Differentiable.
    """
    if query.shape != reference.shape:
        raise ValueError(f"query {tuple(query.shape)} and reference {tuple(reference.shape)} differ")
    batch, channels, height, width = query.shape
    k = 2 * radius + 1
    padded_width = width + 2 * radius
    # Unit vectors: the dot product is then the cosine; zero vectors (padding) stay zero.
    q = F.normalize(query.float(), dim=1).permute(0, 2, 3, 1)  # (B, H, W, C)
    ref = F.pad(F.normalize(reference.float(), dim=1), (radius, radius, radius, radius))  # (B, C, H+2r, W+2r)
    row_bytes = batch * 4 * k * padded_width * (channels + width)  # band copy + product, per query row
    rows = max(1, min(height, chunk_bytes // max(1, row_bytes)))
    bands = []
    for y0 in range(0, height, rows):
        n = min(rows, height - y0)
        # (B, C, n, W+2r, k) view -> (B*n, C, k*(W+2r)): the k reference rows of every query row
        band = ref[:, :, y0:y0 + n + 2 * radius].unfold(2, k, 1)
        band = band.permute(0, 2, 1, 4, 3).reshape(batch * n, channels, k * padded_width)
        product = torch.bmm(q[:, y0:y0 + n].reshape(batch * n, width, channels), band)  # (B*n, W, k*(W+2r))
        s0, s1, _ = product.stride()
        # window of query column x: product[i, x, dy * (W+2r) + x + dx] -> stride s1 + 1 along x
        window = product.as_strided((batch * n, width, k, k), (s0, s1 + 1, padded_width, 1), product.storage_offset())
        bands.append(window.reshape(batch, n, width, k * k))
    volume = bands[0] if len(bands) == 1 else torch.cat(bands, dim=1)
    return volume.permute(0, 3, 1, 2)


def displacement_grid(radius: int, device: torch.device | None = None) -> torch.Tensor:
    """(2, (2r+1)^2) displacements (dx, dy) of the cost volume's channels, in feature cells."""
    steps = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([dx.reshape(-1), dy.reshape(-1)])


def soft_displacement(volume: torch.Tensor, radius: int, sign: int = 1, temperature: float = 1.0) -> torch.Tensor:
    """Soft arg-extremum over the window: ``sum_u u * softmax_u(sign * C(u, x) / temperature)``.

    volume: (B, (2r+1)^2, H, W) from :func:`cost_volume` -> (B, 2, H, W) displacement (dx, dy) in
    feature cells. ``sign=-1`` is the paper's printed soft-argmin of the similarity; ``sign=+1``
    (default, a choice) the displacement of highest similarity that the text describes.
    """
    weights = torch.softmax(volume * (sign / temperature), dim=1)
    grid = displacement_grid(radius, volume.device).to(weights.dtype)
    return torch.einsum("bkhw,ck->bchw", weights, grid)


def uncertainty_map(volume: torch.Tensor) -> torch.Tensor:
    """Paper eq. 2: the highest similarity over the window (max-pooling over displacements).
    volume: (B, K, H, W) -> (B, 1, H, W). High = a confident match, low = textureless/occluded."""
    return volume.amax(dim=1, keepdim=True)


class MotionNet(nn.Module):
    """Table 1: 8 stride-1 convolutions from the motion information (B, 3, h, w) = (dx, dy, U) to
    the motion feature F^m (B, 1024, h, w). [choice] "same" padding, bias, ReLU after layers 1-7."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (cin, cout, k) in enumerate(MOTION_LAYERS):
            layers.append(nn.Conv2d(cin, cout, kernel_size=k, padding=k // 2))
            if i < len(MOTION_LAYERS) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        return self.layers(motion)


class MULayer(nn.Module):
    """Motion Uncertainty-aware Layer: F^s_t, F^s_{t-1} (1024 ch at 1/16) -> motion feature F^m.

    ``reduce`` (1x1, 1024 -> 256, one shared conv with bias: a choice) runs once per frame, so a
    session passes the previous frame's reduced feature instead of recomputing it.
    """

    def __init__(self, indim: int = 1024, reduced: int = 256) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(indim, reduced, kernel_size=1)
        self.motion = MotionNet()

    def motion_information(self, reduced_t: torch.Tensor, reduced_prev: torch.Tensor, radius: int = 12,
                           sign: int = 1, temperature: float = 1.0) -> torch.Tensor:
        """(B, 256, h, w) reduced features of frames t and t-1 -> (B, 3, h, w) = (dx, dy, uncertainty)."""
        volume = cost_volume(reduced_t, reduced_prev, radius)
        disp = soft_displacement(volume, radius, sign, temperature)
        return torch.cat([disp, uncertainty_map(volume)], dim=1).to(reduced_t.dtype)

    def forward(self, reduced_t: torch.Tensor, reduced_prev: torch.Tensor, radius: int = 12, sign: int = 1,
                temperature: float = 1.0) -> torch.Tensor:
        """Reduced features (B, 256, h, w) of frames t and t-1 -> F^m (B, 1024, h, w)."""
        info = self.motion_information(reduced_t, reduced_prev, radius, sign, temperature)
        return self.motion(info.contiguous(memory_format=torch.channels_last))


class MSAM(nn.Module):
    """Motion-aware spatial attention (eq. 3): ``F_out = F_s * sigmoid(conv1x1(F_m)) + F_s``, the
    1x1 conv giving one attention channel broadcast over F_s's channels. ``fusion="add"`` is the
    ablation's ``F_out = F_s + F_m`` (no parameters)."""

    def __init__(self, indim: int = 1024, fusion: str = "msam") -> None:
        super().__init__()
        if fusion not in ("msam", "add"):
            raise ValueError(f"unknown fusion {fusion!r}")
        self.fusion = fusion
        if fusion == "msam":
            self.attention = nn.Conv2d(indim, 1, kernel_size=1)

    def attention_map(self, motion: torch.Tensor) -> torch.Tensor:
        """(B, 1024, h, w) -> (B, 1, h, w) in (0, 1)."""
        return torch.sigmoid(self.attention(motion))

    def forward(self, semantic: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """semantic F_s, motion F_m: (B, 1024, h, w) -> F_out (B, 1024, h, w)."""
        if self.fusion == "add":
            return semantic + motion
        return semantic * self.attention_map(motion) + semantic
