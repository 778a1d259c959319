"""The measurements of benchmarks/gpu_check.py: one session run, agreement, model time, end to end.

Everything goes through vostool's public entry points: ``Method.new_session()`` / ``Session.step``
for the model (frames already on the device, no I/O) and ``vostool.engine.segment_video`` for the end
to end numbers (decoding, resizing, labels and PNG writing). On a CPU "device" (the test suite's tiny
mode) the same code runs; only the timer differs (a clock instead of CUDA events).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from vostool.devices import autocast


@dataclass
class Clip:
    """A generated clip held in memory: frames (T, 3, H, W) float in [0, 1] and the first mask (H, W)."""

    frames: torch.Tensor
    mask: torch.Tensor
    objects: int

    def to(self, device: torch.device) -> "Clip":
        return Clip(self.frames.to(device), self.mask.to(device), self.objects)


def make_clip_tensors(objects: int, frames: int, height: int, width: int, seed: int) -> tuple[Clip, Any]:
    """The synthetic clip (vostool.data.synthetic) as tensors on the CPU, and the raw clip."""
    from vostool.data.synthetic import make_clip

    raw = make_clip(num_frames=frames, height=height, width=width, num_objects=objects, seed=seed)
    x = torch.from_numpy(raw.frames).permute(0, 3, 1, 2).float().div_(255)
    return Clip(x, torch.from_numpy(raw.labels[0].copy()), objects), raw


@contextlib.contextmanager
def tf32_off() -> Iterator[str]:
    """Plain IEEE fp32 in cuBLAS and cuDNN (PyTorch lets cuDNN convolutions use TF32 by default);
    the previous flags are restored afterwards. Yields a description for the report."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield "torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False"
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """cuDNN autotuning on or off for a block, restored afterwards."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


class Timer:
    """Per-step time: CUDA events recorded around the step on the GPU, a clock on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device

    def run(self, fn):
        """Run ``fn()`` and return (its result, seconds). On CUDA waits for the end event."""
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            end.synchronize()
            return out, start.elapsed_time(end) / 1000
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0


def run_session(method, clip: Clip, frames: int, precision: str, keep: bool = False, timer: Timer | None = None
                ) -> tuple[list[torch.Tensor], list[float]]:
    """Feed ``frames`` frames of ``clip`` (already on the method's device) through a new session.

    Returns the outputs ((1+K, H, W) float32 on the CPU, only with ``keep``) and each step's seconds.
    """
    device = method.device
    session = method.new_session()
    outputs: list[torch.Tensor] = []
    seconds: list[float] = []
    with torch.inference_mode(), autocast(device, precision):
        for t in range(frames):
            mask = clip.mask if t == 0 else None
            if timer is not None:
                probs, s = timer.run(lambda: session.step(clip.frames[t], mask))
                seconds.append(s)
            else:
                probs = session.step(clip.frames[t], mask)
            if keep:
                outputs.append(probs.float().cpu())
    return outputs, seconds


def labels_of(probs: torch.Tensor) -> torch.Tensor:
    """(1+K, H, W) -> (H, W) channel index of the maximum (first on ties)."""
    return probs.permute(1, 2, 0).contiguous().argmax(dim=-1)


def compare(reference: list[torch.Tensor], other: list[torch.Tensor]) -> dict[str, Any]:
    """Agreement of two runs over the frames after the first (the first is the given mask in every method).

    ``max_abs_diff``: largest |difference| of any probability; ``labels_differ``: share of pixels whose
    argmax differs; ``foreground``: share of foreground pixels in the reference (a check that the
    untrained network does not output all background, which would agree trivially).
    """
    pairs = list(zip(reference[1:], other[1:]))
    if not pairs:
        return {"frames": 0}
    diffs = [float((a - b).abs().max()) for a, b in pairs]
    differ = [float((labels_of(a) != labels_of(b)).float().mean()) for a, b in pairs]
    fg = [float((labels_of(a) > 0).float().mean()) for a, _ in pairs]
    return {"frames": len(pairs), "max_abs_diff": max(diffs), "max_abs_diff_first": diffs[0],
            "labels_differ": statistics.mean(differ), "labels_differ_last": differ[-1],
            "foreground": statistics.mean(fg)}


def time_model(method, clip: Clip, warmup: int, frames: int, precision: str) -> dict[str, Any]:
    """Model time per frame at one precision: a warm-up session, then a timed one (first frame apart)."""
    device = method.device
    timer = Timer(device)
    run_session(method, clip, warmup, precision, timer=timer)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    _, seconds = run_session(method, clip, frames, precision, timer=timer)
    later = seconds[1:]
    out: dict[str, Any] = {"frames": frames, "first_frame_s": seconds[0]}
    if later:
        out["model_ms_median"] = 1000 * statistics.median(later)
        out["model_ms_mean"] = 1000 * statistics.mean(later)
        out["fps_model"] = len(later) / sum(later)
    if device.type == "cuda":
        out["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


@dataclass
class EndToEnd:
    frames: int
    fps_total: float  # all frames / the frame loop's wall time (decode, step, labels, PNGs written)
    model_ms_median: float | None
    e2e_ms_median: float | None
    peak_memory_mb: float | None = None
    notes: list[str] = field(default_factory=list)


def end_to_end(method, video: Path, mask: Path, out_dir: Path, size: int, frames: int, warmup: int,
               precision: str) -> EndToEnd:
    """``segment_video`` with PNG writing: a warm-up run, then a timed one."""
    from vostool.engine import segment_video

    device = method.device
    common = dict(mask=mask, method=method, size=size, device=str(device), precision=precision,
                  overwrite=True, progress=False)
    segment_video(video, out_dir=out_dir / "warmup", max_frames=warmup, **common)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    result = segment_video(video, out_dir=out_dir / "timed", max_frames=frames, **common)
    done = result.frame_done_seconds
    e2e = [b - a for a, b in zip(done, done[1:])]
    model = result.frame_model_seconds[1:]
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    written = len(list((out_dir / "timed").glob("*.png")))
    notes = [] if written == result.frames else [f"{written} PNGs for {result.frames} frames"]
    return EndToEnd(result.frames, result.frames / result.loop_seconds,
                    1000 * statistics.median(model) if model else None,
                    1000 * statistics.median(e2e) if e2e else None, peak, notes)
