"""vostool.metrics with hand-built masks: boundary rules at every image edge, empty masks, void, the
matching radius, Decay bins (and the official uint8 wrap), and agreement with a literal reference."""

import math

import numpy as np
import pytest

import davis_reference as ref
from vostool.metrics import (
    boundary_radius,
    decay_bins,
    disk,
    f_measure,
    jaccard,
    official_decay_slices,
    seg2bmap,
    statistics,
)


def _mask(h, w, rows, cols):
    m = np.zeros((h, w), bool)
    m[rows, cols] = True
    return m


def test_boundary_of_an_inner_square_is_offset_towards_the_origin():
    m = _mask(8, 10, slice(2, 5), slice(3, 7))  # rows 2..4, cols 3..6
    b = seg2bmap(m)
    expected = np.zeros_like(m)
    expected[1, 2:7] = True  # the background row above (and its left corner), outside the object
    expected[1:5, 2] = True  # the background column left of it
    expected[4, 3:7] = True  # the object's own bottom row
    expected[1:5, 6] = True  # the object's own right column
    assert np.array_equal(b, expected)


@pytest.mark.parametrize("edge", ["top", "left", "bottom", "right"])
def test_no_boundary_along_the_image_edge_an_object_touches(edge):
    h, w = 9, 11
    region = {"top": (slice(0, 4), slice(3, 8)), "left": (slice(3, 7), slice(0, 4)),
              "bottom": (slice(5, 9), slice(3, 8)), "right": (slice(3, 7), slice(7, 11))}[edge]
    b = seg2bmap(_mask(h, w, *region))
    line = {"top": b[0, 4:7], "left": b[4:6, 0], "bottom": b[h - 1, 4:7], "right": b[4:6, w - 1]}[edge]
    assert not line.any(), edge
    assert b.sum() > 0 and np.array_equal(b, ref.boundary(_mask(h, w, *region)))


def test_last_row_and_column_rules_and_the_corner():
    m = np.zeros((5, 6), bool)
    m[4, 2] = True  # a single pixel on the last row: only horizontal changes count there
    assert np.flatnonzero(seg2bmap(m)[4]).tolist() == [1, 2]
    m = np.zeros((5, 6), bool)
    m[2, 5] = True  # on the last column: only vertical changes
    assert np.flatnonzero(seg2bmap(m)[:, 5]).tolist() == [1, 2]
    m = np.zeros((5, 6), bool)
    m[4, 5] = True  # the corner pixel is never a boundary
    b = seg2bmap(m)
    assert not b[4, 5] and b[4, 4] and b[3, 5] and b.sum() == 3  # (3,4) too: its south-east neighbour differs
    assert not seg2bmap(np.ones((5, 6), bool)).any()  # a full mask has no boundary


def test_radius_and_disk():
    assert [boundary_radius(*s) for s in [(480, 854), (480, 910), (480, 1152), (720, 1280), (1080, 1920)]] == [8, 9, 10, 12, 18]
    k = disk(8)
    assert k.shape == (17, 17) and int(k.sum()) == 197
    assert k[0, 8] == k[8, 0] == k[16, 8] == k[8, 16] == 1 and k[0, 7] == 0


def test_jaccard_rules():
    a = _mask(6, 6, slice(1, 4), slice(1, 4))
    empty = np.zeros_like(a)
    assert jaccard(empty, empty) == 1.0
    assert jaccard(empty, a) == 0.0 and jaccard(a, empty) == 0.0
    b = _mask(6, 6, slice(1, 4), slice(2, 5))
    assert jaccard(b, a) == 6 / 12
    void = _mask(6, 6, slice(0, 6), slice(4, 5))  # hides b's extra column
    assert jaccard(b, a, void) == 6 / 9
    assert jaccard(a.astype(np.uint8) * 7, a) == 1.0  # any nonzero value is the object


def test_f_measure_empty_boundary_rules():
    h, w = 40, 60
    a = _mask(h, w, slice(10, 20), slice(10, 30))
    empty = np.zeros_like(a)
    full = np.ones_like(a)
    assert f_measure(empty, empty) == 1.0
    assert f_measure(empty, a) == 0.0  # no predicted boundary: P=1, R=0
    assert f_measure(a, empty) == 0.0  # no ground-truth boundary: P=0, R=1
    assert f_measure(empty, full) == 1.0  # a full mask has no boundary either: both empty
    assert f_measure(a, a) == 1.0


