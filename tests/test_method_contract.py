"""The Session contract, checked for every registered method (as timm's tests run over list_models()).

Untrained networks on tiny frames: what is checked is the contract (shapes, a distribution over
background and objects, objects that join later, frames before the first mask, bf16 autocast, strict
checkpoint round trips), not the quality of the segmentation.
"""

from __future__ import annotations

import pytest
import torch

from vostool.loader import load_method
from vostool.options import architecture_fields, options_to_dict
from vostool.registry import method_names
from vostool.weights import save_checkpoint

H, W = 48, 64


def _frames(n: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, H, W, generator=gen)


def _mask(boxes: dict[int, tuple[int, int, int, int]]) -> torch.Tensor:
    """(H, W) uint8 labels with a rectangle (top, bottom, left, right) per id."""
    mask = torch.zeros(H, W, dtype=torch.uint8)
    for oid, (t, b, l, r) in boxes.items():
        mask[t:b, l:r] = oid
    return mask


def _assert_distribution(probs: torch.Tensor, channels: int, atol: float = 1e-4) -> None:
    assert probs.shape == (channels, H, W)
    assert probs.dtype == torch.float32
    assert bool(torch.isfinite(probs).all())
    assert float(probs.min()) >= 0 and float(probs.max()) <= 1 + atol
    assert torch.allclose(probs.sum(0), torch.ones(H, W), atol=atol)


@pytest.fixture(scope="module", params=method_names())
def method(request):
    torch.set_num_threads(1)
    return load_method(request.param, untrained=True)


def test_step_returns_a_distribution_over_background_and_objects(method):
    session = method.new_session()
    first = _mask({3: (8, 30, 6, 30), 9: (20, 44, 36, 60)})  # non-contiguous ids keep their order
    for t, frame in enumerate(_frames(3)):
        probs = session.step(frame, first if t == 0 else None)
        _assert_distribution(probs, 3)
        assert session.object_ids == (3, 9)
        if t == 0:  # the given frame's output is its mask
            labels = torch.tensor([0, 3, 9], dtype=torch.uint8)[probs.argmax(0)]
            assert torch.equal(labels, first)


def test_objects_given_on_a_later_frame_join_in_the_order_they_come(method):
    session = method.new_session()
    later = _mask({2: (26, 46, 40, 62)})
    for t, frame in enumerate(_frames(4)):
        mask = _mask({7: (4, 24, 4, 28)}) if t == 0 else later if t == 2 else None
        probs = session.step(frame, mask)
        if t < 2:
            assert session.object_ids == (7,)
            _assert_distribution(probs, 2)
        else:
            # the channel order follows object_ids: 7 (first given) before 2 (given later)
            assert session.object_ids == (7, 2)
            _assert_distribution(probs, 3)
        if t == 2:  # the new object's pixels are exactly its mask
            assert bool((probs.argmax(0)[later == 2] == 2).all())
            assert not bool((probs.argmax(0)[later != 2] == 2).any())


def test_frames_before_the_first_mask_are_background(method):
    session = method.new_session()
    frames = _frames(4)
    for t in range(2):
        probs = session.step(frames[t], None)
        assert torch.equal(probs, torch.ones(1, H, W))  # all background, no object yet
        assert session.object_ids == ()
    # an empty mask gives no object either
    assert torch.equal(session.step(frames[2], torch.zeros(H, W, dtype=torch.uint8)), torch.ones(1, H, W))
    mask = _mask({1: (10, 30, 10, 40)})
    probs = session.step(frames[3], mask)
    assert session.object_ids == (1,)
    _assert_distribution(probs, 2)
    assert torch.equal(probs.argmax(0).to(torch.uint8), mask)


def test_bf16_autocast_runs(method):
    session = method.new_session()
    mask = _mask({1: (8, 30, 6, 30), 4: (20, 44, 36, 60)})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for t, frame in enumerate(_frames(3)):
            probs = session.step(frame, mask if t == 0 else None)
            assert probs.shape == (3, H, W)
            assert bool(torch.isfinite(probs).all())
            assert torch.allclose(probs.float().sum(0), torch.ones(H, W), atol=2e-2)


def test_a_checkpoint_round_trips_strictly(method, tmp_path):
    arch = {name: getattr(method.options, name) for name in architecture_fields(type(method.options))}
    path = tmp_path / f"{method.name}.pt"
    save_checkpoint(path, method.name, method.network.state_dict(), arch, options_to_dict(method.options),
                    source="contract test")
    loaded = load_method(method.name, weights=str(path))
    saved, back = method.network.state_dict(), loaded.network.state_dict()
    assert saved.keys() == back.keys()
    for key in saved:
        assert torch.equal(saved[key], back[key]), key
    assert loaded.weights_source != "untrained"
