"""Long videos in bounded memory: the STM family's memory bank stops growing at max_memory_frames."""

import logging

import pytest
import torch

from vostool.data.synthetic import make_clip
from vostool.loader import load_method
from vostool.methods.stm.options import DEFAULT_MAX_MEMORY_FRAMES
from vostool.options import options_to_dict


@pytest.fixture(autouse=True)
def one_thread():
    """One thread: hundreds of frames stay fast on a busy machine (oversubscribed threads are not)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _long_video(frames: int):
    """``frames`` frames at 32x32 (a 24-frame synthetic clip played forwards and backwards), and frame 0's labels."""
    clip = make_clip(num_frames=24, height=32, width=32, num_objects=2, seed=1)
    loop = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]
    loop = loop + loop[-2:0:-1]
    return [loop[t % len(loop)] for t in range(frames)], torch.from_numpy(clip.labels[0])


def _run(session, frames, first_mask, given=(), every_step=None):
    with torch.inference_mode():
        for t, frame in enumerate(frames):
            # Frames in ``given`` get a correction (the known objects' masks again): kept for good.
            session.step(frame, first_mask if t == 0 or t in given else None)
            if every_step is not None:
                every_step(t, session)


def test_default_run_is_bounded_and_keeps_the_given_frames(caplog):
    """The defaults (mem_every=5, max_memory_frames=50) over 260 frames: the bank grows as the authors'
    until frame ~240, then stays at 50 frames; frame 0 and a corrected frame stay, a warning says so once."""
    method = load_method("stm", untrained=True)
    assert method.options.max_memory_frames == DEFAULT_MAX_MEMORY_FRAMES == 50
    frames, first_mask = _long_video(260)
    session = method.new_session()
    sizes: list[tuple[int, int]] = []  # (frames in the read set, bytes allocated) after every step

    def record(t, s):
        sizes.append((len(s.memory_frames().get(0, [])), s.memory_bytes))

    with caplog.at_level(logging.WARNING, logger="vostool"):
        _run(session, frames, first_mask, given={7}, every_step=record)
    counts = [n for n, _ in sizes]
    # the authors' schedule up to the cap: at frame 200 {0, 5, ..., 195}, the given 7 and the previous frame
    assert counts[200] == 42
    assert max(counts) == 50 and counts.index(50) > 200
    assert all(n == 50 for n in counts[counts.index(50):])
    first_full = counts.index(50)
    assert len({b for _, b in sizes[first_full:]}) == 1  # the buffers stop growing
    read = session.memory_frames()[0]
    assert 0 in read and 7 in read and 258 in read
    assert 5 not in read  # the oldest scheduled frames went first
    notes = [r for r in caplog.records if "max_memory_frames=50" in r.getMessage()]
    assert len(notes) == 1 and "memory_policy=recent" in notes[0].getMessage()


@pytest.mark.parametrize("name", ["stm", "flowvos", "munet"])
def test_every_stm_family_method_stops_growing(name):
    """mem_every=1 reaches a cap of 20 early: 20 frames in memory, then flat bytes over 25 more frames."""
    method = load_method(name, {"mem_every": 1, "max_memory_frames": 20}, untrained=True)
    frames, first_mask = _long_video(45)
    session = method.new_session()
    sizes: list[int] = []
    _run(session, frames, first_mask, every_step=lambda t, s: sizes.append(s.memory_used_bytes))
    assert sizes[10] < sizes[19] < sizes[20] == sizes[-1] and len(set(sizes[20:])) == 1
    assert sorted(session.memory_frames()[0]) == [0, *range(25, 44)]


def test_unlimited_memory_is_still_available():
    method = load_method("stm", {"max_memory_frames": None}, untrained=True)
    frames, first_mask = _long_video(40)
    session = method.new_session()
    _run(session, frames, first_mask)
    assert sorted(session.memory_frames()[0]) == [0, 5, 10, 15, 20, 25, 30, 35, 38]


def test_cap_and_policy_are_recorded_options():
    for name in ("stm", "flowvos", "munet"):
        options = options_to_dict(load_method(name, untrained=True).options)
        assert options["max_memory_frames"] == 50 and options["memory_policy"] == "recent"
    with pytest.raises(Exception, match="memory_policy"):
        load_method("stm", {"memory_policy": "oldest"}, untrained=True)
