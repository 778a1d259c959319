"""Training clips: which (video, object) units make an epoch, which frames form a clip, and how it is augmented.

Everything random is drawn from generators seeded by ``(seed, epoch)`` (the epoch's order) and
``(seed, epoch, index)`` (one clip), never from global state: a clip depends only on its position in
training, so a resumed run, any number of data workers and any number of processes see the same
clips. A clip is a dict::

    frames       (T, 3, H, W) uint8 RGB
    labels       (T, H, W) uint8: 0 background, 1..K the clip's objects (K = num_objects)
    num_objects  int
    info         {"source", "sequence", "frames" (indices), "objects" (dataset ids), "augmented"}

and :func:`collate` stacks clips into a batch (``frames`` (B, T, 3, H, W), ``labels`` (B, T, H, W),
``num_objects`` (B,), ``info`` a list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np
import torch

from vostool.data.clip_settings import ClipSettings
from vostool.data.sources import Source
from vostool.errors import DatasetError

# (source kind, sequence name, (T, 256) pixel counts, settings) -> (T, 256) bool: object visible on frame.
VisibilityRule = Callable[[str, str, np.ndarray, ClipSettings], np.ndarray]


def default_visibility(kind: str, name: str, counts: np.ndarray, settings: ClipSettings) -> np.ndarray:
    """Visible = at least ``min_object_pixels`` pixels and, except on YouTube-VOS, at least
    ``min_object_fraction`` of the object's largest pixel count in the video (FRTM's rules)."""
    visible = counts >= settings.min_object_pixels
    if kind != "ytvos" and settings.min_object_fraction > 0:
        visible &= counts / (counts.max(axis=0, keepdims=True) + 0.001) >= settings.min_object_fraction
    return visible


@dataclass(frozen=True)
class Unit:
    """What one clip is drawn from: a video and, for single-object clips, its object."""

    source: int
    video: int
    obj: int | None
    start: int | None = None  # clips_per_frame: the clip's first frame (moved back to fit the video)


def _nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """Source rows of torch's ``mode='nearest'`` resize: floor(i * n_in / n_out)."""
    return np.minimum((np.arange(n_out) * (n_in / n_out)).astype(np.int64), n_in - 1)


def resize_clip(frames: np.ndarray, labels: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W, 3), (T, H, W) -> size: bilinear frames (OpenCV), nearest-neighbour labels (torch's rule)."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames, labels
    out = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames])
    rows = _nearest_indices(labels.shape[1], h)
    cols = _nearest_indices(labels.shape[2], w)
    return out, labels[:, rows][:, :, cols]


