"""J (region similarity) and F (boundary accuracy) exactly as the official DAVIS 2017 evaluation code.

The rules of ``davisvideochallenge/davis2017-evaluation`` (commit ac7c43f: ``davis2017/metrics.py``
for J and F, ``davis2017/utils.py`` for the per-object statistics), written anew:

* J = |P & G| / |P | G| over the pixels that are not void; 1 when both masks are empty.
* F: a boundary map marks every pixel that differs from its east, south or south-east neighbour
  (zero outside the image), except that the last row only compares with its east neighbour, the last
  column only with its south neighbour, and the bottom-right pixel is never a boundary. Boundaries are
  matched within a disk of radius ``ceil(0.008 * image diagonal)`` (all offsets with x^2 + y^2 <= r^2);
  precision = matched predicted boundary pixels / predicted boundary pixels, recall likewise, and
  F = 2PR / (P + R). No predicted boundary: F = 0 unless the ground truth has none either (then 1).
* Mean, Recall (> 0.5, strict) and Decay (first minus last of 4 overlapping bins) per object.

Everything is computed on integer pixel counts with the same float64 operations, in the same order,
as the official code, so the numbers are bit-identical. The speed comes from working in a window:
boundaries can only lie within one pixel of the union of both masks, so boundary maps, dilations and
matching are computed on that bounding box plus a one-pixel margin (exact: the margin holds the
background pixels the boundary rule marks, and the zero-fill at a window edge that is not an image
edge equals the true, empty, neighbourhood).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

BOUND_TH = 0.008  # the official boundary tolerance, as a fraction of the image diagonal
DECAY_BINS = 4


def boundary_radius(height: int, width: int, bound_th: float = BOUND_TH) -> int:
    """Boundary matching radius in pixels: ``ceil(bound_th * ||(H, W)||)``, or ``bound_th`` itself if >= 1."""
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"bound_th={bound_th}: a radius in pixels must be a whole number")
        return int(bound_th)
    # sqrt of the exact integer sum, as np.linalg.norm computes it
    return int(math.ceil(bound_th * math.sqrt(height * height + width * width)))


@lru_cache(maxsize=16)
def disk(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) uint8 structuring element: 1 where x^2 + y^2 <= r^2 (r=8: 197 ones)."""
    offsets = np.arange(-radius, radius + 1)
    inside = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius
    out = inside.astype(np.uint8)
    out.flags.writeable = False
    return out


_BLOCK = np.ones((2, 2), np.uint8)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """(h, w) uint8 boundary map of an (h, w) uint8 mask (0 or 1/255): nonzero where ``seg2bmap`` is True.

    A pixel differs from its east, south or south-east neighbour exactly when the 2x2 block it anchors
    is not uniform, i.e. where a 2x2 dilation and erosion anchored at the pixel differ. Replicating the
    last row and column makes a last-row pixel's south neighbours equal to itself and its east one (only
    the east comparison remains), likewise for the last column, and the corner uniform: the official
    edge rules. One OpenCV call instead of eight array passes.
    """
    return cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, _BLOCK, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """(H, W) bool boundary map of an (H, W) mask (nonzero = inside), by the official rules."""
    seg = np.asarray(seg).astype(bool, copy=False).view(np.uint8)
    return boundary_map(seg).view(bool)


def _window(rows: tuple[int, int], cols: tuple[int, int], height: int, width: int) -> tuple[slice, slice]:
    """The bounding box [r0, r1) x [c0, c1) plus a one-pixel margin, clipped to the image."""
    return (slice(max(rows[0] - 1, 0), min(rows[1] + 1, height)), slice(max(cols[0] - 1, 0), min(cols[1] + 1, width)))


def _bbox(mask: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1)


def jaccard_counts(pred: np.ndarray, gt: np.ndarray) -> float:
    """J of two bool masks of the same shape (no void): intersection / union, 1 if both are empty."""
    inter = np.count_nonzero(pred & gt)
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return inter / union  # exact int / int -> float64, like numpy's int64 division


def boundary_f_window(pred: np.ndarray, gt: np.ndarray, radius: int) -> float:
    """F of two masks (bool, or uint8 0/1 or 0/255) given on a window that holds both masks plus the
    one-pixel margin.

    The window's last row/column must either be the image's last row/column or lie outside both
    masks (see the module docstring); then the result equals the official full-image value.
    """
    pred_b = boundary_map(pred.view(np.uint8) if pred.dtype == bool else pred)
    gt_b = boundary_map(gt.view(np.uint8) if gt.dtype == bool else gt)
    n_fg = cv2.countNonZero(pred_b)
    n_gt = cv2.countNonZero(gt_b)
    if n_fg == 0 or n_gt == 0:
        # official: P=1,R=0 / P=0,R=1 give F = 0; both empty gives P=R=1, F = 1
        return 1.0 if n_fg == n_gt else 0.0
    fg_match = matched_boundary(pred_b, gt_b, n_fg, radius)
    gt_match = matched_boundary(gt_b, pred_b, n_gt, radius)
    return f_from_counts(n_fg, n_gt, fg_match, gt_match)


