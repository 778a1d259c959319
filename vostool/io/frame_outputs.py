"""Optional per-frame outputs: per-object binary masks and soft probability maps, one file per frame.

Every writer here follows one protocol (:class:`FrameOutput`): the engine calls
``write(index, name, labels, probs, object_ids, pts)`` once per frame, in order, then ``close()``
(or ``abort()`` when the run fails), and lists ``describe()`` in vostool-run.json. The work runs on a
background thread behind a bounded queue (memory does not grow with the video), and every file is
renamed into place when complete, so a file that exists is whole.

Folder layouts (``<name>`` is the frame's output name, as for ``--out``):

* per-object masks: ``DIR/<id>/<name>.png``, 8-bit grayscale, 255 = the object, 0 = not;
* soft maps, png: ``DIR/<id>/<name>.png``, 8-bit grayscale, round(255 p);
* soft maps, npz: ``DIR/<name>.npz`` with ``probs`` (K, H, W) float16 and ``object_ids`` (K,) uint8.

In the per-object folders every object has a file for every frame: an object that appears on frame
k gets empty images for the frames before k, so each folder imports into an editor as one image
sequence aligned with the video.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from vostool.io.masks import atomic_save
from vostool.io.writers import _BackgroundWorker

# Queued frames per writer: enough to ride out a slow write, few enough that soft maps of 4K
# frames (K x H x W float32 each) stay within a few hundred MB.
QUEUE_DEPTH = 4


class FrameOutput(abc.ABC):
    """Base of the optional outputs fed by the engine one frame at a time.

    ``needs_probs`` tells the engine whether to copy the probabilities to the host for this output.
    """

    kind = "output"
    needs_probs = False
    _worker: _BackgroundWorker

    @abc.abstractmethod
    def write(self, index: int, name: str, labels: np.ndarray, probs: np.ndarray | None,
              object_ids: Sequence[int], pts: int | None = None) -> None:
        """Queue one frame.

        labels: (H, W) uint8 object ids at the output resolution; probs: (K, H, W) float32 object
        probabilities at the output resolution, channel k for ``object_ids[k]`` (None when
        ``needs_probs`` is false); pts: the frame's timestamp in the source time base, if any.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Wait for every queued frame and finish the files; raises the first write error."""

    def abort(self) -> None:
        """Stop after a failed run; complete files stay, partial ones are removed."""
        try:
            self._worker.close()
        except BaseException:
            pass  # the run's own error is the one to report

    def _finish_after_frames(self, finish) -> None:
        """Run ``finish`` on the worker after the queued frames; on any error abort and re-raise."""
        try:
            self._worker.submit(finish)
            self._worker.close()
        except BaseException:
            self.abort()
            raise

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """The entry for vostool-run.json."""


def save_gray_png(path: Path, plane: np.ndarray) -> None:
    """Write an (H, W) uint8 array as an 8-bit grayscale PNG, atomically."""
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.uint8), mode="L")
    atomic_save(path, lambda tmp: image.save(tmp, format="PNG"))


def quantize_probs(probs: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] -> uint8 round(255 p); reading back v / 255 is within 0.5 / 255."""
    return np.rint(np.clip(probs, 0.0, 1.0) * 255.0).astype(np.uint8)


class _PerObjectPngs(FrameOutput):
    """``DIR/<id>/<name>.png`` for every object and frame, with empty images before an object appears."""

    def __init__(self, root: Path, overwrite: bool = False) -> None:
        self.root = Path(root)
        self.overwrite = overwrite
        self.frames = 0
        self._names: list[str] = []  # frame names so far, for back-filling objects that appear later
        self._ids: list[int] = []
        self._worker = _BackgroundWorker(f"vostool-{self.kind}", depth=QUEUE_DEPTH)

    @abc.abstractmethod
    def _planes(self, labels: np.ndarray, probs: np.ndarray | None, object_ids: Sequence[int]) -> list[np.ndarray]:
        """One (H, W) uint8 image per object, in ``object_ids`` order."""

    def write(self, index: int, name: str, labels: np.ndarray, probs: np.ndarray | None,
              object_ids: Sequence[int], pts: int | None = None) -> None:
        ids = [int(i) for i in object_ids]
        self._worker.submit(lambda: self._write(name, labels, probs, ids))
        self.frames += 1

    def _write(self, name: str, labels: np.ndarray, probs: np.ndarray | None, ids: list[int]) -> None:
        empty = None
        for oid in ids:
            if oid in self._ids:
                continue
            folder = self.root / str(oid)
            folder.mkdir(parents=True, exist_ok=True)
            empty = np.zeros(labels.shape, dtype=np.uint8) if empty is None else empty
            for earlier in self._names:
                save_gray_png(folder / f"{earlier}.png", empty)
            self._ids.append(oid)
        for oid, plane in zip(ids, self._planes(labels, probs, ids)):
            save_gray_png(self.root / str(oid) / f"{name}.png", plane)
        self._names.append(name)

    def close(self) -> None:
        self._worker.close()
        if self.overwrite:
            self._remove_stale()

    def _remove_stale(self) -> None:
        """After --overwrite, images of an earlier (longer, or other objects') run would mix with ours."""
        names = {f"{n}.png" for n in self._names}
        ids = {str(i) for i in self._ids}
        for folder in self.root.iterdir():
            if not (folder.is_dir() and folder.name.isdigit()):
                continue
            for path in folder.glob("*.png"):
                if folder.name not in ids or path.name not in names:
                    path.unlink(missing_ok=True)
            if folder.name not in ids and not any(folder.iterdir()):
                folder.rmdir()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.root), "layout": "<id>/<frame>.png", "format": "png-gray8",
                "object_ids": list(self._ids), "frames": self.frames}