class ClipDataset(torch.utils.data.Dataset):
    """The clips of one epoch (call :meth:`set_epoch` first), per the recipe's clip settings."""

    def __init__(self, sources: Sequence[Source], settings: ClipSettings, seed: int = 0,
                 visibility: VisibilityRule | None = None) -> None:
        if not sources:
            raise DatasetError("no training data: give --data")
        self.sources = list(sources)
        self.settings = settings
        self.seed = int(seed)
        self.visibility = visibility or default_visibility
        self.units = self._units()
        self.epoch = -1
        self.order: list[Unit] = []

    def _visible(self, source: int, video: int) -> np.ndarray:
        src = self.sources[source]
        return self.visibility(src.kind, src.video(video).name, src.counts(video), self.settings)

    def _units(self) -> list[list[Unit]]:
        per_source = []
        multi = self.settings.objects > 1
        for s, src in enumerate(self.sources):
            units = []
            for v in range(len(src)):
                if src.kind == "synthetic":  # every object is visible on frame 0 by construction
                    ids = src.object_ids(v)
                else:
                    visible = self._visible(s, v)
                    ids = [k for k in src.object_ids(v) if visible[:, k].any()]
                if multi:
                    units += [Unit(s, v, None)] if ids else []
                else:
                    units += [Unit(s, v, k) for k in ids]
            if not units:
                raise DatasetError(f"{src.description}: no object is visible on any frame")
            if self.settings.clips_per_frame:
                units = [Unit(u.source, u.video, u.obj, t) for u in units for t in range(len(src.video(u.video)))]
            per_source.append(units)
        return per_source

    def epoch_units(self, epoch: int) -> list[Unit]:
        """The epoch's clips in order: DAVIS-layout and synthetic units ``repeats`` times each, plus
        ``ytvos_samples`` random YouTube-VOS units (all when 0), shuffled."""
        rng = np.random.default_rng([self.seed, epoch, 0])
        chosen: list[Unit] = []
        for src, units in zip(self.sources, self.units):
            if src.kind == "ytvos":
                n = self.settings.ytvos_samples or len(units)
                picks = rng.choice(len(units), size=min(n, len(units)), replace=False)
                chosen += [units[i] for i in picks]
            else:
                chosen += units * self.settings.repeats
        order = rng.permutation(len(chosen))
        return [chosen[i] for i in order]

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.order = self.epoch_units(epoch)
            self.epoch = epoch

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> dict:
        unit = self.order[index]
        rng = np.random.default_rng([self.seed, self.epoch, 1, index])
        return self.make_clip(unit, rng)

    # -- one clip ---------------------------------------------------------------------------------

    def _choose_frames(self, unit: Unit, rng: np.random.Generator) -> tuple[list[int], list[int]]:
        """Frame indices of the clip and the dataset ids of its objects."""
        s = self.settings
        src = self.sources[unit.source]
        visible = self._visible(unit.source, unit.video)
        n = visible.shape[0]
        candidates = [unit.obj] if unit.obj is not None else src.object_ids(unit.video)
        shown = visible[:, candidates].any(axis=1)
        if not shown.any():  # nothing passes the visibility rule: fall back to the largest appearance
            shown = np.zeros(n, dtype=bool)
            shown[int(np.argmax(src.counts(unit.video)[:, candidates].sum(axis=1)))] = True
        if s.clip_mode == "reference":
            first = int(rng.choice(np.flatnonzero(shown)))
            others = np.array([t for t in range(n) if t != first])
            k = s.clip_frames - 1
            rest = rng.choice(others, size=k, replace=len(others) < k).tolist() if len(others) else [first] * k
            frames = [first, *[int(t) for t in rest]]
        else:
            max_skip = s.max_skip_at(src.kind, self.epoch)
            skips = rng.integers(1, max_skip + 1, size=s.clip_frames - 1)
            while skips.sum() > n - 1 and skips.max() > 1:
                skips[np.argmax(skips)] -= 1
            span = min(int(skips.sum()), n - 1)
            starts = np.flatnonzero(shown[: n - span]) if span < n else np.array([], dtype=int)
            if unit.start is not None:  # the authors' TVOS dataset: the start moves back until the clip fits
                first = min(unit.start, n - 1 - span)
            else:
                first = int(rng.choice(starts)) if len(starts) else int(rng.integers(0, n - span))
            frames = [first]
            for gap in skips:
                frames.append(min(frames[-1] + int(gap), n - 1))
        if unit.obj is not None:
            objects = [unit.obj]
        else:
            present = [k for k in candidates if visible[frames[0], k]] or candidates
            picks = rng.permutation(len(present))[: s.objects]
            objects = sorted(present[i] for i in picks)
        return frames, objects

    def make_clip(self, unit: Unit, rng: np.random.Generator) -> dict:
        s = self.settings
        src = self.sources[unit.source]
        frame_ids, objects = self._choose_frames(unit, rng)
        video = src.video(unit.video)
        frames = np.stack([video.frame(t) for t in frame_ids])
        raw = np.stack([video.label(t) for t in frame_ids])
        labels = np.zeros_like(raw)
        for k, oid in enumerate(objects, start=1):
            labels[raw == oid] = k
        if s.size is not None:
            frames, labels = resize_clip(frames, labels, s.size)
        frames, labels = augment_clip(frames, labels, s, rng)
        return {
            "frames": torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))),
            "labels": torch.from_numpy(np.ascontiguousarray(labels)),
            "num_objects": len(objects),
            "info": {"source": src.key, "sequence": video.name, "frames": frame_ids, "objects": objects,
                     "augmented": s.augmented, "epoch": self.epoch},
        }

    # -- batches ----------------------------------------------------------------------------------

    def steps_per_epoch(self, batch_size: int, drop_last: bool) -> int:
        n = len(self.epoch_units(0)) if self.epoch < 0 else len(self.order)
        return n // batch_size if drop_last else -(-n // batch_size)


def rank_batches(num_items: int, batch_size: int, start: int, rank: int, world: int,
                 drop_last: bool) -> Iterator[list[int]]:
    """Item indices of this rank for global batches ``start, start+1, …`` of one epoch.

    A global batch of ``batch_size`` items is split into ``world`` contiguous parts (ranks get
    ``batch_size // world`` items each; the trainer checks divisibility).
    """
    per_rank = batch_size // world
    batches = num_items // batch_size if drop_last else -(-num_items // batch_size)
    for b in range(start, batches):
        lo = b * batch_size + rank * per_rank
        hi = min(lo + per_rank, (b + 1) * batch_size, num_items)
        yield list(range(lo, hi))


