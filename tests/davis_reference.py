"""A slow, literal reading of the official DAVIS rules (../shared/specs/davis_eval.md), for tests only.

Written independently of vostool.metrics: full frames, float64 stacks, scipy's binary dilation instead
of OpenCV, no windows, no shortcuts. The fast implementation must agree with it bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment


def boundary(mask: np.ndarray) -> np.ndarray:
    """Differs from east, south or south-east neighbour (zero outside); last row: east only; last
    column: south only; bottom-right corner: never."""
    seg = mask.astype(bool)
    h, w = seg.shape
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, : w - 1] = seg[:, 1:]
    s[: h - 1, :] = seg[1:, :]
    se[: h - 1, : w - 1] = seg[1:, 1:]
    b = np.logical_or.reduce([seg != e, seg != s, seg != se])
    for x in range(w):
        b[h - 1, x] = seg[h - 1, x] != e[h - 1, x]
    for y in range(h):
        b[y, w - 1] = seg[y, w - 1] != s[y, w - 1]
    b[h - 1, w - 1] = False
    return b


def j_value(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None) -> float:
    keep = np.ones(gt.shape, bool) if void is None else ~void.astype(bool)
    inter = np.sum(pred.astype(bool) & gt.astype(bool) & keep)
    union = np.sum((pred.astype(bool) | gt.astype(bool)) & keep)
    return 1.0 if union == 0 else float(np.float64(inter) / np.float64(union))


def f_value(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None) -> float:
    keep = np.ones(gt.shape, bool) if void is None else ~void.astype(bool)
    h, w = gt.shape
    r = math.ceil(0.008 * float(np.linalg.norm([h, w])))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    se = yy**2 + xx**2 <= r * r
    bp = boundary(pred.astype(bool) & keep)
    bg = boundary(gt.astype(bool) & keep)
    n_fg, n_gt = int(bp.sum()), int(bg.sum())
    if n_fg == 0 and n_gt > 0:
        p, rc = 1, 0
    elif n_fg > 0 and n_gt == 0:
        p, rc = 0, 1
    elif n_fg == 0 and n_gt == 0:
        p, rc = 1, 1
    else:
        p = np.sum(bp & ndimage.binary_dilation(bg, se)) / float(n_fg)
        rc = np.sum(bg & ndimage.binary_dilation(bp, se)) / float(n_gt)
    return 0.0 if p + rc == 0 else float(2 * p * rc / (p + rc))


def stats(x: np.ndarray) -> tuple[float, float, float]:
    """Mean, recall, decay with correct (non-wrapping) bin indices."""
    n = len(x)
    ids = [int(v) for v in np.round(np.linspace(1, n, 5) + 1e-10) - 1]
    bins = [x[ids[i] : ids[i + 1] + 1] for i in range(4)]
    return float(np.nanmean(x)), float(np.nanmean(x > 0.5)), float(np.nanmean(bins[0]) - np.nanmean(bins[3]))


def semi_supervised(gt: np.ndarray, res: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W) label stacks -> per-object (N, T-2) J and F. Void (255) is background; N from frame 0."""
    gt = np.where(gt == 255, 0, gt)
    n = int(gt[0].max())
    J = np.zeros((n, gt.shape[0] - 2))
    F = np.zeros_like(J)
    for k in range(1, n + 1):
        for t in range(1, gt.shape[0] - 1):
            J[k - 1, t - 1] = j_value(res[t] == k, gt[t] == k, None)
            F[k - 1, t - 1] = f_value(res[t] == k, gt[t] == k, None)
    return J, F


def unsupervised(gt: np.ndarray, res: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Every frame, void excluded, Hungarian matching on mean (J+F)/2; rows in result-id order."""
    void = gt == 255
    gt = np.where(void, 0, gt)
    n = int(gt[0].max())
    m = max(int(res.max()), n)
    T = gt.shape[0]
    J = np.zeros((m, n, T))
    F = np.zeros((m, n, T))
    for g in range(n):
        for r in range(m):
            for t in range(T):
                J[r, g, t] = j_value(res[t] == r + 1, gt[t] == g + 1, void[t])
                F[r, g, t] = f_value(res[t] == r + 1, gt[t] == g + 1, void[t])
    rows, cols = linear_sum_assignment(-(J.mean(axis=2) + F.mean(axis=2)) / 2)
    return J[rows, cols], F[rows, cols], [(int(r) + 1, int(c) + 1) for r, c in zip(rows, cols)]
