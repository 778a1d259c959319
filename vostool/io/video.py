"""Frame sources: any container PyAV decodes, or a folder of JPEG/PNG frames.

Frames are streamed (a background thread keeps a few decoded frames ready) so memory does not grow
with the length of the video. Each frame carries the name its output PNG will get: ``00000``… for
videos, the input file's stem for frame folders.
"""

from __future__ import annotations

import queue
import re
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from vostool.errors import VideoError

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Frame:
    """One decoded frame."""

    index: int
    name: str  # output file stem
    image: np.ndarray  # (H, W, 3) uint8 RGB
    pts: int | None = None  # presentation timestamp in the source time base (videos only)


@dataclass
class VideoInfo:
    """What we know about a frame source before decoding it."""

    path: Path
    kind: str  # "video" or "folder"
    width: int
    height: int
    fps: Fraction | None
    time_base: Fraction | None
    num_frames: int | None  # exact for folders; the container's count (may be missing) for videos
    codec: str | None = None
    frame_files: list[Path] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self.height, self.width

    def frame_name(self, index: int) -> str:
        if self.kind == "folder":
            return self.frame_files[index].stem
        return f"{index:05d}"


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frame_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS]
    return sorted(files, key=lambda p: natural_key(p.name))


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise VideoError(f"cannot read frame {path}: {exc}") from None


def probe(path: str | Path) -> VideoInfo:
    """Open a video file or frame folder and check that its first frame decodes."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    if path.is_dir():
        files = list_frame_files(path)
        if not files:
            raise VideoError(
                f"{path} contains no frames ({', '.join(FRAME_EXTENSIONS)}); pass a video file or a folder of images"
            )
        first = _read_image(files[0])
        return VideoInfo(path, "folder", first.shape[1], first.shape[0], None, None, len(files), None, files)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path} has no video stream")
            stream = container.streams.video[0]
            first = None
            for frame in container.decode(stream):
                first = frame
                break
            if first is None:
                raise VideoError(f"{path}: the video stream has no decodable frame")
            fps = stream.average_rate or stream.guessed_rate or stream.base_rate
            num = stream.frames or None
            return VideoInfo(
                path,
                "video",
                first.width,
                first.height,
                Fraction(fps) if fps else None,
                Fraction(stream.time_base) if stream.time_base else None,
                int(num) if num else None,
                stream.codec_context.name,
            )
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(
            f"cannot decode {path}: {exc}; convert it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or pass a folder of frames"
        ) from None


class TruncatedVideoError(VideoError):
    """Decoding ended before the frames the container announced (a truncated or damaged file).

    Raised after the last frame that decoded, so every frame before it was delivered; ``read`` and
    ``announced`` are the counts. ``iter_frames(..., allow_partial=True)`` accepts such a video.
    """

    def __init__(self, path: Path, read: int, announced: int, reason: str = "") -> None:
        self.read, self.announced = read, announced
        super().__init__(
            f"{path}: decoding stopped after {read} of the {announced} frames the container announces"
            f"{f' ({reason})' if reason else ''}; the file is truncated or damaged: re-copy or re-encode it, "
            "or accept the frames that decode (--allow-partial)"
        )


@dataclass
class DecodeReport:
    """How decoding went, filled in while frames are read (see :func:`iter_frames`)."""

    announced: int | None = None  # the container's frame count (None: it gives none; frame folders: exact)
    read: int = 0  # frames delivered
    packets: int = 0  # video packets found in the file (videos only)
    finished: bool = False  # the source was read to its end (False while reading, or when stopped early)
    error: str | None = None  # the decoder's error that ended reading early, if any

    @property
    def truncated(self) -> bool:
        """The file ended (or failed) before the announced frames.

        Packets are compared, not decoded frames: an MP4 edit list (a trimmed start) legitimately
        drops a few decoded frames while every announced packet is there.
        """
        if self.error is not None:
            return True
        return self.finished and self.announced is not None and self.packets < self.announced


def _decode_video(info: VideoInfo, report: DecodeReport, allow_partial: bool) -> Iterator[Frame]:
    import av

    report.announced = info.num_frames
    index = 0
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for packet in container.demux(stream):
                    report.packets += packet.size > 0
                    for frame in packet.decode():
                        image = frame.to_ndarray(format="rgb24")
                        if image.shape[:2] != info.size:
                            raise VideoError(
                                f"{info.path}: frame {index} is {image.shape[1]}x{image.shape[0]}, "
                                f"the first frame was {info.width}x{info.height}; videos must keep one frame size"
                            )
                        report.read += 1
                        yield Frame(index, info.frame_name(index), image, frame.pts)
                        index += 1
            except av.error.FFmpegError as exc:
                if index == 0:  # nothing decodes: not a partial video
                    raise
                # With frame threading a damaged tail often ends decoding silently; without it, here.
                report.error = str(exc)
            report.finished = True
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"decoding {info.path} failed: {exc}") from None
    if report.truncated and not allow_partial:
        raise TruncatedVideoError(info.path, report.read, report.announced or report.read, report.error or "")


def _read_folder(info: VideoInfo, report: DecodeReport) -> Iterator[Frame]:
    report.announced = len(info.frame_files)
    for index, file in enumerate(info.frame_files):
        image = _read_image(file)
        if image.shape[:2] != info.size:
            raise VideoError(
                f"{file} is {image.shape[1]}x{image.shape[0]} but {info.frame_files[0].name} is "
                f"{info.width}x{info.height}; all frames of a folder must have one size"
            )
        report.read += 1
        report.packets += 1  # one file, one frame
        yield Frame(index, file.stem, image, None)
    report.finished = True


def iter_frames(info: VideoInfo, prefetch: int = 4, *, allow_partial: bool = False,
                report: DecodeReport | None = None) -> Iterator[Frame]:
    """Yield frames in order, decoded on a background thread that stays ``prefetch`` frames ahead.

    A video that ends before the frames its container announces raises :class:`TruncatedVideoError`
    after its last decodable frame, unless ``allow_partial``; either way ``report`` (when given) holds
    the counts once the iteration has ended.
    """
    report = report if report is not None else DecodeReport()
    source = _read_folder(info, report) if info.kind == "folder" else _decode_video(info, report, allow_partial)
    if prefetch <= 0:
        yield from source
        return
    yield from _prefetched(source, prefetch)


_DONE = object()


def _prefetched(source: Iterator, depth: int) -> Iterator:
    """Run ``source`` on a thread; exceptions are re-raised in the consumer."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as exc:  # forwarded to the consumer
            items.put(exc)

    thread = threading.Thread(target=produce, name="vostool-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        # Drain so a producer blocked on put() can see the stop flag and exit.
        while thread.is_alive():
            try:
                items.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
        close = getattr(source, "close", None)
        if close is not None:
            close()
