"""Segment a video: frames in, a method's Session in the middle, label PNGs and an overlay out.

For each frame the engine resizes to the processing size (short side ``size``, by default the
method's: 480, FlowVOS 240), calls ``session.step``, resizes the probabilities back bilinearly, takes
the argmax as labels (object ids as the user gave them) and hands them to the writers. Objects
introduced on a frame keep exactly their given mask at the original resolution. Decoding and writing
run on background threads.
"""

from __future__ import annotations

import datetime
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from vostool import __version__
from vostool.aggregate import probs_to_labels
from vostool.devices import autocast, check_precision, device_name, resolve_device, synchronize
from vostool.errors import MaskError, OptionError, OutputError
from vostool.io.masks import atomic_save, davis_palette, fit_to_frame, object_ids, read_label_image
from vostool.io.video import VideoInfo, iter_frames, natural_key, probe
from vostool.io.writers import OverlayVideoWriter, PngSequenceWriter, overlay_format
from vostool.methods.base import Method
from vostool.registry import get_method_class

log = logging.getLogger("vostool")
RUN_FILE = "vostool-run.json"


class ProgressReporter(Protocol):
    def start(self, total: int | None, description: str) -> None: ...
    def advance(self, frames: int = 1) -> None: ...
    def stop(self) -> None: ...


class TqdmProgress:
    """The default progress bar for library use (the CLI passes a Rich one)."""

    def start(self, total: int | None, description: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=description, unit="frame")

    def advance(self, frames: int = 1) -> None:
        self._bar.update(frames)

    def stop(self) -> None:
        self._bar.close()


class NoProgress:
    def start(self, total: int | None, description: str) -> None:
        pass

    def advance(self, frames: int = 1) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class GivenMask:
    """A mask that introduces objects on one frame, at the original and the processing size."""

    frame_index: int
    path: Path
    labels: np.ndarray  # (H, W) uint8, original size, only the newly introduced ids
    processing: np.ndarray  # (h, w) uint8, processing size
    new_ids: list[int]


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


def _resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if labels.shape == size:
        return labels
    t = torch.from_numpy(labels)[None, None].float()
    return F.interpolate(t, size=size, mode="nearest-exact")[0, 0].to(torch.uint8).numpy()


def _match_mask_files(info: VideoInfo, masks_dir: Path) -> list[tuple[int, Path]]:
    """Pair each PNG in ``masks_dir`` with the frame of the same name (numeric names match numerically)."""
    if not masks_dir.is_dir():
        raise MaskError(f"--masks {masks_dir}: not a folder")
    files = sorted((p for p in masks_dir.iterdir() if p.suffix.lower() == ".png"), key=lambda p: natural_key(p.name))
    if not files:
        raise MaskError(f"--masks {masks_dir}: no PNG masks inside (name them after frames: 00000.png, 00013.png, …)")
    by_name: dict[str, int] = {}
    by_number: dict[int, int] = {}
    if info.kind == "folder":
        for i, f in enumerate(info.frame_files):
            by_name[f.stem] = i
            if f.stem.isdigit():
                by_number.setdefault(int(f.stem), i)
    pairs = []
    for path in files:
        stem = path.stem
        if info.kind == "folder":
            index = by_name.get(stem, by_number.get(int(stem)) if stem.isdigit() else None)
        else:
            index = int(stem) if stem.isdigit() else None
        if index is None or (info.num_frames is not None and info.kind == "folder" and index >= info.num_frames):
            raise MaskError(f"mask {path} matches no frame; name masks after frames (00000.png, 00013.png, …)")
        pairs.append((index, path))
    return sorted(pairs)


