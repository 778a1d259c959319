"""engine.loop.run_session, the one frame loop: given masks exact (new and corrected ids), masks used
once, resizing to and from the processing size, the timing hook, results in frame order."""

from dataclasses import dataclass

import numpy as np
import torch

from tests.fake_method import CopyMethod
from vostool.engine.loop import GivenLabels, InMemoryFrame, run_session
from vostool.resize_rules import RULES

CPU = torch.device("cpu")


def _frames(count: int, height: int, width: int) -> list[InMemoryFrame]:
    rng = np.random.default_rng(0)
    return [InMemoryFrame(t, rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for t in range(count)]


class CountingTimer:
    def __init__(self) -> None:
        self.starts = self.stops = 0

    def start(self) -> None:
        self.starts += 1

    def stop(self) -> None:
        self.stops += 1

    def seconds(self) -> float:
        return 0.25


def test_given_masks_are_exact_and_corrections_replace_the_propagated_object():
    first = np.zeros((8, 12), np.uint8)
    first[1:4, 1:5] = 2
    first[5:7, 6:11] = 5  # non-contiguous ids are kept
    later = np.zeros((8, 12), np.uint8)
    later[4:8, 0:3] = 2  # object 2 corrected elsewhere: its old pixels must not survive on this frame
    later[0:2, 8:12] = 9  # a new object
    masks = {0: GivenLabels(first), 2: GivenLabels(later)}
    results, timer = [], CountingTimer()
    count = run_session(CopyMethod().new_session(), _frames(4, 8, 12), masks, results.append, device=CPU, timer=timer)

    assert count == 4 and [r.frame.index for r in results] == [0, 1, 2, 3]
    assert masks == {}  # each mask popped when its frame came
    assert timer.starts == timer.stops == 4 and [r.step_seconds for r in results] == [0.25] * 4
    np.testing.assert_array_equal(results[0].labels, first)
    np.testing.assert_array_equal(results[1].labels, first)  # the fake method copies
    expected = np.where(later > 0, later, np.where(first == 5, 5, 0))
    np.testing.assert_array_equal(results[2].labels, expected)
    assert results[2].object_ids == (2, 5, 9)
    assert results[2].probs.shape == (4, 8, 12) and results[2].labels.dtype == np.uint8


@dataclass
class SmallGiven:
    processing: np.ndarray
    labels: np.ndarray
    ids: list[int]


def test_frames_go_to_the_processing_size_and_labels_come_back_at_the_frame_size():
    big = np.zeros((8, 12), np.uint8)
    big[2:6, 2:8] = 3
    small = RULES["smooth"].mask(big, (4, 6))
    method = CopyMethod()
    session = method.new_session()
    results = []
    run_session(session, _frames(3, 8, 12), {0: SmallGiven(small, big, [3])}, results.append, device=CPU,
                size=(4, 6), rules=RULES["smooth"])
    assert session.shapes == [(4, 6)] * 3  # the session only sees the processing size
    assert all(r.labels.shape == (8, 12) and r.probs.shape == (2, 8, 12) for r in results)
    np.testing.assert_array_equal(results[0].labels, big)  # the given frame: exactly the original-size mask
    assert (results[1].labels == 3).sum() > 0 and set(np.unique(results[1].labels)) <= {0, 3}


def test_no_timer_no_step_seconds_and_no_autograd():
    seen = []

    class Probe(CopyMethod):
        def new_session(self):
            session = super().new_session()
            step = session.step

            def recording(frame, mask=None):
                seen.append(torch.is_inference_mode_enabled())
                return step(frame, mask)

            session.step = recording
            return session

    first = np.zeros((4, 4), np.uint8)
    first[1:3, 1:3] = 1
    results = []
    run_session(Probe().new_session(), _frames(2, 4, 4), {0: GivenLabels(first)}, results.append, device=CPU)
    assert seen == [True, True] and [r.step_seconds for r in results] == [None, None]
    assert not torch.is_inference_mode_enabled()  # restored after the loop


def test_soft_maps_on_a_given_frame_are_the_given_masks():
    import torch

    from vostool.engine.loop import given_exactly

    probs = torch.tensor([[[0.2, 0.5], [0.1, 0.7]], [[0.5, 0.3], [0.6, 0.2]], [[0.3, 0.2], [0.3, 0.1]]])
    labels = torch.tensor([[7, 0], [7, 3]], dtype=torch.uint8)  # object 7 given (corrected), 3 propagated
    out = given_exactly(probs, labels, [7], (7, 3))
    assert torch.equal(out[1], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))  # exactly the given mask
    assert torch.equal(out[2], torch.tensor([[0.0, 0.2], [0.0, 0.1]]))  # loses only the given pixels
    assert torch.allclose(out.sum(0), torch.ones(2, 2)) and (out >= 0).all()
    assert torch.equal(out.argmax(0), torch.tensor([[1, 0], [1, 0]]))
