"""``vostool benchmark-fps``: speed numbers that say how they were measured.

For every method and object count the same protocol runs: a warm-up session (not timed), then one
or more sequences through :func:`vostool.engine.segment_video` with PNG writing. Its one frame loop
(:func:`vostool.engine.loop.run_session`) times ``Session.step`` with its hook (a
:class:`vostool.engine.timing.StepTimer`: CUDA events on the GPU), and the engine records when each
frame was done end to end (decode + resize + step + labels + handing the PNG to its writer thread;
the run's total also waits for the last files): ``SegmentResult.frame_model_seconds`` and
``frame_done_seconds``. From those:

* ``first_frame_s``: initialisation (the first frame's step), reported separately;
* ``model_ms`` / ``e2e_ms``: mean and median per later frame;
* FPS three ways, because papers disagree: ``fps_model`` = later frames / their step time,
  ``fps_total`` = all frames / total wall time (first frame and I/O included),
  ``fps_sequence_mean`` = the mean of per-sequence all-frames FPS (the DAVIS papers' average);
* ``peak_memory_mb``: peak RSS of the process on the CPU (reset before each run where Linux allows),
  ``torch.cuda.max_memory_allocated`` on CUDA;
* ``model_ms_at``: median step time in a window around frames 10, 30, 60, … (memory-based methods slow
  down as their memory grows).

Speed does not depend on the values of the weights, so untrained weights are used unless
``--weights`` is given; the report says which.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vostool.errors import OptionError

# FPS the papers report, with their hardware and conventions (docs/benchmarks.md).
PAPER_FPS = {
    "frtm": "21.9 (V100); 41.3 fast",
    "tvos": "37 (Titan Xp)",
    "rgmp": "7.7",
    "flowvos": "17.3 (TITAN RTX)",
    "munet": "6.42 (2080Ti)",
}
CHECKPOINTS = (10, 30, 60, 100, 200, 300, 500, 1000)


@dataclass
class BenchmarkConfig:
    methods: list[str]
    objects: list[int] = field(default_factory=lambda: [1, 3])
    size: int = 480
    frames: int = 60
    sequences: int = 1
    device: str = "auto"
    precision: str = "fp32"
    video: Path | None = None
    weights: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    warmup_frames: int = 3


@dataclass
class SequenceTiming:
    frames: int
    model_s: list[float]  # per frame, index 0 = first frame
    e2e_s: list[float]  # per frame end to end
    total_s: float  # the whole loop, waiting for the writers


@dataclass
class MethodResult:
    method: str
    objects: int
    status: str  # "ok", "missing: …" or "failed: …"
    weights: str = ""
    first_frame_s: float | None = None
    model_ms_mean: float | None = None
    model_ms_median: float | None = None
    e2e_ms_mean: float | None = None
    e2e_ms_median: float | None = None
    fps_model: float | None = None
    fps_total: float | None = None
    fps_sequence_mean: float | None = None
    peak_memory_mb: float | None = None
    model_ms_at: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    sequences: int = 0
    paper_fps: str = ""


def parse_objects(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise OptionError(f"--objects {text}: expected comma-separated counts, e.g. 1,3") from None
    if not values or any(v < 1 or v > 20 for v in values):
        raise OptionError(f"--objects {text}: object counts must be between 1 and 20")
    return values


def summarize(method: str, objects: int, runs: list[SequenceTiming], peak_mb: float | None, weights: str) -> MethodResult:
    """Turn per-frame timings of one or more sequences into the reported numbers."""
    later_model = [t for run in runs for t in run.model_s[1:]]
    later_e2e = [t for run in runs for t in run.e2e_s[1:]]
    frames = sum(run.frames for run in runs)
    result = MethodResult(method, objects, "ok", weights=weights, frames=frames, sequences=len(runs),
                          paper_fps=PAPER_FPS.get(method, ""), peak_memory_mb=peak_mb)
    result.first_frame_s = statistics.mean(run.model_s[0] for run in runs)
    if later_model:
        result.model_ms_mean = 1000 * statistics.mean(later_model)
        result.model_ms_median = 1000 * statistics.median(later_model)
        result.fps_model = len(later_model) / sum(later_model)
    if later_e2e:
        result.e2e_ms_mean = 1000 * statistics.mean(later_e2e)
        result.e2e_ms_median = 1000 * statistics.median(later_e2e)
    result.fps_total = frames / sum(run.total_s for run in runs)
    result.fps_sequence_mean = statistics.mean(run.frames / run.total_s for run in runs)
    for checkpoint in CHECKPOINTS:
        window = [t for run in runs for t in run.model_s[max(1, checkpoint - 4) : checkpoint + 5] if checkpoint <= run.frames]
        if window:
            result.model_ms_at[str(checkpoint)] = 1000 * statistics.median(window)
    return result


def _reset_peak_memory(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: writing 5 resets the peak resident set size (VmHWM) of this process.
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_memory_mb(device) -> float | None:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generated_clip(folder: Path, objects: int, frames: int, size: int, seed: int) -> tuple[Path, Path]:
    """A synthetic 16:9 clip with ``objects`` objects as h264 plus its first mask."""
    import av

    from vostool.data.synthetic import make_clip
    from vostool.io.masks import write_label_png

    height = size if size > 0 else 480
    width = 2 * round(height * 854 / 480 / 2)
    clip = make_clip(num_frames=frames, height=height, width=width, num_objects=objects, seed=seed)
    video = folder / f"clip_{objects}_{seed}.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in clip.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    mask = folder / f"mask_{objects}_{seed}.png"
    write_label_png(mask, clip.labels[0])
    return video, mask


def blob_mask(folder: Path, video: Path, objects: int) -> Path:
    """First-frame mask for a user's video: ``objects`` ellipses on a row across the frame centre."""
    from vostool.io.masks import write_label_png
    from vostool.io.video import probe

    info = probe(video)
    h, w = info.height, info.width
    yy, xx = np.mgrid[0:h, 0:w]
    labels = np.zeros((h, w), np.uint8)
    for k in range(objects):
        cx = w * (k + 0.5) / objects
        inside = ((xx - cx) / (0.4 * w / objects)) ** 2 + ((yy - h / 2) / (0.25 * h)) ** 2 <= 1
        labels[inside] = k + 1
    mask = folder / f"mask_{objects}.png"
    write_label_png(mask, labels)
    return mask


