"""Output writers that run on background threads: indexed PNG sequences and overlay videos.

Both accept work through a bounded queue (so a slow disk slows the run down instead of filling
memory) and re-raise any error of the writing thread on the next call. Files appear atomically: PNGs
are renamed into place one by one, the overlay video when it is complete.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from vostool.errors import OutputError
from vostool.io.masks import davis_palette, write_label_png

OVERLAY_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}


class _BackgroundWorker:
    """A thread that runs queued callables in order; the first error stops it and is re-raised."""

    def __init__(self, name: str, depth: int = 8) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is not None:
                continue
            try:
                job()
            except OSError as exc:  # a full or vanished disk (ENOSPC from PyAV too): one OutputError line
                where = exc.filename or self._thread.name
                self._error = OutputError(f"cannot write {where}: {exc.strerror or exc}")
            except BaseException as exc:
                self._error = exc

    def submit(self, job: Callable[[], None]) -> None:
        self.raise_error()
        self._queue.put(job)

    def raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self.raise_error()


class PngSequenceWriter:
    """Writes ``out_dir/<name>.png`` label images with one palette, on a background thread."""

    def __init__(self, out_dir: Path, palette: np.ndarray | None) -> None:
        self.out_dir = Path(out_dir)
        self.palette = davis_palette() if palette is None else palette
        self.written: list[str] = []
        self._worker = _BackgroundWorker("vostool-png")

    def write(self, name: str, labels: np.ndarray) -> None:
        """Queue ``labels`` ((H, W) uint8 ids) for writing as ``<name>.png``."""
        path = self.out_dir / f"{name}.png"
        self._worker.submit(lambda: write_label_png(path, labels, self.palette))
        self.written.append(path.name)

    def close(self) -> None:
        """Wait for all queued files; raises the first write error, if any."""
        self._worker.close()


def overlay_image(frame: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend palette colours over the frame at ``alpha`` and draw object contours in full colour.

    frame: (H, W, 3) uint8; labels: (H, W) uint8 -> (H, W, 3) uint8.
    """
    colours = palette[labels]
    objects = labels > 0
    out = frame.copy()
    blended = (frame[objects].astype(np.float32) * (1 - alpha) + colours[objects].astype(np.float32) * alpha)
    out[objects] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge &= objects
    # Thicker contours on large frames so they stay visible after compression.
    for _ in range(max(0, round(min(labels.shape) / 480) - 1)):
        grown = edge.copy()
        grown[1:, :] |= edge[:-1, :]
        grown[:-1, :] |= edge[1:, :]
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        edge = grown & objects
    out[edge] = colours[edge]
    return out


def overlay_format(path: Path) -> str:
    fmt = OVERLAY_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"--overlay {path}: unknown video extension; use one of {', '.join(sorted(OVERLAY_FORMATS))}"
        )
    return fmt


class OverlayVideoWriter:
    """Encodes frames blended with their labels into a video (h264, or VP9 for .webm).

    The file is written under a temporary name and renamed when :meth:`close` succeeds, so an
    interrupted run never leaves a truncated video that looks complete.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: Fraction | None,
        palette: np.ndarray | None,
        time_base: Fraction | None = None,
    ) -> None:
        import av

        self.path = Path(path)
        self.palette = davis_palette() if palette is None else palette
        self.fps = Fraction(fps) if fps else Fraction(24)
        self.time_base = time_base
        fmt = overlay_format(self.path)
        self._tmp = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex[:8]}.partial"
        # yuv420p needs even sizes: pad odd frames by one replicated row/column.
        self._width, self._height = width + width % 2, height + height % 2
        try:
            self._container = av.open(str(self._tmp), mode="w", format=fmt)
        except (OSError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot write overlay {path}: {exc}") from None
        codec = "libvpx-vp9" if fmt == "webm" else "libx264"
        self._stream = self._container.add_stream(codec, rate=self.fps)
        self._stream.width = self._width
        self._stream.height = self._height
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": "18", "preset": "veryfast"}
        if time_base is not None:
            self._stream.time_base = time_base
        self._count = 0
        self._worker = _BackgroundWorker("vostool-overlay", depth=4)

    def write(self, frame: np.ndarray, labels: np.ndarray, pts: int | None = None) -> None:
        """Queue one frame ((H, W, 3) uint8) with its labels ((H, W) uint8)."""
        self._worker.submit(lambda: self._encode(frame, labels, pts))

    def _encode(self, frame: np.ndarray, labels: np.ndarray, pts: int | None) -> None:
        import av

        image = overlay_image(frame, labels, self.palette)
        if image.shape[:2] != (self._height, self._width):
            image = np.pad(
                image, ((0, self._height - image.shape[0]), (0, self._width - image.shape[1]), (0, 0)), mode="edge"
            )
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if pts is not None and self.time_base is not None:
            video_frame.pts = pts
            video_frame.time_base = self.time_base
        else:
            video_frame.pts = self._count
            video_frame.time_base = 1 / self.fps
        self._count += 1
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def _finish(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def close(self) -> None:
        """Flush the encoder and move the finished video into place."""
        try:
            self._worker.submit(self._finish)
            self._worker.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop and delete the partial file."""
        try:
            self._worker.close()
        except BaseException:
            pass
        try:
            self._container.close()
        except Exception:
            pass
        self._tmp.unlink(missing_ok=True)