def test_f_measure_matches_within_the_radius_only():
    h, w = 480, 854  # radius 8
    gt = _mask(h, w, slice(100, 300), slice(200, 210))  # a 10 px wide bar
    near = np.roll(gt, 8, axis=1)
    far = np.roll(gt, 9, axis=1)
    assert f_measure(near, gt) == 1.0  # every boundary pixel has a partner 8 px away
    # 9 px away only the top and bottom edges still match: P and R from the counts of the reference
    assert f_measure(far, gt) == ref.f_value(far, gt, None) < 1.0
    assert f_measure(np.roll(gt, 40, axis=1), gt) == 0.0


def test_void_is_removed_before_the_boundaries():
    gt = _mask(30, 40, slice(5, 20), slice(5, 20))
    pred = gt.copy()
    pred[5:20, 20:30] = True  # an extra strip, fully inside the void area
    void = _mask(30, 40, slice(0, 30), slice(20, 40))
    assert f_measure(pred, gt) < 1.0 and f_measure(pred, gt, void) == 1.0
    assert jaccard(pred, gt, void) == 1.0


def _random_mask(rng, h, w):
    m = np.zeros((h, w), bool)
    for _ in range(rng.integers(0, 4)):
        y, x = rng.integers(-3, h), rng.integers(-3, w)
        m[max(y, 0): max(y, 0) + rng.integers(1, h + 1), max(x, 0): max(x, 0) + rng.integers(1, w + 1)] = True
    if rng.random() < 0.4:
        m ^= rng.random((h, w)) < 0.05
    if rng.random() < 0.05:
        m[:] = True
    return m


def test_agrees_bit_for_bit_with_the_literal_reference_on_random_masks():
    rng = np.random.default_rng(7)
    for trial in range(400):
        h, w = int(rng.integers(1, 50)), int(rng.integers(1, 50))
        if trial % 40 == 0:
            h, w = 480, 854
        gt = _random_mask(rng, h, w)
        pred = gt.copy() if rng.random() < 0.15 else _random_mask(rng, h, w)
        void = (rng.random((h, w)) < 0.1) if rng.random() < 0.3 else None
        assert jaccard(pred, gt, void) == ref.j_value(pred, gt, void), (trial, h, w)
        assert f_measure(pred, gt, void) == ref.f_value(pred, gt, void), (trial, h, w)


@pytest.mark.parametrize("n, bins", [
    (1, [(0, 0)] * 4),
    (2, [(0, 0), (0, 1), (1, 1), (1, 1)]),
    (5, [(0, 1), (1, 2), (2, 3), (3, 4)]),
    (6, [(0, 1), (1, 3), (3, 4), (4, 5)]),
    (7, [(0, 2), (2, 3), (3, 5), (5, 6)]),
    (300, [(0, 75), (75, 150), (150, 224), (224, 299)]),
])
def test_decay_bins(n, bins):
    assert decay_bins(n) == bins


def test_decay_values_for_small_n():
    assert statistics(np.array([0.7])).decay == 0.0
    s = statistics(np.array([0.9, 0.4]))
    assert s.decay == 0.9 - 0.4 and s.recall == 0.5 and s.mean == np.mean([0.9, 0.4])
    x = np.array([1.0, 0.8, 0.6, 0.4, 0.2, 0.0])  # n=6: bins (0,1) and (4,5)
    assert statistics(x).decay == pytest.approx(0.9 - 0.1, abs=1e-15)
    assert statistics(np.array([0.5, 0.5000001])).recall == 0.5  # strict: exactly 0.5 is not recalled


def test_official_uint8_wrap_is_emulated_and_corrected():
    assert official_decay_slices(255) == [(a, b + 1) for a, b in decay_bins(255)]  # still right
    # n=256: ids[4] = 255 and 255 + 1 wraps to 0 in uint8 (NumPy >= 2), so the last bin is empty
    assert official_decay_slices(256)[3] == (191, 0)
    assert official_decay_slices(260)[3] == (194, 4)  # ids [0, 65, 130, 194, 3]: the spec's example
    assert [a for a, _ in official_decay_slices(366)] == [0, 91, 183, 18]
    rng = np.random.default_rng(3)
    x = rng.random(260)
    s = statistics(x)
    assert math.isnan(s.official_decay) and s.official_differs
    assert s.decay == ref.stats(x)[2]
    y = np.linspace(1, 0, 366)
    s = statistics(y)
    assert not math.isnan(s.official_decay) and s.official_differs
    assert s.decay == pytest.approx(np.mean(y[0:92]) - np.mean(y[274:366]))
    assert not statistics(rng.random(255)).official_differs
