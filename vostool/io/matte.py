"""Matte videos: black-and-white mask videos an editor can use as a track matte (luma or alpha).

White (255) is the object, black (0) is not. ``mode="all"`` writes one video where any object is
white; ``mode="per-object"`` writes ``<stem>_<id><ext>`` per object, black before the object appears
so every matte lines up with the source video frame for frame.

The codec follows the extension; both are lossless (the decoded frames equal the masks exactly):

* ``.mov``: PNG frames in QuickTime (codec ``png``, rgb24). A lossless codec that Premiere Pro and
  After Effects decode natively (their built-in QuickTime decoders list "PNG", as for the older
  Animation codec). rgb24 rather than gray because editors' QuickTime readers expect colour PNG
  frames; it costs ~1.4x the bytes of gray. ProRes 4444, the usual interchange codec, is not
  lossless: on a 0/255 matte its edges ring by up to 111 levels (measured with PyAV's prores_ks).
* ``.mkv``: FFV1 in Matroska, gray8. The archival lossless codec: the smallest file, decoded by every
  FFmpeg-based tool (PyAV, OpenCV, Kdenlive, Shotcut, Nuke's FFmpeg reader), not by Adobe's editors.

Like the overlay, the video is written under a temporary name and renamed when complete; frames use
the source video's timestamps when it has them, else a constant rate.
"""

from __future__ import annotations

import os
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vostool.errors import OutputError
from vostool.io.frame_outputs import QUEUE_DEPTH, FrameOutput
from vostool.io.writers import _BackgroundWorker

# extension -> (container format, codec, pixel format)
MATTE_CODECS = {".mov": ("mov", "png", "rgb24"), ".mkv": ("matroska", "ffv1", "gray")}
MATTE_MODES = ("all", "per-object")


def matte_codec(path: Path) -> tuple[str, str, str]:
    """The (container, codec, pixel format) for a matte file name; OutputError for other extensions."""
    codec = MATTE_CODECS.get(Path(path).suffix.lower())
    if codec is None:
        raise OutputError(f"--matte {path}: use .mov (PNG in QuickTime, for editors) or .mkv (FFV1, smallest); "
                          "both are lossless")
    return codec


def per_object_matte_path(path: Path, object_id: int) -> Path:
    """``matte.mov`` -> ``matte_<id>.mov``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_{object_id}{path.suffix}")


class _MatteEncoder:
    """One matte file: a PyAV container written under a temporary name."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, time_base: Fraction | None) -> None:
        import av

        self.path = path
        fmt, codec, self.pix_fmt = matte_codec(path)
        self.tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.partial"
        self.fps, self.time_base, self.count = fps, time_base, 0
        try:
            self.container = av.open(str(self.tmp), mode="w", format=fmt)
        except (OSError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot write matte {path}: {exc}") from None
        self.stream = self.container.add_stream(codec, rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = self.pix_fmt
        if time_base is not None:
            self.stream.time_base = time_base

    def encode(self, plane: np.ndarray, pts: int | None) -> None:
        """plane: (H, W) uint8, 0 or 255."""
        import av

        image = np.repeat(plane[:, :, None], 3, axis=2) if self.pix_fmt == "rgb24" else plane
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=self.pix_fmt)
        if pts is not None and self.time_base is not None:
            frame.pts, frame.time_base = pts, self.time_base
        else:
            frame.pts, frame.time_base = self.count, 1 / self.fps
        self.count += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def finish(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass
        self.tmp.unlink(missing_ok=True)


class MatteVideoWriter(FrameOutput):
    """Writes the matte video(s) for ``path`` in ``mode`` ``all`` or ``per-object`` (see module docstring)."""

    kind = "matte"

    def __init__(self, path: Path, width: int, height: int, fps: Fraction | float | None,
                 time_base: Fraction | None = None, mode: str = "all") -> None:
        if mode not in MATTE_MODES:
            raise ValueError(f"matte mode {mode!r}: use one of {', '.join(MATTE_MODES)}")
        matte_codec(path)
        self.path, self.mode = Path(path), mode
        self.width, self.height = width, height
        self.fps = Fraction(fps).limit_denominator(1_000_000) if fps else Fraction(24)
        self.time_base = time_base
        self.frames = 0
        self._pts: list[int | None] = []  # timestamps so far, for objects that appear later
        self._encoders: dict[int, _MatteEncoder] = {}  # object id (0 = all objects) -> file
        self._worker = _BackgroundWorker("vostool-matte", depth=QUEUE_DEPTH)
        if mode == "all":
            self._encoders[0] = self._open(self.path)

    def _open(self, path: Path) -> _MatteEncoder:
        return _MatteEncoder(path, self.width, self.height, self.fps, self.time_base)

    def write(self, index: int, name: str, labels: np.ndarray, probs: np.ndarray | None,
              object_ids: Sequence[int], pts: int | None = None) -> None:
        ids = [int(i) for i in object_ids]
        self._worker.submit(lambda: self._guarded(lambda: self._write(labels, ids, pts)))
        self.frames += 1

    def _guarded(self, job) -> None:
        """Disk and codec errors become one-line OutputErrors."""
        import av

        try:
            job()
        except (OSError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot write matte {self.path}: {exc.strerror or exc}") from None

    def _write(self, labels: np.ndarray, ids: list[int], pts: int | None) -> None:
        if self.mode == "all":
            self._encoders[0].encode(np.where(labels > 0, np.uint8(255), np.uint8(0)), pts)
        else:
            for oid in ids:
                if oid not in self._encoders:
                    encoder = self._encoders[oid] = self._open(per_object_matte_path(self.path, oid))
                    black = np.zeros(labels.shape, dtype=np.uint8)
                    for earlier in self._pts:
                        encoder.encode(black, earlier)
                self._encoders[oid].encode(np.where(labels == oid, np.uint8(255), np.uint8(0)), pts)
        self._pts.append(pts)

    def _finish(self) -> None:
        for encoder in self._encoders.values():
            encoder.finish()

    def close(self) -> None:
        self._finish_after_frames(lambda: self._guarded(self._finish))

    def abort(self) -> None:
        super().abort()
        for encoder in self._encoders.values():
            if encoder.tmp.exists():
                encoder.discard()

    def files(self) -> dict[int, Path]:
        """Object id (0 for ``all``) -> matte file."""
        return {oid: encoder.path for oid, encoder in self._encoders.items()}

    def describe(self) -> dict[str, Any]:
        _, codec, pix_fmt = matte_codec(self.path)
        return {"kind": self.kind, "path": str(self.path), "mode": self.mode, "codec": codec, "pix_fmt": pix_fmt,
                "lossless": True, "files": {str(k): str(v) for k, v in self.files().items()}, "frames": self.frames}
