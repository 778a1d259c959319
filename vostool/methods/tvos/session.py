"""One video with TVOS: embed each frame, propagate all objects' labels at once, keep a bounded history.

Frame 0 is the first frame that brings objects (frames before it are background and not kept). Its
labels are the one-hot mask downsampled bilinearly to the feature grid (soft), as in the authors'
``prepare_first_frame``. Every later frame stores the hard one-hot of its prediction's argmax at feature
resolution, and its output is the prediction upsampled bilinearly (the authors' argmax of that is the
label map). A frame that introduces objects is stored like frame 0: its label map at the processing
size (the new objects' masks over the prediction) one-hot and downsampled bilinearly. A correction (a
tracked object given again) is stored the same way: the frame becomes a reference with given labels,
which the following frames read first-hand (t-1..t-3) and, later, through the sparse references.

Only frames the sampler can still choose are kept (the last ``4 + range`` frames, plus frame 0 with
``keep_first_frame``), so memory does not grow with the video.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vostool.methods.session import Given, Session, check_finite, one_hot_labels
from vostool.methods.tvos.propagation import propagate
from vostool.methods.tvos.sampler import oldest_needed, reference_frames, reference_sigmas


class TVOSSession(Session):
    def __init__(self, method) -> None:
        self.method = method
        self.options = method.options
        self.object_ids: tuple[int, ...] = ()
        self.t = -1  # index of the current frame, counted from the first frame with objects
        self.grid: tuple[int, int] | None = None
        self.features: dict[int, torch.Tensor] = {}  # frame -> (h·w, 256) float32
        self.labels: dict[int, torch.Tensor] = {}  # frame -> (1+K_frame, h·w) float32

    # ---- state -------------------------------------------------------------------------------
    @property
    def held_frames(self) -> list[int]:
        """Frames whose features and labels are kept."""
        return sorted(self.features)

    def held_bytes(self) -> int:
        """Bytes held by the history (features and labels)."""
        tensors = list(self.features.values()) + list(self.labels.values())
        return sum(t.numel() * t.element_size() for t in tensors)

    def _remember(self, t: int, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features[t] = features
        self.labels[t] = labels
        oldest = oldest_needed(t + 1, self.options.ref_num, self.options.sparse_range)
        for f in [f for f in self.features if f < oldest and not (f == 0 and self.options.keep_first_frame)]:
            del self.features[f], self.labels[f]

    # ---- per frame ---------------------------------------------------------------------------
    def _embed(self, frame: torch.Tensor) -> torch.Tensor:
        """(3, H, W) in [0, 1] -> (h·w, 256) float32 embedding, h = ceil(H/8), w = ceil(W/8)."""
        x = frame.unsqueeze(0).contiguous(memory_format=torch.channels_last)
        emb = check_finite(self.method.network(x)[0], "TVOS", "embeddings")
        h, w = emb.shape[-2:]
        self.grid = (h, w)
        return emb.permute(1, 2, 0).reshape(h * w, -1).float().contiguous()

    def _soft_labels(self, one_hot: torch.Tensor) -> torch.Tensor:
        """(1+K, H, W) one-hot -> (1+K, h·w), bilinear downsampling (the authors' first-frame labels)."""
        assert self.grid is not None
        small = F.interpolate(one_hot[None].float(), size=self.grid, mode="bilinear", align_corners=False)[0]
        return small.reshape(one_hot.shape[0], -1)

    def _predict(self, features: torch.Tensor) -> torch.Tensor:
        """The propagated labels of the current frame: (1+K, h·w), unnormalised."""
        opts = self.options
        assert self.grid is not None
        frames = reference_frames(self.t, opts.ref_num, opts.sparse_range, opts.keep_first_frame)
        sigmas = reference_sigmas(self.t, len(frames), opts.sigma1, opts.sigma2)
        hw = features.shape[0]
        refs = torch.cat([self.features[f] for f in frames])
        labels = features.new_zeros(1 + len(self.object_ids), len(frames) * hw)
        for i, f in enumerate(frames):
            # Frames from before an object was introduced have no channel for it (zeros).
            stored = self.labels[f]
            labels[: stored.shape[0], i * hw:(i + 1) * hw] = stored
        return propagate(refs, labels, features, self.grid, sigmas, opts.temperature, opts.chunk)

    def advance(self, frame: torch.Tensor, given: Given) -> torch.Tensor:
        height, width = frame.shape[-2:]
        self.t += 1
        features = self._embed(frame)
        if self.t == 0:
            assert given.mask is not None
            probs = one_hot_labels(given.mask, given.object_ids)
            self._remember(0, features, self._soft_labels(probs))
            return probs
        pred = self._predict(features)
        probs = _upsample_normalised(pred, self.grid, (height, width))
        if not given:
            hard = F.one_hot(pred.argmax(dim=0), pred.shape[0]).t().float()
            self._remember(self.t, features, hard)
            return probs
        mask = given.mask
        assert mask is not None
        # Objects given on this frame (new or corrected) own their pixels and are exactly their mask; a
        # corrected object's estimate outside its mask goes to the background.
        new = torch.stack([mask == oid for oid in given.new_ids]).float() if given.new_ids else probs[:0]
        corrected = torch.stack([mask == oid for oid in given.corrected]).float() if given.corrected else probs[:0]
        probs = Given.exact(probs, new, corrected, given.rows, recompute_background=bool(given.corrected))
        self.reanchor(features, probs)
        return probs

    def reanchor(self, features: torch.Tensor, probs: torch.Tensor) -> None:
        """A frame that gives objects (new ones, or corrections of tracked ones) joins the history as a
        reference with given labels, like frame 0: its label map (the given masks over the prediction),
        one-hot and downsampled bilinearly (soft). probs: (1+K, H, W) this frame's output."""
        label_map = probs.argmax(dim=0)
        self._remember(self.t, features, self._soft_labels(F.one_hot(label_map, probs.shape[0]).permute(2, 0, 1)))


def _upsample_normalised(pred: torch.Tensor, grid: tuple[int, int] | None, size: tuple[int, int]) -> torch.Tensor:
    """(d, h·w) prediction -> (d, H, W): bilinear upsampling (the authors'), then scaled to sum to 1.

    The per-pixel scaling keeps the authors' argmax; a pixel whose prediction underflowed to 0
    everywhere is background, as the authors' argmax makes it.
    """
    assert grid is not None
    d = pred.shape[0]
    up = F.interpolate(pred.view(1, d, *grid), size=size, mode="bilinear", align_corners=False)[0]
    total = up.sum(dim=0, keepdim=True)
    background = torch.zeros_like(up)
    background[0] = 1
    return torch.where(total > 0, up / total.clamp_min(torch.finfo(up.dtype).tiny), background)
