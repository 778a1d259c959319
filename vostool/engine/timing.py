"""Timing of ``Session.step`` inside the frame loop (the hook of :func:`vostool.engine.loop.run_session`)."""

from __future__ import annotations

import time

import torch


class StepTimer:
    """Times ``Session.step``: CUDA events on the GPU (no extra synchronisation), a clock on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        if self.cuda:
            self._start.record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            self._end.record()
        else:
            self._elapsed = time.perf_counter() - self._t0

    def seconds(self) -> float:
        """The last step's duration; on CUDA this waits for the end event."""
        if self.cuda:
            self._end.synchronize()
            return self._start.elapsed_time(self._end) / 1000
        return self._elapsed


class FrameTimes:
    """Per-frame timings of one run, for ``SegmentResult`` and benchmark-fps: the step time of each frame
    (from the :class:`StepTimer` hook of ``run_session``) and the loop clock when each frame was done."""

    def __init__(self, device: torch.device) -> None:
        self.timer = StepTimer(device)  # the hook run_session calls around Session.step
        self.started = time.perf_counter()
        self.step_seconds: list[float] = []
        self.done_seconds: list[float] = []
        self.model_seconds = 0.0  # the sum of step_seconds, in frame order

    def done(self, step_seconds: float) -> None:
        """A frame went to the writers after ``step_seconds`` in Session.step."""
        self.step_seconds.append(step_seconds)
        self.model_seconds += step_seconds
        self.done_seconds.append(time.perf_counter() - self.started)

    @property
    def first_frame_seconds(self) -> float:
        return self.step_seconds[0] if self.step_seconds else 0.0

    def loop_seconds(self) -> float:
        return time.perf_counter() - self.started