def collate(clips: list[dict]) -> dict:
    """Stack clips into a batch; clips must share their size (set ``size`` or ``crop`` otherwise)."""
    shapes = {tuple(c["frames"].shape) for c in clips}
    if len(shapes) > 1:
        raise DatasetError(f"clips of different sizes {sorted(shapes)} in one batch; set --set size=H,W or crop=H,W")
    batch = {
        "frames": torch.stack([c["frames"] for c in clips]),
        "labels": torch.stack([c["labels"] for c in clips]),
        "num_objects": torch.tensor([c["num_objects"] for c in clips], dtype=torch.int64),
        "info": [c["info"] for c in clips],
    }
    # A method's own clips may carry more tensors (RGMP's stage 1: the simulated guidance mask).
    for key in clips[0].keys() - batch.keys():
        batch[key] = torch.stack([c[key] for c in clips])
    return batch


def augment_clip(frames: np.ndarray, labels: np.ndarray, s: ClipSettings,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random affine transform, crop, flips and colour change shared by all frames of the clip.

    frames (T, H, W, 3) uint8, labels (T, H, W) uint8. Draws nothing when the recipe asks for no
    augmentation, so un-augmented recipes consume no random numbers here.
    """
    if s.affine_rotate or s.affine_shear or s.affine_scale != (1.0, 1.0):
        h, w = frames.shape[1:3]
        angle = rng.uniform(-s.affine_rotate, s.affine_rotate)
        scale = rng.uniform(*s.affine_scale)
        shear = rng.uniform(-s.affine_shear, s.affine_shear)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        m[0, 1] += shear * scale
        m[0, 2] -= shear * scale * h / 2
        frames = np.stack([cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                           for f in frames])
        labels = np.stack([cv2.warpAffine(lb, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
                           for lb in labels])
    if s.crop_percent:
        frames, labels = _crop_percent(frames, labels, s.crop_percent, rng)
    if s.crop is not None:
        frames, labels = _random_crop(frames, labels, s.crop, s.crop_object_fraction, rng)
    if s.hflip and rng.random() < s.hflip:
        frames, labels = frames[:, :, ::-1], labels[:, :, ::-1]
    if s.vflip and rng.random() < s.vflip:
        frames, labels = frames[:, ::-1], labels[:, ::-1]
    if s.colour_jitter:
        frames = jitter_colour(frames, s.colour_jitter, rng)
    if s.contrast or s.noise:  # STM-cycle: one factor and one offset for the whole clip
        factor = rng.uniform(1 - s.contrast, 1 + s.contrast) if s.contrast else 1.0
        offset = rng.uniform(-s.noise, s.noise) if s.noise else 0.0
        frames = np.clip(frames.astype(np.float32) * factor + offset + 0.5, 0, 255).astype(np.uint8)
    return frames, labels


def jitter_colour(frames: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation factors drawn from 1 +- ``amount``: (..., 3) uint8 -> same."""
    brightness, contrast, saturation = rng.uniform(1 - amount, 1 + amount, size=3)
    x = frames.astype(np.float32) * brightness
    x = (x - x.mean()) * contrast + x.mean()
    grey = x.mean(axis=-1, keepdims=True)
    x = (x - grey) * saturation + grey
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _crop_percent(frames: np.ndarray, labels: np.ndarray, percent: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """imgaug's ``Crop(percent=(0, p), keep_size=True)``: each side cut by its own fraction, resized back."""
    h, w = frames.shape[1:3]
    top, right, bottom, left = rng.uniform(0, percent, size=4)
    y0, y1 = int(round(top * h)), h - int(round(bottom * h))
    x0, x1 = int(round(left * w)), w - int(round(right * w))
    return resize_clip(np.ascontiguousarray(frames[:, y0:y1, x0:x1]), np.ascontiguousarray(labels[:, y0:y1, x0:x1]),
                       (h, w))


def _random_crop(frames: np.ndarray, labels: np.ndarray, crop: tuple[int, int], min_fraction: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ch, cw = crop
    h, w = frames.shape[1:3]
    if h < ch or w < cw:  # upscale so the crop fits
        scale = max(ch / h, cw / w)
        frames, labels = resize_clip(frames, labels, (int(np.ceil(h * scale)), int(np.ceil(w * scale))))
        h, w = frames.shape[1:3]
    total = int((labels[0] > 0).sum())
    best = None
    for _ in range(20):  # retry until the crop keeps enough of the first frame's objects
        y = int(rng.integers(0, h - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        kept = int((labels[0, y : y + ch, x : x + cw] > 0).sum())
        if best is None or kept > best[0]:
            best = (kept, y, x)
        if total == 0 or kept >= min_fraction * total:
            break
    _, y, x = best
    return frames[:, y : y + ch, x : x + cw], labels[:, y : y + ch, x : x + cw]
