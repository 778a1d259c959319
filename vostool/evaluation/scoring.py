"""Score one sequence: per-frame J and F of every object, by the official rules, fast.

Each PNG is decoded once for all objects, as uint8 labels. Per frame, one pass finds every object's
bounding box in the ground truth and in the result; each object is then scored on the window around
the union of its two boxes (see :mod:`vostool.metrics`), and objects absent from both score 1 without
work. This module runs in worker processes: it imports neither torch nor the CLI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vostool.errors import DatasetError, ResultsError
from vostool.evaluation.pngread import read_simple_png
from vostool.evaluation.protocol import MAX_PROPOSALS, VOID, SequenceJob
from vostool.metrics import boundary_f_window, boundary_radius, jaccard_counts

_LABEL_MODES = ("P", "L", "1", "I", "I;16", "I;16B", "I;16L")


@dataclass
class SequenceScore:
    """Per-frame J and F of one sequence's objects (rows are the reported objects, in order)."""

    name: str
    frame_ids: list[str]  # the scored frames
    J: np.ndarray  # (N, n) float64
    F: np.ndarray  # (N, n) float64
    height: int
    width: int
    radius: int
    # unsupervised: (result id, ground-truth id) of each row; semi-supervised: (k, k)
    matches: list[tuple[int, int]] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the scoring
    cpu_seconds: float = 0.0  # CPU time of the scoring process

    @property
    def num_objects(self) -> int:
        return int(self.J.shape[0])


def read_labels(path: str, error: type[DatasetError] | type[ResultsError], what: str) -> np.ndarray:
    """(H, W) uint8 labels of an indexed/grayscale PNG, read as the official code reads it (PIL values)."""
    fast = read_simple_png(path)
    if fast is not None:
        return fast
    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode not in _LABEL_MODES:
                raise error(f"{path}: {what} is a {mode} image; it must be an indexed (P) or grayscale (L) PNG of object ids")
            values = np.asarray(image)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from None
    if values.dtype != np.uint8:
        if values.size and (values.min() < 0 or values.max() > 255):
            raise error(f"{path}: {what} has values {values.min()}..{values.max()}; object ids must be 0..255")
        values = values.astype(np.uint8)
    return values


def _boxes(labels: np.ndarray, count: int) -> list[tuple[int, int, int, int] | None]:
    """Bounding box (r0, r1, c0, c1) of each id 1..count, None when absent.

    The ids are searched only inside the box of all nonzero pixels, with one comparison and one
    vectorised bounding-box pass per id (several times faster than scipy's find_objects).
    """
    x0, y0, w0, h0 = cv2.boundingRect(labels)
    crop = labels[y0:y0 + h0, x0:x0 + w0]
    boxes = []
    for k in range(1, count + 1):
        x, y, w, h = cv2.boundingRect((crop == k).view(np.uint8)) if w0 else (0, 0, 0, 0)
        boxes.append((y0 + y, y0 + y + h, x0 + x, x0 + x + w) if w else None)
    return boxes


def _pair(gt: np.ndarray, res: np.ndarray, gt_id: int, res_id: int, box_g, box_r, radius: int) -> tuple[float, float]:
    """J and F of result id ``res_id`` against ground-truth id ``gt_id`` (label maps; box None = absent)."""
    if box_g is None and box_r is None:
        return 1.0, 1.0
    boxes = [b for b in (box_g, box_r) if b is not None]
    height, width = gt.shape
    # the union of the boxes plus the one-pixel margin the boundary rule needs (vostool.metrics)
    window = (slice(max(min(b[0] for b in boxes) - 1, 0), min(max(b[1] for b in boxes) + 1, height)),
              slice(max(min(b[2] for b in boxes) - 1, 0), min(max(b[3] for b in boxes) + 1, width)))
    g = gt[window] == gt_id
    r = res[window] == res_id if box_r is not None else np.zeros_like(g)
    if box_g is not None and box_r is not None and np.array_equal(g, r):
        return 1.0, 1.0  # identical non-empty masks: J = F = 1 exactly
    return jaccard_counts(r, g), boundary_f_window(r, g, radius)


