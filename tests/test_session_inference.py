"""Session.step runs without autograd by itself (issue 21): no graph is kept, whatever the caller does."""

import pytest
import torch

from vostool.loader import load_method
from vostool.registry import method_names


@pytest.mark.parametrize("name", method_names())
def test_step_keeps_no_graph_without_the_callers_help(name):
    method = load_method(name, untrained=True)
    torch.manual_seed(0)
    frames = torch.rand(3, 3, 48, 64)
    mask = torch.zeros(48, 64, dtype=torch.uint8)
    mask[10:30, 12:40] = 1
    session = method.new_session()
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    for t, frame in enumerate(frames):
        probs = session.step(frame, mask if t == 0 else None)
        assert not probs.requires_grad and probs.is_inference()
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()  # the caller's state is untouched
    assert torch.allclose(probs.sum(0), torch.ones(48, 64), atol=1e-4)