def prepare_masks(
    info: VideoInfo, mask: str | Path | None, masks_dir: str | Path | None, proc: tuple[int, int]
) -> tuple[dict[int, GivenMask], np.ndarray | None, list[str]]:
    """Read and check all masks before any work: returns {frame index: GivenMask}, palette, warnings."""
    if (mask is None) == (masks_dir is None):
        raise OptionError("give exactly one of --mask FILE (first frame) or --masks DIR (masks named after frames)")
    pairs = [(0, Path(mask))] if mask is not None else _match_mask_files(info, Path(masks_dir))
    schedule: dict[int, GivenMask] = {}
    palette = None
    warnings: list[str] = []
    known: set[int] = set()
    ignored = 0
    for index, path in pairs:
        label_map = read_label_image(path)
        if palette is None and label_map.palette is not None:
            palette = label_map.palette
        labels, warning = fit_to_frame(label_map.labels, info.size, path)
        if warning:
            warnings.append(warning)
        new = [i for i in object_ids(labels) if i not in known]
        if not new:
            if mask is not None:
                raise MaskError(f"mask {path} has no object (all pixels are 0); draw at least one object with an id 1..255")
            ignored += 1
            continue
        only_new = np.where(np.isin(labels, new), labels, 0).astype(np.uint8)
        small = _resize_labels(only_new, proc)
        lost = [i for i in new if not (small == i).any()]
        if lost:
            raise MaskError(
                f"object(s) {', '.join(map(str, lost))} in {path} vanish at the processing size {proc[1]}x{proc[0]}; "
                "use a larger --size or --size 0 (native)"
            )
        known.update(new)
        schedule[index] = GivenMask(index, path, only_new, small, new)
    if not schedule:
        raise MaskError(f"--masks {masks_dir}: no mask contains an object")
    if ignored:
        warnings.append(f"{ignored} mask(s) add no new object and were ignored (later masks only introduce objects)")
    return schedule, palette, warnings


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _check_writable(path: Path, flag: str) -> None:
    """The folder ``path`` exists and is writable, or can be created (no side effects)."""
    import os

    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise OutputError(f"cannot write to {path}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {path}: permission denied ({flag})")


def _check_outputs(out_dir: Path | None, overlay: Path | None, overwrite: bool) -> None:
    """Validate the outputs without creating anything."""
    if out_dir is None and overlay is None:
        raise OptionError("nothing to write: give --out DIR and/or --overlay FILE")
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"--out {out_dir} is a file; give a folder")
        if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
            raise OutputError(f"--out {out_dir} is not empty; pass --overwrite to replace its masks or choose another folder")
        _check_writable(out_dir, "--out")
    if overlay is not None:
        overlay_format(overlay)
        if overlay.exists() and not overwrite:
            raise OutputError(f"--overlay {overlay} exists; pass --overwrite to replace it")
        _check_writable(overlay.parent, "--overlay")


def _create_outputs(out_dir: Path | None, overlay: Path | None) -> None:
    for folder in (out_dir, overlay.parent if overlay is not None else None):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write to {folder}: {exc.strerror or exc}") from None


