"""A fast path for reading label PNGs: 8-bit indexed or grayscale, not interlaced, unfiltered rows.

That is how PIL (and so the official DAVIS annotations, vostool and most methods) writes indexed
masks. Such a file is its zlib stream of rows, each a 0 byte (filter "none") and the pixel values,
so one inflate and a strided view give the labels: the values PIL would return, without PIL's
intermediate copies. The inflate is zlib-ng's when it is installed (a dependency; inflating is a
deterministic function of the stream, so the values are the same), about 8x faster than zlib's on
label PNGs: 0.04 against 0.34 ms for a 854x480 mask, against 0.5 ms for ``np.asarray(Image.open(path))``.
Anything else returns None and is read with PIL.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

try:
    from zlib_ng import zlib_ng as ZLIB  # the same API as zlib's; also compresses the report's plots
except ImportError:  # no wheel for this platform: the standard library's zlib, same values
    ZLIB = zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_warm = False


def _keep_freed_buffers() -> None:
    """Let the C allocator reuse the memory of one decoded frame for the next.

    A decoded 854x480 frame is a 410 kB buffer, over glibc's initial 128 kB mmap threshold: every
    frame would map fresh pages and fault each one in (about 0.1 ms, twice the inflate itself).
    Freeing one larger mapped block once raises the threshold (glibc's documented dynamic
    threshold), after which frames come from, and return to, the heap. Harmless elsewhere.
    """
    global _warm
    if not _warm:
        _warm = True
        block = bytes(1 << 22)  # calloc'd: mapped, never touched, then freed
        del block


def read_simple_png(path: str) -> np.ndarray | None:
    """(H, W) uint8 pixel values of ``path``, or None when the file is not the simple case."""
    _keep_freed_buffers()
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if not data.startswith(_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if depth != 8 or colour not in (0, 3) or compression or filtering or interlace or not width or not height:
        return None
    parts = []
    position = 8
    try:
        while position + 8 <= len(data):
            length = struct.unpack(">I", data[position:position + 4])[0]
            kind = data[position + 4:position + 8]
            if kind == b"IDAT":
                parts.append(data[position + 8:position + 8 + length])
            elif kind == b"IEND":
                break
            position += 12 + length
        raw = ZLIB.decompress(b"".join(parts))
    except (struct.error, zlib.error, ZLIB.error):
        return None
    if len(raw) != height * (width + 1):
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():
        return None  # some row uses a PNG filter: let PIL undo it
    return rows[:, 1:]
