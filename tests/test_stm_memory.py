"""STM's memory read against the paper's formula, and the memory bank's schedule and cap."""

import math

import pytest
import torch

from vostool.methods.stm.memory import MemoryBank, from_pixels_last, memory_read, to_pixels_last


def _direct_read(k_m, v_m, k_q):
    """The authors' formula in their layout: k_m (C, T, H, W), v_m (D, T, H, W), k_q (C, H, W) ->
    (D, H, W) = v_M softmax_THW(k_M^T k_Q / sqrt(C))."""
    c, d = k_m.shape[0], v_m.shape[0]
    h, w = k_q.shape[1:]
    affinity = k_m.reshape(c, -1).T @ k_q.reshape(c, -1) / math.sqrt(c)  # (THW, HW)
    weights = torch.softmax(affinity, dim=0)
    return (v_m.reshape(d, -1) @ weights).reshape(d, h, w)


@pytest.mark.parametrize("chunk_bytes", [64 << 20, 4096])  # one chunk, and many chunks of query rows
def test_memory_read_equals_the_direct_formula(chunk_bytes):
    g = torch.Generator().manual_seed(0)
    objects, c, d, t, h, w = 3, 16, 8, 4, 5, 7
    k_m = torch.randn(objects, c, t, h, w, generator=g, dtype=torch.float64) * 2
    v_m = torch.randn(objects, d, t, h, w, generator=g, dtype=torch.float64)
    k_q = torch.randn(1, c, h, w, generator=g, dtype=torch.float64) * 2
    keys = k_m.permute(0, 2, 3, 4, 1).reshape(objects, t * h * w, c)
    values = v_m.permute(0, 2, 3, 4, 1).reshape(objects, t * h * w, d)
    out = memory_read(keys, values, to_pixels_last(k_q), chunk_bytes=chunk_bytes)
    assert out.shape == (objects, h * w, d)
    for o in range(objects):
        expected = _direct_read(k_m[o], v_m[o], k_q[0])
        assert torch.allclose(from_pixels_last(out[o:o + 1], h, w)[0], expected, atol=1e-12)


def test_memory_read_is_differentiable():
    keys = torch.randn(2, 12, 4, requires_grad=True)
    out = memory_read(keys, torch.randn(2, 12, 3), torch.randn(1, 6, 4))
    out.sum().backward()
    assert keys.grad is not None and torch.isfinite(keys.grad).all()


def _expected_read_set(t, first, every, cap):
    """Frames a read at step t (segmenting frame t) attends to, from the rule in words."""
    scheduled = [f for f in range(first, t - 1) if f == first or f % every == 0]
    if cap is not None:
        scheduled = scheduled[:1] + scheduled[1:][-(cap - 2):] if cap > 2 else scheduled[:1]
    return sorted(set(scheduled) | {t - 1})


@pytest.mark.parametrize("first, cap", [(0, None), (0, 4), (0, 2), (7, None), (7, 3)])
def test_bank_follows_the_schedule_and_the_cap(first, cap):
    bank = MemoryBank(first, every=5, max_frames=cap)
    hw = 3
    for t in range(first + 1, first + 40):
        frame = t - 1
        # keys are zero (uniform attention), values hold the frame index: a read returns the mean index
        bank.add(frame, torch.zeros(2, hw, 4), torch.full((2, hw, 1), float(frame)))
        expected = _expected_read_set(t, first, 5, cap)
        assert sorted(bank.read_frames) == expected, (t, bank.read_frames)
        out = bank.read(torch.zeros(1, hw, 4))
        assert torch.allclose(out, torch.full((2, hw, 1), sum(expected) / len(expected)))
    if cap is not None:
        assert len(bank.read_frames) == cap and bank._keys.shape[1] <= cap  # bounded buffers
    else:
        assert bank.read_frames[:3] == [first, *[f for f in range(first + 1, first + 12) if f % 5 == 0][:2]]


def test_bank_rejects_a_cap_without_room_for_the_previous_frame():
    with pytest.raises(ValueError):
        MemoryBank(0, every=5, max_frames=1)


def test_permanent_frames_survive_the_cap_and_only_they_can_exceed_it():
    bank = MemoryBank(0, every=5, max_frames=4)
    given = {7, 13}  # corrections: frames whose masks were given after the first frame
    for frame in range(60):
        bank.add(frame, torch.zeros(1, 2, 4), torch.full((1, 2, 1), float(frame)), permanent=frame in given)
        assert frame in bank.read_frames and 0 in bank.read_frames
        assert given.intersection(range(frame + 1)) <= set(bank.read_frames)
    # 3 permanent frames + the previous frame fill the cap: every other scheduled frame is dropped
    assert sorted(bank.read_frames) == [0, 7, 13, 59] and bank.dropped > 0
    for frame in (61, 62, 63):  # more permanent frames than the cap allows: they all stay, nothing else
        bank.add(frame, torch.zeros(1, 2, 4), torch.zeros(1, 2, 1), permanent=True)
    assert sorted(bank.read_frames) == [0, 7, 13, 61, 62, 63] and bank._keys.shape[1] == 6


def test_cap_drops_the_oldest_scheduled_frame_first():
    bank = MemoryBank(0, every=1, max_frames=5)
    for frame in range(20):
        bank.add(frame, torch.zeros(1, 2, 4), torch.zeros(1, 2, 1))
    assert sorted(bank.read_frames) == [0, 16, 17, 18, 19] and bank.dropped == 15
    assert bank.nbytes == 5 * 2 * (4 + 1) * 4  # 5 slots of 2 positions, keys and values, float32