class PerObjectMaskWriter(_PerObjectPngs):
    """Binary masks per object: ``DIR/<id>/<name>.png``, 0/255 (exactly ``labels == id``)."""

    kind = "per_object_masks"

    def _planes(self, labels: np.ndarray, probs: np.ndarray | None, object_ids: Sequence[int]) -> list[np.ndarray]:
        return [np.where(labels == oid, np.uint8(255), np.uint8(0)) for oid in object_ids]


class SoftPngWriter(_PerObjectPngs):
    """Soft maps per object: ``DIR/<id>/<name>.png``, 8-bit round(255 p) of the object's probability."""

    kind = "soft_png"
    needs_probs = True

    def _planes(self, labels: np.ndarray, probs: np.ndarray | None, object_ids: Sequence[int]) -> list[np.ndarray]:
        if probs is None or probs.shape[0] != len(object_ids):
            raise ValueError(f"soft maps need (K, H, W) probabilities for the {len(object_ids)} objects")
        return list(quantize_probs(probs))


class SoftNpzWriter(FrameOutput):
    """Soft maps as ``DIR/<name>.npz``: ``probs`` (K, H, W) float16 and ``object_ids`` (K,) uint8.

    One file per frame (not one growing array) so it streams: each file is complete when it appears,
    a run that stops leaves every finished frame readable, K can grow when objects appear, and a
    reader loads one frame without the rest. Uncompressed: on maps with a network's small non-zero
    tails zlib saves 28% at 60x the write time (0.5 s a frame at 480p; docs/benchmarks.md#output-formats).
    """

    kind = "soft_npz"
    needs_probs = True

    def __init__(self, root: Path, overwrite: bool = False) -> None:
        self.root = Path(root)
        self.overwrite = overwrite
        self.frames = 0
        self._names: set[str] = set()
        self.root.mkdir(parents=True, exist_ok=True)
        self._worker = _BackgroundWorker("vostool-soft-npz", depth=QUEUE_DEPTH)

    def write(self, index: int, name: str, labels: np.ndarray, probs: np.ndarray | None,
              object_ids: Sequence[int], pts: int | None = None) -> None:
        if probs is None or probs.shape[0] != len(object_ids):
            raise ValueError(f"soft maps need (K, H, W) probabilities for the {len(object_ids)} objects")
        ids = np.asarray(list(object_ids), dtype=np.uint8)
        path = self.root / f"{name}.npz"
        self._worker.submit(lambda: self._save(path, probs, ids))
        self._names.add(path.name)
        self.frames += 1

    @staticmethod
    def _save(path: Path, probs: np.ndarray, ids: np.ndarray) -> None:
        half = np.clip(probs, 0.0, 1.0).astype(np.float16)

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as handle:  # a file object: np.savez would append .npz to a path
                np.savez(handle, probs=half, object_ids=ids)

        atomic_save(path, save)

    def close(self) -> None:
        self._worker.close()
        if self.overwrite:
            for path in self.root.glob("*.npz"):
                if path.name not in self._names:
                    path.unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.root), "layout": "<frame>.npz", "format": "npz-float16",
                "arrays": {"probs": "(K, H, W) float16", "object_ids": "(K,) uint8"}, "frames": self.frames}