@lru_cache(maxsize=16)
def _inner_square(radius: int) -> np.ndarray:
    """The largest square inside the disk: half-size a with 2a^2 <= r^2 (a = 5 for r = 8)."""
    half = int(math.isqrt(radius * radius // 2))
    return np.ones((2 * half + 1, 2 * half + 1), np.uint8)


def matched_boundary(source: np.ndarray, target: np.ndarray, count: int, radius: int) -> int:
    """How many pixels of boundary map ``source`` lie within the disk of radius ``radius`` around some
    pixel of boundary map ``target`` (both (h, w) uint8, nonzero = boundary; ``count`` pixels in
    ``source``), i.e. ``sum(source & dilate(target, disk))``.

    Pixels within the disk's inscribed square of a target pixel are matched by a cheap separable
    dilation; only the rest are tested with the disk, on their bounding box plus the radius.
    """
    unsure = cv2.subtract(source, cv2.dilate(target, _inner_square(radius)))  # saturating: source & ~near
    x, y, w, h = cv2.boundingRect(unsure)
    if w == 0:
        return count
    r0, r1 = max(y - radius, 0), y + h + radius
    c0, c1 = max(x - radius, 0), x + w + radius
    reach = cv2.dilate(target[r0:r1, c0:c1], disk(radius))
    return count - cv2.countNonZero(cv2.subtract(unsure[r0:r1, c0:c1], reach))


def f_from_counts(n_fg: int, n_gt: int, fg_match: int, gt_match: int) -> float:
    """F from boundary pixel counts, with the official empty-boundary rules and operation order."""
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = fg_match / float(n_fg)
        recall = gt_match / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _binary_pair(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must be (H, W) masks of the same size")
    pred_b = pred.astype(bool, copy=False)
    gt_b = gt.astype(bool, copy=False)
    if void is not None:
        void = np.asarray(void)
        if void.shape != gt.shape:
            raise ValueError(f"void {void.shape} must have the size of the masks {gt.shape}")
        keep = ~void.astype(bool, copy=False)
        # The official J counts only non-void pixels and F multiplies both masks by ~void first:
        # both equal dropping void pixels from the masks.
        pred_b, gt_b = pred_b & keep, gt_b & keep
    return pred_b, gt_b


def jaccard(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J of two (H, W) masks (nonzero = object); void pixels are ignored.

    Empty prediction and empty ground truth give 1.
    """
    pred_b, gt_b = _binary_pair(pred, gt, void)
    return jaccard_counts(pred_b, gt_b)


def f_measure(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, bound_th: float = BOUND_TH) -> float:
    """Boundary F-measure of two (H, W) masks (nonzero = object), official DAVIS semantics.

    The matching radius is ``ceil(bound_th * image diagonal)`` (8 px at 480x854). Void pixels are
    removed from both masks before their boundaries are taken.
    """
    pred_b, gt_b = _binary_pair(pred, gt, void)
    height, width = gt_b.shape
    box = _bbox(pred_b | gt_b)
    if box is None:
        return 1.0
    window = _window(*box, height, width)
    return boundary_f_window(pred_b[window], gt_b[window], boundary_radius(height, width, bound_th))


# --------------------------------------------------------------------------------------------------
# Per-object statistics over frames


def decay_bins(n: int) -> list[tuple[int, int]]:
    """The 4 Decay bins of ``n`` frame values as inclusive (first, last) index pairs.

    ``round(linspace(1, n, 5) + 1e-10) - 1`` (round half up); neighbouring bins share a frame.
    """
    if n < 1:
        raise ValueError("decay needs at least one value")
    ids = (np.round(np.linspace(1, n, DECAY_BINS + 1) + 1e-10) - 1).astype(np.int64)
    return [(int(ids[i]), int(ids[i + 1])) for i in range(DECAY_BINS)]


def official_decay_slices(n: int) -> list[tuple[int, int]]:
    """The (start, stop) slices the official code actually takes: its indices are uint8.

    The float indices are cast to uint8 (wrapping modulo 256 on x86) and ``ids[i+1] + 1`` is again a
    uint8 (NumPy >= 2), so 255 + 1 wraps to 0. With ``n >= 256`` scored frames the last bin is
    therefore wrong or empty (NaN); with NumPy 1.x the first wrong case is ``n = 257``.
    """
    ids = [(first % 256, last % 256) for first, last in decay_bins(n)]
    bounds = [ids[0][0]] + [last for _, last in ids]
    return [(bounds[i], (bounds[i + 1] + 1) % 256) for i in range(DECAY_BINS)]


@dataclass(frozen=True)
class Statistics:
    """Mean, Recall and Decay of one object's per-frame values (J or F)."""

    mean: float
    recall: float
    decay: float
    official_decay: float  # what the official code reports (differs when its uint8 bin indices wrap)

    @property
    def official_differs(self) -> bool:
        a, b = self.decay, self.official_decay
        return not (a == b or (math.isnan(a) and math.isnan(b)))


def _nanmean(values: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return float(np.nanmean(values))


def statistics(values: np.ndarray) -> Statistics:
    """Statistics of an (n,) float64 vector of per-frame values, as the official ``db_statistics``."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("statistics need a non-empty (n,) vector")
    mean = _nanmean(x)
    recall = _nanmean(x > 0.5)
    bins = decay_bins(x.size)
    decay = _nanmean(x[bins[0][0]:bins[0][1] + 1]) - _nanmean(x[bins[-1][0]:bins[-1][1] + 1])
    slices = official_decay_slices(x.size)
    official = _nanmean(x[slices[0][0]:slices[0][1]]) - _nanmean(x[slices[-1][0]:slices[-1][1]])
    return Statistics(mean, recall, decay, official)
