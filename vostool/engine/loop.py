"""The one frame loop: frames and given masks through a method's Session, labels and probabilities out.

Used by ``segment_video`` (with decoding, writers and timings around it) and by training validation
(in-memory frames). Per frame: resize to the processing size by the method's resize rules
(vostool.resize_rules), ``session.step``, resize the probabilities back by the same rules, labels by
argmax (object ids as given), and the ids a mask gives on that frame (new and corrected) keep exactly
the given mask at the output resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, MutableMapping, Protocol, Sequence

import numpy as np
import torch

from vostool.aggregate import probs_to_labels
from vostool.devices import autocast
from vostool.resize_rules import ResizeRules


class FrameLike(Protocol):
    index: int  # the key of this frame's mask in ``masks``
    image: np.ndarray  # (H, W, 3) uint8 RGB, the output resolution


class GivenLike(Protocol):
    processing: np.ndarray  # (h, w) uint8 ids at the processing size: what the session gets
    labels: np.ndarray  # (H, W) uint8 ids at the output size: what the output is exactly, for ``ids``

    @property
    def ids(self) -> Sequence[int]: ...  # the ids this mask gives (new and corrected)


class StepHook(Protocol):
    """Times ``Session.step`` (vostool.engine.timing.StepTimer)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def seconds(self) -> float: ...


@dataclass
class InMemoryFrame:
    index: int
    image: np.ndarray  # (H, W, 3) uint8


@dataclass
class GivenLabels:
    """A mask given at the processing size itself (no resize), e.g. training validation's first labels."""

    labels: np.ndarray  # (H, W) uint8

    @property
    def processing(self) -> np.ndarray:
        return self.labels

    @property
    def ids(self) -> list[int]:
        return [int(i) for i in np.unique(self.labels) if i]


@dataclass
class FrameResult:
    frame: FrameLike  # the item of ``frames`` this result is for
    labels: np.ndarray  # (H, W) uint8 object ids at the output size, on the host
    probs: torch.Tensor  # (1+K, H, W) float32 at the output size, on the device; channel k+1 is object_ids[k]
    object_ids: tuple[int, ...]  # the session's objects after this frame
    step_seconds: float | None  # time in Session.step (None without a hook)


def run_session(session, frames: Iterable[FrameLike], masks: MutableMapping[int, GivenLike],
                on_frame: Callable[[FrameResult], None], *, device: torch.device, precision: str = "fp32",
                size: tuple[int, int] | None = None, rules: ResizeRules | None = None,
                timer: StepHook | None = None) -> int:
    """Step ``session`` over ``frames`` and hand each frame's :class:`FrameResult` to ``on_frame``; returns
    the number of frames. ``masks[frame.index]`` is popped when its frame comes (what is left was never
    used). ``size``: the processing (h, w), by ``rules``; None or the frame's size: no resizing."""
    count = 0
    with torch.inference_mode(), autocast(device, precision):
        for frame in frames:
            out_size = frame.image.shape[:2]
            resize = size is not None and tuple(size) != out_size
            x = torch.from_numpy(frame.image).to(device, non_blocking=True).permute(2, 0, 1).float().div_(255)
            if resize:
                x = rules.frame(x, size)
            given = masks.pop(frame.index, None)
            mask = torch.from_numpy(given.processing).to(device) if given is not None else None
            if timer is not None:
                timer.start()
            probs = session.step(x, mask)
            if timer is not None:
                timer.stop()
            probs = probs.float()
            if resize:
                probs = rules.probs(probs, out_size)
            labels = probs_to_labels(probs, session.object_ids)
            if given is not None:
                exact = torch.from_numpy(given.labels).to(labels.device)
                ids = torch.tensor(given.ids, dtype=labels.dtype, device=labels.device)  # new and corrected
                labels = torch.where(torch.isin(labels, ids), torch.zeros_like(labels), labels)
                labels = torch.where(exact > 0, exact, labels)
                probs = given_exactly(probs, labels, given.ids, session.object_ids)
            labels_np = labels.cpu().numpy()
            elapsed = timer.seconds() if timer is not None else None  # after the copy, which waits for the device
            on_frame(FrameResult(frame, labels_np, probs, tuple(session.object_ids), elapsed))
            count += 1
    return count


def given_exactly(probs: torch.Tensor, labels: torch.Tensor, given: Sequence[int],
                  object_ids: Sequence[int]) -> torch.Tensor:
    """The probabilities of a frame with a given mask, made to agree with its exact labels.

    probs: (1+K, H, W) at the output size; labels: (H, W) after the exact-labels rule. The objects the
    mask gives are exactly their masks (1 inside, 0 outside); the others keep their probability except
    on the pixels the given objects own, and the background takes what is left. So soft maps and
    mattes show on such a frame what the user gave, as the labels do.
    """
    out = probs.clone()
    given_set = {int(i) for i in given}
    owned = torch.zeros_like(labels, dtype=torch.bool)
    for k, oid in enumerate(object_ids, start=1):
        if oid in given_set:
            out[k] = (labels == oid).to(out.dtype)
            owned |= labels == oid
    for k, oid in enumerate(object_ids, start=1):
        if oid not in given_set:
            out[k] = out[k].masked_fill(owned, 0)
    out[0] = (1 - out[1:].sum(dim=0)).clamp_(min=0)
    return out

