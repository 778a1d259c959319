"""FlowVOS: backward warping, the flow U-Net at any size, and the warped mask entering the decoder."""

import pytest
import torch

from vostool.loader import load_method
from vostool.methods.flowvos import FlowRegressor, flow_warp


def _translation(height, width, dx, dy):
    """Flow (1, 2, H, W) in normalised units that moves content by (dx, dy) pixels (backward warp)."""
    flow = torch.empty(1, 2, height, width)
    flow[:, 0] = -dx * 2 / (width - 1)
    flow[:, 1] = -dy * 2 / (height - 1)
    return flow


def test_a_known_translation_warps_a_mask_to_the_expected_place():
    mask = torch.zeros(1, 1, 40, 50)
    mask[..., 10:20, 15:25] = 1
    warped = flow_warp(mask, _translation(40, 50, dx=3, dy=-2))
    expected = torch.zeros_like(mask)
    expected[..., 8:18, 18:28] = 1
    assert torch.equal(warped.round(), expected)
    assert torch.allclose(warped, expected, atol=1e-4)  # integer shifts sample exactly at pixel centres


def test_warping_past_the_border_repeats_the_border():
    image = torch.zeros(1, 1, 8, 10)
    image[..., :, 0] = 1  # left column
    warped = flow_warp(image, _translation(8, 10, dx=3, dy=0))
    assert torch.allclose(warped[..., :, :4], torch.ones(1, 1, 8, 4), atol=1e-5)  # 'border', not zeros
    assert torch.allclose(warped[..., :, 4:], torch.zeros(1, 1, 8, 6), atol=1e-5)


@pytest.fixture(scope="module")
def regressor():
    return FlowRegressor().eval()


@pytest.mark.parametrize("size", [(37, 51), (45, 80), (16, 16)])
def test_flow_unet_runs_at_odd_sizes(regressor, size):
    with torch.no_grad():
        flow = regressor(torch.randn(1, 6, *size))
    assert flow.shape == (1, 2, *size) and torch.isfinite(flow).all()


def test_flow_unet_upsamples_to_the_authors_sizes_at_240x427(regressor):
    sizes = []
    hooks = [getattr(regressor, name).register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:])))
             for name in ("up1", "up2", "up3")]
    with torch.no_grad():
        regressor(torch.randn(1, 6, 240, 427))
    for hook in hooks:
        hook.remove()
    assert sizes == [(30, 53), (60, 106), (240, 427)]  # the sizes the authors hard-coded


def test_the_warped_previous_output_enters_the_decoder(monkeypatch):
    method = load_method("flowvos", untrained=True)
    network = method.network
    height, width = 32, 48
    monkeypatch.setattr(network, "flow", lambda prev, cur: _translation(height, width, dx=2, dy=1))
    seen = []
    decode = network.Decoder.decode

    def spy(x, skips, size, warp_mask=None):
        seen.append(warp_mask)
        return decode(x, skips, size, warp_mask)

    monkeypatch.setattr(network.Decoder, "decode", spy)
    mask = torch.zeros(height, width, dtype=torch.uint8)
    mask[8:20, 10:30] = 3
    frames = torch.rand(3, 3, height, width, generator=torch.Generator().manual_seed(0))
    session = method.new_session()
    with torch.inference_mode():
        first = session.step(frames[0], mask)
        second = session.step(frames[1])
        session.step(frames[2])
    expected = torch.zeros(1, 1, height, width)
    expected[..., 9:21, 12:32] = 1  # the given mask moved by (2, 1)
    assert torch.equal(seen[0], expected)
    # next frame: the previous *soft* output is warped, then rounded
    assert torch.equal(seen[1], flow_warp(second[1:].view(1, 1, height, width), _translation(height, width, 2, 1)).round())
    assert first.shape == (2, height, width)
