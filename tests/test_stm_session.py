"""STM sessions: determinism of --untrained, the memory schedule and cap in a video, late objects."""

import dataclasses

import pytest
import torch

from vostool.data.synthetic import make_clip
from vostool.loader import load_method


@pytest.fixture(scope="module")
def stm():
    return load_method("stm", untrained=True)


@pytest.fixture(scope="module")
def clip():
    return make_clip(num_frames=14, height=48, width=64, num_objects=2, seed=4)


def _frames(clip):
    return [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]


def _run(method, clip, frames=None, late_from=None, **options):
    """Objects 1 and 2 from frame 0; with ``late_from``, object 2 is only given on that frame."""
    method.options = dataclasses.replace(method.options, **options)
    session = method.new_session()
    labels = [torch.from_numpy(lab) for lab in clip.labels]
    outputs = []
    with torch.inference_mode():
        for t, frame in enumerate(_frames(clip)[:frames]):
            mask = None
            if t == 0:
                mask = labels[0] if late_from is None else torch.where(labels[0] == 1, labels[0], 0)
            elif t == late_from:
                mask = torch.where(labels[t] == 2, labels[t], 0)
            outputs.append(session.step(frame, mask))
    return session, outputs


def test_untrained_is_deterministic_with_bounded_outputs(stm, clip):
    again = load_method("stm", untrained=True)
    for key, value in stm.network.state_dict().items():
        assert torch.equal(value, again.network.state_dict()[key]), key
    _, first = _run(stm, clip, frames=4, max_memory_frames=None)
    _, second = _run(again, clip, frames=4)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
        assert a.shape == (3, 48, 64) and torch.isfinite(a).all()
        assert torch.allclose(a.sum(0), torch.ones(48, 64), atol=1e-5)
    assert 0.05 < float(first[-1][1:].mean()) < 0.95  # neither saturated nor collapsed


def test_memory_schedule_with_a_late_object(stm, clip):
    session, outputs = _run(stm, clip, late_from=4, max_memory_frames=None)
    assert session.object_ids == (1, 2)
    # frame 0 group: {0, 5, 10} and the previous frame; object 2's group starts at its mask's frame 4
    assert session.memory_frames() == {0: [0, 5, 10, 12], 4: [4, 5, 10, 12]}
    frame_bytes = (3 * 4) * (128 + 512) * 4  # one object's keys and values for one 48x64 frame, float32
    assert session.memory_used_bytes == 2 * 4 * frame_bytes
    given = torch.from_numpy(clip.labels[4]) == 2
    at_4 = outputs[4]
    assert at_4.shape[0] == 3 and outputs[3].shape[0] == 2
    assert (at_4[2][given] > 0.999).all() and (at_4[1][given] < 1e-6).all()  # exactly its mask there


def test_memory_cap_keeps_the_first_frame_and_bounds_the_bank(stm, clip):
    session, _ = _run(stm, clip, late_from=4, max_memory_frames=3)
    assert {k: sorted(v) for k, v in session.memory_frames().items()} == {0: [0, 10, 12], 4: [4, 10, 12]}
    expected = 2 * 3 * (3 * 4) * (128 + 512) * 4  # 2 groups of 1 object, 3 slots of 3x4 positions, float32
    assert session.memory_bytes == expected and session.memory_used_bytes == expected
