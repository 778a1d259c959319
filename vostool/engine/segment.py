"""Segment a video: frames in, a method's Session in the middle, label PNGs and an overlay out.

Inputs are checked up front, then the one frame loop (:func:`vostool.engine.loop.run_session`: resize
to the processing size by the method's resize rules, ``session.step``, probabilities back, labels with
the given masks exact) runs, and this module hands each frame's labels to the writers. The processing
size is the short side ``size``, by default the method's (480, FlowVOS 240). Decoding and writing run
on background threads.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from vostool.engine.loop import FrameResult, run_session
from vostool.engine.record import RUN_FILE, build_run_record
from vostool.engine.timing import FrameTimes
from vostool.devices import check_precision, resolve_device
from vostool.errors import OptionError
from vostool.io.exports import ExportOptions  # issue 19 outputs
from vostool.io.mask_schedule import prepare_masks, unused_masks_error
from vostool.io.masks import atomic_save, davis_palette
from vostool.io.outputs import check_outputs, create_outputs, remove_stale
from vostool.io.video import DecodeReport, Frame, iter_frames, probe
from vostool.io.writers import OverlayVideoWriter, PngSequenceWriter
from vostool.methods.base import Method
from vostool.preflight import check_disk_space, check_fps, choose_size
from vostool.progress import NoProgress, ProgressReporter, TqdmProgress
from vostool.options import make_options
from vostool.registry import get_method_class
from vostool.resize_rules import rules_for

log = logging.getLogger("vostool")


@dataclass
class SegmentResult:
    """What a run did; ``run`` is the content of vostool-run.json."""

    frames: int
    object_ids: tuple[int, ...]
    out_dir: Path | None
    overlay: Path | None
    processing_size: tuple[int, int]
    total_seconds: float  # everything, including loading the model
    loop_seconds: float  # the frame loop, from the first decoded frame to the last file written
    model_seconds: float  # inside Session.step
    first_frame_seconds: float
    warnings: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    frame_model_seconds: list[float] = field(default_factory=list)  # Session.step time of each frame
    frame_done_seconds: list[float] = field(default_factory=list)  # loop clock when each frame was handed to the writers

    @property
    def overhead_seconds(self) -> float:
        """Wall time of the frame loop not spent in ``Session.step`` (decode, resize, labels, writing)."""
        return max(0.0, self.loop_seconds - self.model_seconds)


def processing_size(height: int, width: int, size: int) -> tuple[int, int]:
    """Short side to ``size`` keeping the aspect ratio; ``size=0`` keeps the native size."""
    if size < 0:
        raise OptionError(f"--size {size}: must be 0 (native) or a positive short-side length")
    if size == 0 or min(height, width) == size:
        return height, width
    scale = size / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def segment_video(
    video: str | Path,
    *,
    mask: str | Path | None = None,
    masks_dir: str | Path | None = None,
    method: str | Method = "frtm",
    out_dir: str | Path | None = None,
    overlay: str | Path | None = None,
    size: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    weights: str | None = None,
    untrained: bool = False,
    options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: ProgressReporter | bool = True,
    fps: float | None = None,
    max_frames: int | None = None,
    exports: ExportOptions | None = None,
    corrections: bool = True,
    start_frame: int = 0,
    allow_partial: bool = False,
) -> SegmentResult:
    """Segment ``video`` (a file PyAV decodes, or a folder of frames) from its masks.

    Everything is checked (video, masks, outputs, options, weights) before the first frame is
    processed. PNGs go to ``out_dir`` (named like the input frames), the overlay to ``overlay``, and a
    description of the run to ``out_dir/vostool-run.json``. ``size`` is the processing short side
    (0 = native); None takes the method's default (``Method.default_size``: 480, FlowVOS 240) for video
    at least that large and the native size for smaller video (``vostool.preflight.choose_size``).
    ``max_frames`` stops after that many frames. ``exports`` adds the optional outputs (soft maps,
    per-object masks, matte videos, COCO RLE JSON; see :class:`vostool.io.exports.ExportOptions`).
    With ``corrections`` (default) a later mask that gives an object already tracked corrects it;
    without, later masks only introduce objects.
    ``start_frame``: the session starts on that frame (which needs a mask); earlier frames are decoded
    and passed over, and their outputs are left as they are (``--from-frame``, vostool.from_frame).
    A video that ends before the frames its container announces raises TruncatedVideoError after its
    last frame, unless ``allow_partial``: then the run's status is ``partial: R of N frames``.
    """
    started = time.perf_counter()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    check_precision(precision)
    check_fps(fps)  # issue 21 preflight
    out_path = Path(out_dir) if out_dir is not None else None
    overlay_path = Path(overlay) if overlay is not None else None
    info = probe(video)
    default_size = (type(method) if isinstance(method, Method) else get_method_class(method)).default_size
    size, size_note = choose_size(size, default_size, info.height, info.width)  # no upscaling unless asked
    proc = processing_size(info.height, info.width, size)
    # The method's resize rules (frames, given masks, probabilities back): vostool.resize_rules.
    rules = rules_for(method.options if isinstance(method, Method)
                      else make_options(get_method_class(method).Options, options or {}))
    schedule, palette, warnings = prepare_masks(info, mask, masks_dir, proc, resize=rules.mask,
                                                corrections=corrections)
    mask_files = [str(m.path) for m in schedule.values()]
    # --- issue 19 outputs: check (begin) ---
    exports = exports if exports is not None and exports.any() else None
    check_outputs(out_path, overlay_path, overwrite, others=exports is not None)
    if out_path is not None:  # issue 21 preflight: the masks must fit on the disk
        check_disk_space(out_path, info.num_frames and min(info.num_frames, max_frames or info.num_frames), *info.size)
    if exports is not None:
        exports.check(overwrite)
    # --- issue 19 outputs: check (end) ---
    torch_device = resolve_device(device)
    check_precision(precision, torch_device)
    if isinstance(method, Method):
        model = method.to(torch_device)
        if options:
            raise OptionError("options cannot be changed on an already built method")
    else:
        from vostool.loader import load_method

        model = load_method(method, options, weights=weights, untrained=untrained, device=torch_device)
    create_outputs(out_path, overlay_path)
    for text in warnings:
        log.warning(text)

    if progress is True:
        reporter: ProgressReporter = TqdmProgress()
    elif progress is False or progress is None:
        reporter = NoProgress()
    else:
        reporter = progress
    out_palette = palette if palette is not None else davis_palette()
    overlay_fps = info.fps if info.fps else (fps or 24)
    # --- issue 19 outputs: open, before the other writers so a failure here leaves nothing to clean (begin) ---
    extra_writers = exports.open(info.width, info.height, overlay_fps, info.time_base, overwrite) if exports else []
    needs_probs = any(w.needs_probs for w in extra_writers)
    # --- issue 19 outputs: open (end) ---
    png_writer = PngSequenceWriter(out_path, out_palette) if out_path is not None else None
    overlay_writer = (
        OverlayVideoWriter(overlay_path, info.width, info.height, overlay_fps, out_palette, info.time_base)
        if overlay_path is not None else None
    )
    session = model.new_session()
    frames = 0
    status = "ok"
    decoded = DecodeReport()
    expected = info.num_frames if max_frames is None else min(max_frames, info.num_frames or max_frames)
    reporter.start(expected, f"{model.name} {Path(video).name}")
    times = FrameTimes(torch_device)  # its StepTimer is run_session's hook around Session.step
    loop_seconds = 0.0

    def stream() -> Iterator[Frame]:
        for frame in iter_frames(info, allow_partial=allow_partial, report=decoded):
            if max_frames is not None and frames >= max_frames:
                break
            if frame.index < start_frame:  # --from-frame: earlier outputs are kept (vostool.from_frame)
                continue
            yield frame

    def write(result: FrameResult) -> None:
        nonlocal frames
        frame, labels_np = result.frame, result.labels
        if png_writer is not None:
            png_writer.write(frame.name, labels_np)
        if overlay_writer is not None:
            overlay_writer.write(frame.image, labels_np, frame.pts)
        # --- issue 19 outputs: per frame (begin); probs is (1+K, H, W) at the output size here ---
        if extra_writers:
            soft_np = result.probs[1:].cpu().numpy() if needs_probs else None
            for writer in extra_writers:
                writer.write(frame.index, frame.name, labels_np, soft_np, session.object_ids, frame.pts)
        # --- issue 19 outputs: per frame (end) ---
        frames += 1
        times.done(result.step_seconds)
        reporter.advance(1)

    try:
        run_session(session, stream(), schedule, write, device=torch_device, precision=precision, size=proc,
                    rules=rules, timer=times.timer)
        # >>> robust (issue 21): no given mask fell on a frame; known only now when the count was not
        if (unused := unused_masks_error(schedule, frames, len(session.object_ids))) is not None:
            raise unused
        # <<< robust
        if decoded.truncated:
            status = f"partial: {decoded.read} of {decoded.announced} frames (the video ends early; --allow-partial)"
            log.warning(f"{Path(video).name}: {status}")
        if png_writer is not None:
            png_writer.close()
        if overlay_writer is not None:
            overlay_writer.close()
        for writer in extra_writers:  # issue 19 outputs
            writer.close()
        loop_seconds = times.loop_seconds()
    except BaseException as exc:
        status = f"failed: {type(exc).__name__}: {exc}"
        if png_writer is not None:
            try:
                png_writer.close()
            except BaseException:
                pass
        if overlay_writer is not None:
            overlay_writer.abort()
        for writer in extra_writers:  # issue 19 outputs
            writer.abort()
        raise
    finally:
        reporter.stop()
        total = time.perf_counter() - started
        run = build_run_record(
            status=status, started_at=started_at, model=model, video=video, info=info, mask_files=mask_files,
            proc=proc, device=torch_device, precision=precision, size_note=size_note, out_path=out_path,
            overlay_path=overlay_path, palette_from_input=palette is not None,
            exports=[writer.describe() for writer in extra_writers], object_ids=session.object_ids, frames=frames,
            seconds={"total": total, "loop": loop_seconds, "model": times.model_seconds,
                     "first_frame": times.first_frame_seconds},
            warnings=warnings)
        if out_path is not None and out_path.is_dir():
            atomic_save(out_path / RUN_FILE, lambda tmp: tmp.write_text(json.dumps(run, indent=2) + "\n"))
    if out_path is not None and overwrite and png_writer is not None and not start_frame:
        remove_stale(out_path, set(png_writer.written))
    return SegmentResult(frames, tuple(session.object_ids), out_path, overlay_path, proc, total, loop_seconds,
                         times.model_seconds, times.first_frame_seconds, warnings, run, times.step_seconds,
                         times.done_seconds)
