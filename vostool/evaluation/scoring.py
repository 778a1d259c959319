"""Score one sequence: per-frame J and F of every object, by the official rules, fast.

Each PNG is decoded once for all objects, as uint8 labels. Per frame, the crop holding every nonzero
pixel of both maps is found once; each object's mask there is one OpenCV comparison, with its box.
Each object is then scored on the window around the union of its two boxes (see
:mod:`vostool.metrics`), and objects absent from both maps score 1 without work. This module runs in
worker processes: it imports neither torch nor the CLI.
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
from vostool.metrics import boundary_f_window, boundary_radius

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


class _Objects:
    """The objects of one label map: the crop every object lies in, each id's mask there, its box."""

    def __init__(self, labels: np.ndarray, crop: tuple[slice, slice], ids: range):
        region = labels[crop]
        self.masks: list[np.ndarray | None] = []
        self.boxes: list[tuple[int, int, int, int] | None] = []  # (r0, r1, c0, c1) in the crop
        for k in ids:
            mask = cv2.compare(region, k, cv2.CMP_EQ)  # 0/255, one SIMD pass
            x, y, w, h = cv2.boundingRect(mask)
            self.masks.append(mask if w else None)
            self.boxes.append((y, y + h, x, x + w) if w else None)


def _crop(gt: np.ndarray, res: np.ndarray) -> tuple[slice, slice] | None:
    """The box of every nonzero pixel of either map plus the one-pixel margin the boundary rule needs
    (``vostool.metrics``), clipped to the image; None when both maps are empty."""
    x, y, w, h = cv2.boundingRect(cv2.bitwise_or(gt, res))
    if not w:
        return None
    height, width = gt.shape
    return slice(max(y - 1, 0), min(y + h + 1, height)), slice(max(x - 1, 0), min(x + w + 1, width))


def _pair(g: np.ndarray | None, box_g, r: np.ndarray | None, box_r, radius: int) -> tuple[float, float]:
    """J and F of a result mask against a ground-truth mask (crop masks, None = absent, with their boxes).

    Both are scored on the window around the union of their boxes plus one pixel: every boundary lies
    in it, and its last row/column is the image's or lies outside both masks (``vostool.metrics``).
    """
    if box_g is None and box_r is None:
        return 1.0, 1.0
    boxes = [b for b in (box_g, box_r) if b is not None]
    height, width = (g if g is not None else r).shape
    window = (slice(max(min(b[0] for b in boxes) - 1, 0), min(max(b[1] for b in boxes) + 1, height)),
              slice(max(min(b[2] for b in boxes) - 1, 0), min(max(b[3] for b in boxes) + 1, width)))
    gw = g[window] if g is not None else None
    rw = r[window] if r is not None else None
    if gw is None or rw is None:
        # one mask is empty: J = 0 exactly (0 / its area), F by the empty-boundary rules
        present = gw if gw is not None else rw
        empty = np.zeros_like(present)
        return 0.0, boundary_f_window(rw if rw is not None else empty, gw if gw is not None else empty, radius)
    inter = cv2.countNonZero(cv2.bitwise_and(gw, rw))
    area_g, area_r = cv2.countNonZero(gw), cv2.countNonZero(rw)
    if inter == area_g == area_r:
        return 1.0, 1.0  # identical non-empty masks: J = F = 1 exactly
    return inter / (area_g + area_r - inter), boundary_f_window(rw, gw, radius)


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
        J[:, t], F[:, t] = _score_semi_frame(gt, res, num_objects, radius)
    return J, F


def _score_semi_frame(gt: np.ndarray, res: np.ndarray, num_objects: int, radius: int) -> tuple[list[float], list[float]]:
    """J and F of objects 1..``num_objects`` on one frame: (H, W) uint8 label maps, void already handled."""
    crop = _crop(gt, res)
    if crop is None:
        return [1.0] * num_objects, [1.0] * num_objects  # no object in either map
    ids = range(1, num_objects + 1)
    g, r = _Objects(gt, crop, ids), _Objects(res, crop, ids)
    pairs = [_pair(g.masks[k], g.boxes[k], r.masks[k], r.boxes[k], radius) for k in range(num_objects)]
    return [j for j, _ in pairs], [f for _, f in pairs]


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
        crop = _crop(gt, res)
        if crop is None:
            absent_j[:, t] = absent_f[:, t] = 1.0
            continue
        g, r = _Objects(gt, crop, range(1, num_objects + 1)), _Objects(res, crop, range(1, frame_top + 1))
        for k in range(num_objects):
            absent_j[k, t], absent_f[k, t] = _pair(g.masks[k], g.boxes[k], None, None, radius)
            for q in range(frame_top):
                if r.boxes[q] is not None:
                    present[(q, k, t)] = _pair(g.masks[k], g.boxes[k], r.masks[q], r.boxes[q], radius)
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
        J[:, t], F[:, t] = _score_semi_frame(g, r, num_objects, radius)
    return J, F