def _versions() -> dict[str, str]:
    import av
    import PIL
    import torchvision

    versions = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
                "av": av.__version__, "numpy": np.__version__, "pillow": PIL.__version__}
    try:
        import cv2

        versions["opencv"] = cv2.__version__
    except ImportError:
        pass
    return versions


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
) -> SegmentResult:
    """Segment ``video`` (a file PyAV decodes, or a folder of frames) from its masks.

    Everything is checked (video, masks, outputs, options, weights) before the first frame is
    processed. PNGs go to ``out_dir`` (named like the input frames), the overlay to ``overlay``, and a
    description of the run to ``out_dir/vostool-run.json``. ``size`` is the processing short side
    (0 = native); None takes the method's default (``Method.default_size``: 480, FlowVOS 240).
    """
    started = time.perf_counter()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    check_precision(precision)
    out_path = Path(out_dir) if out_dir is not None else None
    overlay_path = Path(overlay) if overlay is not None else None
    info = probe(video)
    if size is None:
        size = (type(method) if isinstance(method, Method) else get_method_class(method)).default_size
    proc = processing_size(info.height, info.width, size)
    schedule, palette, warnings = prepare_masks(info, mask, masks_dir, proc)
    mask_files = [str(m.path) for m in schedule.values()]
    _check_outputs(out_path, overlay_path, overwrite)
    torch_device = resolve_device(device)
    check_precision(precision, torch_device)
    if isinstance(method, Method):
        model = method.to(torch_device)
        if options:
            raise OptionError("options cannot be changed on an already built method")
    else:
        from vostool.loader import load_method

        model = load_method(method, options, weights=weights, untrained=untrained, device=torch_device)
    _create_outputs(out_path, overlay_path)
    for text in warnings:
        log.warning(text)

    if progress is True:
        reporter: ProgressReporter = TqdmProgress()
    elif progress is False or progress is None:
        reporter = NoProgress()
    else:
        reporter = progress
    out_palette = palette if palette is not None else davis_palette()
    png_writer = PngSequenceWriter(out_path, out_palette) if out_path is not None else None
    overlay_fps = info.fps if info.fps else (fps or 24)
    overlay_writer = (
        OverlayVideoWriter(overlay_path, info.width, info.height, overlay_fps, out_palette, info.time_base)
        if overlay_path is not None else None
    )
    session = model.new_session()
    resize = proc != info.size
    downscale = proc[0] < info.height
    model_seconds = 0.0
    first_frame_seconds = 0.0
    frames = 0
    status = "ok"
    reporter.start(info.num_frames, f"{model.name} {Path(video).name}")
    loop_started = time.perf_counter()
    loop_seconds = 0.0
    try:
        with torch.inference_mode(), autocast(torch_device, precision):
            for frame in iter_frames(info):
                image = torch.from_numpy(frame.image).to(torch_device, non_blocking=True)
                x = image.permute(2, 0, 1).float().div_(255)
                if resize:
                    x = F.interpolate(x[None], size=proc, mode="bilinear", align_corners=False, antialias=downscale)[0]
                    x = x.clamp_(0, 1)
                given = schedule.pop(frame.index, None)
                mask_t = torch.from_numpy(given.processing).to(torch_device) if given is not None else None
                t0 = time.perf_counter()
                probs = session.step(x, mask_t)
                synchronize(torch_device)
                elapsed = time.perf_counter() - t0
                model_seconds += elapsed
                if frames == 0:
                    first_frame_seconds = elapsed
                probs = probs.float()
                if resize:
                    probs = F.interpolate(probs[None], size=info.size, mode="bilinear", align_corners=False)[0]
                labels = probs_to_labels(probs, session.object_ids)
                if given is not None:
                    exact = torch.from_numpy(given.labels).to(labels.device)
                    new = torch.tensor(given.new_ids, dtype=labels.dtype, device=labels.device)
                    labels = torch.where(torch.isin(labels, new), torch.zeros_like(labels), labels)
                    labels = torch.where(exact > 0, exact, labels)
                labels_np = labels.cpu().numpy()
                if png_writer is not None:
                    png_writer.write(frame.name, labels_np)
                if overlay_writer is not None:
                    overlay_writer.write(frame.image, labels_np, frame.pts)
                frames += 1
                reporter.advance(1)
        if png_writer is not None:
            png_writer.close()
        if overlay_writer is not None:
            overlay_writer.close()
        loop_seconds = time.perf_counter() - loop_started
    except BaseException as exc:
        status = f"failed: {type(exc).__name__}: {exc}"
        if png_writer is not None:
            try:
                png_writer.close()
            except BaseException:
                pass
        if overlay_writer is not None:
            overlay_writer.abort()
        raise
    finally:
        reporter.stop()
        total = time.perf_counter() - started
        run = {
            "vostool_version": __version__,
            "status": status,
            "started": started_at.isoformat(timespec="seconds"),
            "method": {
                "name": model.name,
                "options": _options_dict(model.options),
                "weights": model.weights_source,
                "weights_sha256": model.weights_sha256,
            },
            "input": {
                "video": str(video),
                "kind": info.kind,
                "width": info.width,
                "height": info.height,
                "fps": float(info.fps) if info.fps else None,
                "masks": mask_files,
            },
            "processing": {"height": proc[0], "width": proc[1], "device": device_name(torch_device), "precision": precision},
            "output": {
                "dir": str(out_path) if out_path else None,
                "overlay": str(overlay_path) if overlay_path else None,
                "palette": "input" if palette is not None else "davis",
            },
            "object_ids": list(session.object_ids),
            "frames": frames,
            "seconds": {"total": round(total, 4), "loop": round(loop_seconds, 4), "model": round(model_seconds, 4),
                        "first_frame": round(first_frame_seconds, 4)},
            "versions": _versions(),
            "warnings": warnings,
        }
        if out_path is not None and out_path.is_dir():
            atomic_save(out_path / RUN_FILE, lambda tmp: tmp.write_text(json.dumps(run, indent=2) + "\n"))
    if out_path is not None and overwrite and png_writer is not None:
        _remove_stale(out_path, set(png_writer.written))
    return SegmentResult(frames, tuple(session.object_ids), out_path, overlay_path, proc, total, loop_seconds,
                         model_seconds, first_frame_seconds, warnings, run)


def _options_dict(options: Any) -> dict[str, Any]:
    from vostool.options import options_to_dict

    try:
        return options_to_dict(options)
    except TypeError:
        return {}


def _remove_stale(out_dir: Path, written: set[str]) -> None:
    """After an --overwrite run, PNGs of an earlier (longer) run would mix with the new ones."""
    for path in out_dir.glob("*.png"):
        if path.name not in written:
            path.unlink(missing_ok=True)