def _time_sequence(method, video: Path, mask: Path, out: Path, config: BenchmarkConfig) -> SequenceTiming:
    from vostool.engine import segment_video

    result = segment_video(video, mask=mask, method=method, out_dir=out, size=config.size, device=config.device,
                           precision=config.precision, overwrite=True, progress=False, max_frames=config.frames)
    done = result.frame_done_seconds
    e2e = [done[0]] + [b - a for a, b in zip(done, done[1:])]
    return SequenceTiming(result.frames, result.frame_model_seconds, e2e, result.loop_seconds)


def benchmark_method(name: str, objects: int, config: BenchmarkConfig, workdir: Path) -> MethodResult:
    """Warm up, then time ``config.sequences`` sequences of one method and object count."""
    from vostool.devices import resolve_device
    from vostool.loader import load_method

    device = resolve_device(config.device)
    method = load_method(name, config.options, weights=config.weights, untrained=config.weights is None, device=device)
    weights = "untrained (random; speed does not depend on the values)" if config.weights is None else method.weights_source
    inputs = []
    for seq in range(config.sequences):
        if config.video is not None:
            inputs.append((config.video, blob_mask(workdir, config.video, objects)))
        else:
            inputs.append(generated_clip(workdir, objects, config.frames, config.size, seed=100 * objects + seq))
    warm = min(config.warmup_frames, config.frames)
    warm_config = BenchmarkConfig(**{**asdict(config), "frames": warm})
    _time_sequence(method, inputs[0][0], inputs[0][1], workdir / "warmup", warm_config)
    _reset_peak_memory(device)
    runs = [_time_sequence(method, video, mask, workdir / f"out{i}", config) for i, (video, mask) in enumerate(inputs)]
    return summarize(name, objects, runs, _peak_memory_mb(device), weights)


def run_benchmark(config: BenchmarkConfig, on_result: Callable[[MethodResult], None] | None = None) -> dict[str, Any]:
    """Benchmark every requested method; methods that do not exist yet are reported as missing."""
    import torch

    from vostool import __version__
    from vostool.devices import device_name, resolve_device
    from vostool.errors import MethodError, VostoolError
    from vostool.registry import PLANNED, get_entry

    from vostool.preflight import check_benchmark_input

    check_benchmark_input(config.size, config.video)  # issue 21: before any model is built
    device = resolve_device(config.device)
    results: list[MethodResult] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vostool-bench-") as tmp:
        for name in config.methods:
            for objects in config.objects:
                try:
                    get_entry(name)
                except MethodError as exc:
                    if name not in PLANNED:
                        raise
                    result = MethodResult(name, objects, f"missing: {exc}", paper_fps=PAPER_FPS.get(name, ""))
                else:
                    workdir = Path(tmp) / f"{name}-{objects}"
                    workdir.mkdir()
                    try:
                        result = benchmark_method(name, objects, config, workdir)
                    except VostoolError as exc:
                        if exc.exit_code == 2:
                            raise
                        result = MethodResult(name, objects, f"failed: {exc}")
                results.append(result)
                if on_result is not None:
                    on_result(result)
    return {
        "vostool_version": __version__,
        "protocol": {
            "device": device_name(device),
            "precision": config.precision,
            "size": config.size,
            "frames_per_sequence": config.frames,
            "sequences": config.sequences,
            "warmup_frames": config.warmup_frames,
            "input": str(config.video) if config.video else "generated 16:9 clips (vostool.data.synthetic)",
            "io": "e2e includes decoding, resizing, labels and PNG writing; model = Session.step only",
            "weights": "untrained" if config.weights is None else config.weights,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "results": [asdict(r) for r in results],
        "seconds": round(time.perf_counter() - started, 2),
    }
