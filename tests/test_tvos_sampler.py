"""TVOS's reference sampling, prior sigmas and the frames a session must keep."""

from fractions import Fraction
from math import floor

from vostool.methods.tvos.sampler import oldest_needed, reference_frames, reference_sigmas


def _rule(t: int) -> list[int]:
    """The issue's rule in exact arithmetic: all earlier frames while t <= 9, else 6 sparse frames
    floor(linspace(max(t-44, 0), t-4, 6)) then t-3, t-2, t-1."""
    if t <= 9:
        return list(range(t))
    start, end = max(t - 44, 0), t - 4
    sparse = [floor(start + Fraction(i * (end - start), 5)) for i in range(6)]
    return sparse + [t - 3, t - 2, t - 1]


def test_reference_frames_follow_the_rule_for_t_1_to_60():
    for t in range(1, 61):
        frames = reference_frames(t)
        assert frames == _rule(t), t
        assert len(frames) == min(t, 9) and frames == sorted(set(frames)) and frames[-1] == t - 1


def test_examples_and_the_first_frame_dropping_out():
    assert reference_frames(50) == [6, 14, 22, 30, 38, 46, 47, 48, 49]  # the spec's example
    assert reference_frames(10) == [0, 1, 2, 3, 4, 6, 7, 8, 9]  # linspace(0, 6, 6) truncates 3.6 to 3
    assert 0 in reference_frames(44) and 0 not in reference_frames(45)
    assert reference_frames(45, keep_first_frame=True) == [0] + reference_frames(45)
    assert reference_frames(30, keep_first_frame=True) == reference_frames(30)  # never repeated


def test_sigmas_are_sigma1_for_the_last_four_once_past_frame_15():
    assert reference_sigmas(15, 9, 8.0, 21.0) == [8.0] * 9
    assert reference_sigmas(16, 9, 8.0, 21.0) == [21.0] * 5 + [8.0] * 4
    assert reference_sigmas(60, 10, 8.0, 21.0) == [21.0] * 6 + [8.0] * 4  # frame 0 kept: a sparse one
    assert reference_sigmas(3, 3, 8.0, 21.0) == [8.0] * 3


def test_oldest_needed_keeps_exactly_the_frames_later_targets_choose():
    for ref_num, sparse_range in ((9, 40), (9, 2), (5, 10), (12, 7)):
        for next_t in range(1, 90):
            chosen = set()
            for later in range(next_t, next_t + sparse_range + 20):
                chosen.update(reference_frames(later, ref_num, sparse_range))
            needed = {f for f in chosen if f < next_t}
            oldest = oldest_needed(next_t, ref_num, sparse_range)
            assert needed == set(range(oldest, next_t)), (ref_num, sparse_range, next_t)