def _read_frame(job: SequenceJob, index: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    gt = read_labels(job.gt_files[index], DatasetError, "annotation")
    if gt.shape != shape:
        raise DatasetError(f"{job.gt_files[index]}: annotation is {gt.shape[1]}x{gt.shape[0]}, the sequence's first "
                           f"annotation is {shape[1]}x{shape[0]}")
    path = job.result_path(index)
    res = read_labels(str(path), ResultsError, "result")
    if res.shape != shape:
        raise ResultsError(f"{path}: result is {res.shape[1]}x{res.shape[0]}, the ground truth is {shape[1]}x{shape[0]}")
    return gt, res


def score_sequence(job: SequenceJob) -> SequenceScore:
    """Per-frame J and F of every object of ``job`` (official semi-supervised or unsupervised rules)."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    first = read_labels(job.gt_files[0], DatasetError, "annotation")
    shape = first.shape
    if job.merge_objects:
        num_objects = 1
    else:
        num_objects = int(np.where(first == VOID, 0, first).max()) if first.size else 0
    radius = boundary_radius(*shape)
    if job.task == "semi-supervised":
        J, F = _score_semi(job, shape, num_objects, radius)
        matches = [(k, k) for k in range(1, num_objects + 1)]
    else:
        J, F, matches = _score_unsupervised(job, shape, num_objects, radius)
    frames = [job.frame_ids[i] for i in job.scored]
    return SequenceScore(job.name, frames, J, F, shape[0], shape[1], radius, matches, time.perf_counter() - started,
                         time.process_time() - cpu_started)


def _score_semi(job: SequenceJob, shape, num_objects: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    scored = job.scored
    J = np.zeros((num_objects, len(scored)))
    F = np.zeros((num_objects, len(scored)))
    for t, index in enumerate(scored):
        gt, res = _read_frame(job, index, shape)
        if job.merge_objects:
            gt = (gt != 0).view(np.uint8)
            res = (res != 0).view(np.uint8)
        else:
            top = int(res.max())
            if top > num_objects:
                raise ResultsError(
                    f"{job.result_path(index)}: object id {top} but sequence {job.name} has {num_objects} object(s) "
                    f"(ids 1..{num_objects} of its first annotation)"
                )
            # Void (255) needs no handling: the semi-supervised task treats it as background, and no
            # object id 1..N < 255 matches it.
        for k, (box_g, box_r) in enumerate(zip(_boxes(gt, num_objects), _boxes(res, num_objects))):
            J[k, t], F[k, t] = _pair(gt, res, k + 1, k + 1, box_g, box_r, radius)
    return J, F


def _score_unsupervised(job: SequenceJob, shape, num_objects: int, radius: int):
    """All (result id, ground-truth id) pairs over every frame, then the official Hungarian matching."""
    from scipy.optimize import linear_sum_assignment

    scored = job.scored
    n = len(scored)
    # A result id absent from a frame scores like an empty mask: J = F = 1 where the object is absent too.
    absent_j = np.zeros((num_objects, n))
    absent_f = np.zeros((num_objects, n))
    present: dict[tuple[int, int, int], tuple[float, float]] = {}  # (result id, gt id, t) -> (J, F)
    top_id = 0
    for t, index in enumerate(scored):
        gt, res = _read_frame(job, index, shape)
        void = gt == VOID
        if void.any():
            gt = np.where(void, 0, gt).astype(np.uint8)
            res = np.where(void, 0, res).astype(np.uint8)  # void pixels never count, in J nor in F
        frame_top = int(res.max())
        if frame_top > MAX_PROPOSALS:
            raise ResultsError(f"{job.result_path(index)}: result id {frame_top}; the unsupervised task allows at most "
                               f"{MAX_PROPOSALS} objects per sequence")
        top_id = max(top_id, frame_top)
        boxes_r = _boxes(res, frame_top)
        for g, box_g in enumerate(_boxes(gt, num_objects)):
            absent_j[g, t], absent_f[g, t] = _pair(gt, res, g + 1, 0, box_g, None, radius)
            for r, box_r in enumerate(boxes_r):
                if box_r is not None:
                    present[(r, g, t)] = _pair(gt, res, g + 1, r + 1, box_g, box_r, radius)
    rows = max(top_id, num_objects)
    J = np.repeat(absent_j[None], rows, axis=0)
    F = np.repeat(absent_f[None], rows, axis=0)
    for (r, g, t), (j, f) in present.items():
        J[r, g, t], F[r, g, t] = j, f
    # same array shapes and reductions as the official code, so ties resolve identically
    all_metrics = (np.mean(J, axis=2) + np.mean(F, axis=2)) / 2
    row_ind, col_ind = linear_sum_assignment(-all_metrics)
    matches = [(int(r) + 1, int(g) + 1) for r, g in zip(row_ind, col_ind)]
    return np.ascontiguousarray(J[row_ind, col_ind, :]), np.ascontiguousarray(F[row_ind, col_ind, :]), matches


def score_label_arrays(pred: np.ndarray, gt: np.ndarray, num_objects: int, scored: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F of objects 1..``num_objects`` of in-memory label arrays, by the semi-supervised
    rule of :func:`score_sequence` (the J&F ``vostool train`` validates with).

    pred, gt: (T, H, W) uint8 labels (void already mapped to background); ``scored``: the frame positions
    scored. Returns J and F of shape (num_objects, len(scored)) float64.
    """
    radius = boundary_radius(*gt.shape[1:])
    J = np.zeros((num_objects, len(scored)))
    F = np.zeros((num_objects, len(scored)))
    for t, index in enumerate(scored):
        g, r = np.ascontiguousarray(gt[index], np.uint8), np.ascontiguousarray(pred[index], np.uint8)
        for k, (box_g, box_r) in enumerate(zip(_boxes(g, num_objects), _boxes(r, num_objects))):
            J[k, t], F[k, t] = _pair(g, r, k + 1, k + 1, box_g, box_r, radius)
    return J, F
