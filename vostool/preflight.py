"""Checks that run before a model is built or a frame is processed, so that a bad option or an
unwritable or full disk costs one line (exit 2) instead of minutes of work.

* :func:`check_fps` (``--fps``), :func:`check_size` (``--size``);
* :func:`check_writable` (``--out``, ``--runs-dir``, ``--json``, …): the nearest existing folder of the
  path must be a folder that this process may write to. ``os.access`` answers for the real user and
  for read-only mounts (``EROFS`` even for root); root passes permission bits, as the kernel lets it;
* :func:`check_disk_space`: the free space of the output's file system against a *low* estimate of
  the PNG masks a run writes (:func:`png_bytes_low`), so that a run is refused only when it cannot fit;
  a disk that fills up during a run still stops it with an OutputError line (io/writers.py);
* :func:`choose_size`: the processing size when ``--size`` is not given (no upscaling of small video).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from vostool.errors import OptionError, OutputError


def check_fps(fps: float | None, flag: str = "--fps") -> None:
    """A frame rate is a finite positive number (the overlay encoder would fail on its first frames)."""
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise OptionError(f"{flag} {fps}: give a positive frame rate, e.g. 24 or 29.97")


def check_size(size: int | None, flag: str = "--size") -> None:
    """``--size``: 0 (native) or a positive short side; None is the method's default."""
    if size is not None and size < 0:
        raise OptionError(f"{flag} {size}: must be 0 (native) or a positive short-side length")


def _existing_ancestor(path: Path) -> Path:
    """The path itself or its nearest existing ancestor; one that cannot even be looked at (EACCES
    on a folder above) is returned as is, and os.access then refuses it."""
    path = Path(path).absolute()
    while path != path.parent:
        try:
            if path.exists():
                break
        except OSError:
            break
        path = path.parent
    return path


def check_writable(path: str | Path, flag: str) -> None:
    """The folder ``path`` exists and can be written, or can be created there (no side effects)."""
    ancestor = _existing_ancestor(Path(path))
    if os.path.exists(ancestor) and not os.path.isdir(ancestor):  # os.path: False, not an error, on EACCES
        raise OutputError(f"{flag} {path}: cannot write there, {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        why = "a read-only file system" if _read_only_mount(ancestor) else "permission denied"
        raise OutputError(f"{flag} {path}: cannot write to {ancestor} ({why})")


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_file_writable(path: str | Path, flag: str) -> None:
    """A file to be written at the end of a run (e.g. benchmark-fps --json): not a folder, its folder writable."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a folder; give a file name")
    check_writable(path.parent, flag)


# The smallest label PNG vostool writes is a blank frame (palette, headers and the zlib stream of zero
# rows): measured 1258 B at 854x480, 2870 B at 1920x1080, 8899 B at 3840x2160; DAVIS masks of real
# objects are larger (1.6-2.6 KB at 854x480 in the conformance set). The estimate stays below the blank
# frame at every size, so a run is refused only when it cannot fit.
PNG_HEADER_BYTES = 800
PIXELS_PER_BYTE_LOW = 1100


def png_bytes_low(height: int, width: int) -> int:
    """A low estimate of one label PNG's size: a run is refused only when even that does not fit."""
    return PNG_HEADER_BYTES + (height * width) // PIXELS_PER_BYTE_LOW


def check_disk_space(folder: str | Path, frames: int | None, height: int, width: int, flag: str = "--out") -> None:
    """Refuse a run whose ``frames`` label PNGs of ``height`` x ``width`` cannot fit in ``folder``'s file system."""
    if frames:  # else the length of the video is not known before decoding
        check_free_space(folder, frames * png_bytes_low(height, width), f"{frames} masks of {width}x{height}", flag)


def check_free_space(folder: str | Path, needed: int, what: str, flag: str = "--out") -> None:
    """Refuse when ``folder``'s file system has less than ``needed`` bytes free for ``what``."""
    try:
        free = shutil.disk_usage(_existing_ancestor(Path(folder))).free
    except OSError:
        return
    if free < needed:
        raise OutputError(f"{flag} {folder}: {_mb(free)} free, but {what} need at least {_mb(needed)}; "
                          "free some space or choose another disk")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.1f} KB"


def check_benchmark_input(size: int, video: str | Path | None) -> None:
    """benchmark-fps: the size and the input video, before any model is built."""
    check_size(size)
    if video is not None:
        from vostool.io.video import probe

        probe(video)  # a missing or undecodable video: VideoError, one line


def choose_size(size: int | None, default: int, height: int, width: int) -> tuple[int, str | None]:
    """The processing short side and, when it is not what was asked for, why.

    An explicit ``size`` is used as given (``--size N`` upscales a small video when asked). Without one,
    the method's ``default`` applies to video at least that large; smaller video is processed at its
    native size: upscaling costs (default / short side)^2 times the work and adds no detail. No method
    needs a minimum: each pads frames to its network's stride (RGMP 32, STM/MUNet/FlowVOS 16; FRTM and
    TVOS work on any feature size), and all six run on an 8x12 frame.
    """
    if size is not None:
        return size, None
    if min(height, width) < default:
        return 0, (f"the video ({width}x{height}) is smaller than the default processing size {default}: processed "
                   f"at its native size, not upscaled (--size {default} to upscale)")
    return default, None
