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
