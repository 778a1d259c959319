"""A tiny Method for engine and CLI tests: it propagates the last known labels unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from vostool.methods.base import Checkpoint, Method, Session, one_hot_labels


@dataclass(frozen=True)
class CopyOptions:
    fail_at: int = field(default=-1, metadata={"help": "raise on this frame (tests)"})


class CopySession(Session):
    def __init__(self, method: "CopyMethod") -> None:
        self.method = method
        self.labels: torch.Tensor | None = None
        self.object_ids = ()
        self.frames = 0
        self.shapes: list[tuple[int, int]] = []

    def step(self, frame, mask=None):
        self.shapes.append(tuple(frame.shape[-2:]))
        if self.frames == self.method.options.fail_at:
            raise RuntimeError("synthetic failure")
        self.frames += 1
        return super().step(frame, mask)

    def advance(self, frame, given):
        if given.new_ids:
            keep = torch.isin(given.mask, torch.tensor(given.new_ids))
            base = self.labels if self.labels is not None else torch.zeros_like(given.mask)
            self.labels = torch.where(keep, given.mask, base)
        return one_hot_labels(self.labels, given.object_ids)


class CopyMethod(Method):
    name = "copy"
    Options = CopyOptions

    def __init__(self, options=None, network=None, device="cpu"):
        super().__init__(options or CopyOptions(), network or nn.Identity(), device)
        self.sessions: list[CopySession] = []

    @classmethod
    def build_network(cls, options, pretrained_backbone=False):
        return nn.Identity()

    @classmethod
    def convert_checkpoint(cls, raw, source):
        return Checkpoint({}, {}, source)

    def new_session(self):
        session = CopySession(self)
        self.sessions.append(session)
        return session
