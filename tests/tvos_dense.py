"""A direct, dense statement of the authors' TVOS inference (lib/predict.py, inference.py), for tests
and benchmarks/bench_tvos.py. Written from ../shared/specs/tvos.md; deliberately not vostool's code path.

It materialises the (n·h·w, h·w) affinity, takes the softmax over dim 0, multiplies the (h·w, h·w)
prior matrices in after it, keeps every frame's features and labels, and concatenates them each frame.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def spatial_weight(h: int, w: int, sigma: float) -> torch.Tensor:
    """(h·w, h·w) exp(-d²/σ²) over feature cells, rows by floor division (the authors' PyTorch <= 1.4)."""
    index = torch.arange(h * w, dtype=torch.long).view(-1, 1)
    coords = torch.cat([torch.div(index, w, rounding_mode="floor"), index % w], dim=1)
    d2 = (coords.unsqueeze(0) - coords.unsqueeze(1)).float().pow(2).sum(-1)
    return torch.exp(-d2 / sigma**2)


def sample_frames(t: int, take_range: int = 40, num_refs: int = 9) -> list[int]:
    if t <= num_refs:
        return list(range(t))
    dense = 3
    end = t - dense - 1
    start = max(end - take_range, 0)
    return np.linspace(start, end, num_refs - dense).astype(int).tolist() + [t - dense + j for j in range(dense)]


def dense_predict(ref: torch.Tensor, target: torch.Tensor, ref_label: torch.Tensor, weight_dense: torch.Tensor,
                  weight_sparse: torch.Tensor, t: int, temperature: float = 1.0, take_range: int = 40,
                  num_refs: int = 9, frames: list[int] | None = None) -> torch.Tensor:
    """ref: (T, C, h, w) all history features, target: (C, h, w), ref_label: (d, T, h·w) -> (d, h·w)."""
    idx = torch.tensor(frames if frames is not None else sample_frames(t, take_range, num_refs))
    d = ref_label.shape[0]
    selected = ref.index_select(0, idx)
    labels = ref_label.index_select(1, idx).reshape(d, -1)
    n, c, h, w = selected.shape
    sim = selected.permute(0, 2, 3, 1).reshape(-1, c).mm(target.reshape(c, -1))
    sim = sim * temperature
    sim = sim.softmax(dim=0).contiguous().view(n, h * w, h * w)
    if t > 15:
        sim[:-4] *= weight_sparse
        sim[-4:] *= weight_dense
    else:
        sim = sim * weight_dense
    return labels.mm(sim.view(-1, h * w))


class DenseTVOS:
    """The authors' per-video loop (DAVIS inference.py) around an embedding network, one object set."""

    def __init__(self, network: torch.nn.Module, sigma1: float = 8.0, sigma2: float = 21.0) -> None:
        self.network = network
        self.sigma1, self.sigma2 = sigma1, sigma2
        self.t = 0

    def start(self, image: torch.Tensor, labels: torch.Tensor) -> None:
        """image: (3, H, W) in [0, 1]; labels: (H, W) long with ids 0..d-1."""
        self.feats = self.network(image[None])
        h, w = self.feats.shape[-2:]
        d = int(labels.max()) + 1
        one_hot = F.one_hot(labels.view(-1), d).t().float().view(1, d, *labels.shape)
        small = F.interpolate(one_hot, size=(h, w), mode="bilinear", align_corners=False)
        self.label_history = small.reshape(d, 1, -1)
        self.d = d
        self.weight_dense = spatial_weight(h, w, self.sigma1)
        self.weight_sparse = spatial_weight(h, w, self.sigma2)
        self.t = 1

    def step(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) -> (H, W) label map."""
        features = self.network(image[None])
        h, w = features.shape[-2:]
        pred = dense_predict(self.feats, features[0], self.label_history, self.weight_dense, self.weight_sparse, self.t)
        new_label = F.one_hot(pred.argmax(0), self.d).t().float().unsqueeze(1)
        self.label_history = torch.cat([self.label_history, new_label], 1)
        self.feats = torch.cat([self.feats, features], 0)
        self.t += 1
        up = F.interpolate(pred.view(1, self.d, h, w), size=image.shape[-2:], mode="bilinear", align_corners=False)
        return up.argmax(1)[0]
