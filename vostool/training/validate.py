"""Validation during training: J&F of the method on held-out sequences, and of copying the first mask.

Each sequence is segmented from its first frame's labels with a fresh :class:`Session` through the
engine's frame loop (vostool.engine.loop.run_session), frames at the recipe's training size (resized
bilinearly, labels by nearest neighbour; native size when the recipe has none). Scores are those of
``vostool evaluate`` (vostool.evaluation.scoring) under the DAVIS 2017 semi-supervised protocol:
objects are the ids 1..N with N the largest id on the first frame, the first and last frames are not
scored, J and F are averaged per object over frames, then over all objects of all sequences, and J&F
is their mean (x100).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from vostool.data.clips import resize_clip
from vostool.data.sources import Source, Video
from vostool.engine.loop import FrameResult, GivenLabels, InMemoryFrame, run_session
from vostool.evaluation.scoring import score_label_arrays


@dataclass
class Scores:
    """Mean J, F and J&F in percent over all objects, and the per-object numbers."""

    J: float
    F: float
    objects: int
    per_object: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def JF(self) -> float:
        return (self.J + self.F) / 2

    def as_dict(self) -> dict[str, float]:
        return {"J&F": round(self.JF, 3), "J": round(self.J, 3), "F": round(self.F, 3), "objects": self.objects}


def held_out_videos(sources: Sequence[Source]) -> list[Video]:
    return [src.video(i) for src in sources for i in range(len(src))]


def _load(video: Video, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    frames = np.stack([video.frame(t) for t in range(len(video))])
    labels = np.stack([video.label(t) for t in range(len(video))])
    labels = np.where(labels == 255, 0, labels).astype(np.uint8)  # DAVIS void counts as background
    if size is not None:
        frames, labels = resize_clip(frames, labels, size)
    return frames, labels


def score_sequence(pred: np.ndarray, gt: np.ndarray) -> list[tuple[float, float]]:
    """Per-object (mean J, mean F) of predicted (T, H, W) labels against ground truth (DAVIS rules),
    scored by vostool.evaluation.scoring, the J&F of ``vostool evaluate``."""
    n = int(gt[0].max())
    scored = range(1, len(gt) - 1) if len(gt) >= 3 else range(1, len(gt))
    J, F = score_label_arrays(pred, gt, n, scored)
    if not len(scored):
        return [(1.0, 1.0)] * n
    return [(float(J[k].mean()), float(F[k].mean())) for k in range(n)]


def _summarise(per_object: dict[str, tuple[float, float]]) -> Scores:
    if not per_object:
        return Scores(0.0, 0.0, 0)
    values = np.array(list(per_object.values()))
    return Scores(100 * float(values[:, 0].mean()), 100 * float(values[:, 1].mean()), len(per_object), per_object)


def copy_baseline(videos: Sequence[Video], size: tuple[int, int] | None) -> Scores:
    """Scores of predicting the first frame's labels on every frame."""
    per_object = {}
    for video in videos:
        _, gt = _load(video, size)
        pred = np.repeat(gt[:1], len(gt), axis=0)
        for k, s in enumerate(score_sequence(pred, gt), start=1):
            per_object[f"{video.name}_{k}"] = s
    return _summarise(per_object)


def segment_labels(method, frames: np.ndarray, first: np.ndarray, device: torch.device, precision: str) -> np.ndarray:
    """Run one Session over (T, H, W, 3) uint8 frames from the first frame's (H, W) labels -> (T, H, W) uint8,
    through the engine's one frame loop (the first frame's output is exactly ``first``)."""
    out = np.zeros(frames.shape[:3], dtype=np.uint8)

    def keep(result: FrameResult) -> None:
        out[result.frame.index] = result.labels

    run_session(method.new_session(), (InMemoryFrame(t, image) for t, image in enumerate(frames)),
                {0: GivenLabels(first)}, keep, device=device, precision=precision)
    return out


def evaluate(method, videos: Sequence[Video], size: tuple[int, int] | None, device: torch.device,
             precision: str = "fp32", progress: Callable[[int], None] | None = None) -> Scores:
    """J&F of ``method`` on ``videos``; ``progress(1)`` after each video.

    The caller puts the network in eval mode (the trainer calls its training module's ``eval()``, which
    knows which parts stay frozen).
    """
    per_object = {}
    for video in videos:
        frames, gt = _load(video, size)
        pred = segment_labels(method, frames, gt[0], device, precision)
        for k, s in enumerate(score_sequence(pred, gt), start=1):
            per_object[f"{video.name}_{k}"] = s
        if progress is not None:
            progress(1)
    return _summarise(per_object)
