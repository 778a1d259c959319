"""Run-length-encoded masks in one JSON file, in the COCO RLE convention (pycocotools).

Layout::

    {"format": "coco-rle", "width": W, "height": H,
     "frames": [{"index": 0, "name": "00000",
                 "objects": {"1": {"size": [H, W], "counts": "<compressed RLE>"}, ...}}, ...],
     "object_ids": [1, 2]}

Each ``objects[id]`` is a COCO RLE (column-major runs, LEB128-like string as in COCO's
annotations) that ``pycocotools.mask.decode`` turns back into the (H, W) 0/1 mask. Every object known
on a frame is listed, empty or not. The file is streamed: frames are appended to a temporary file as
they arrive (memory does not grow with the video) and the finished file is renamed into place.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vostool.errors import OutputError
from vostool.io.frame_outputs import QUEUE_DEPTH, FrameOutput
from vostool.io.writers import _BackgroundWorker


def encode_masks(labels: np.ndarray, object_ids: Sequence[int]) -> dict[str, dict[str, Any]]:
    """COCO RLEs of ``labels == id`` for each id. labels: (H, W) uint8 -> {"id": {"size", "counts"}}."""
    from pycocotools import mask as mask_utils

    if not object_ids:
        return {}
    stack = np.asfortranarray(np.stack([labels == oid for oid in object_ids], axis=2).astype(np.uint8))
    encoded = mask_utils.encode(stack)
    return {str(oid): {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
            for oid, rle in zip(object_ids, encoded)}


class RleJsonWriter(FrameOutput):
    """Streams COCO-RLE masks of every frame into one JSON file (see module docstring)."""

    kind = "rle"

    def __init__(self, path: Path, width: int, height: int) -> None:
        import pycocotools.mask  # noqa: F401  (fail before the first frame when it is missing)

        self.path = Path(path)
        self.width, self.height = width, height
        self.frames = 0
        self._ids: list[int] = []
        self._tmp = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex[:8]}.partial"
        try:
            self._handle = open(self._tmp, "w", encoding="ascii")
            self._handle.write(f'{{"format": "coco-rle", "width": {width}, "height": {height}, "frames": [')
        except OSError as exc:
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._worker = _BackgroundWorker("vostool-rle", depth=QUEUE_DEPTH)

    def write(self, index: int, name: str, labels: np.ndarray, probs: np.ndarray | None,
              object_ids: Sequence[int], pts: int | None = None) -> None:
        ids = [int(i) for i in object_ids]
        first = self.frames == 0
        self._worker.submit(lambda: self._append(first, index, name, labels, ids))
        self.frames += 1

    def _append(self, first: bool, index: int, name: str, labels: np.ndarray, ids: list[int]) -> None:
        entry = {"index": index, "name": name, "objects": encode_masks(labels, ids)}
        try:
            self._handle.write(("\n" if first else ",\n") + json.dumps(entry, separators=(",", ":")))
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._ids.extend(i for i in ids if i not in self._ids)

    def _finish(self) -> None:
        try:
            self._handle.write(f'\n], "object_ids": {json.dumps(self._ids)}}}\n')
            self._handle.close()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        self._finish_after_frames(self._finish)

    def abort(self) -> None:
        super().abort()
        self._handle.close()
        self._tmp.unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "format": "coco-rle-json", "frames": self.frames}
