"""MUNet's MU-Layer and MSAM: the cost volume against a looped reference, the soft displacement on a
known shift, the uncertainty map on a constructed example, and the shapes of the motion modules."""

import pytest
import torch

from vostool.methods.munet import MSAM, MULayer, cost_volume, soft_displacement, uncertainty_map
from vostool.methods.munet.mu_layer import MOTION_LAYERS


def looped_cost_volume(query, reference, radius):
    """Eq. 1 written out: one displacement, one position at a time; outside the map: 0."""
    batch, _, height, width = query.shape
    k = 2 * radius + 1
    out = torch.zeros(batch, k * k, height, width)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            for y in range(height):
                for x in range(width):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < height and 0 <= xx < width:
                        a, b = query[:, :, y, x], reference[:, :, yy, xx]
                        out[:, (dy + radius) * k + dx + radius, y, x] = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    return out


@pytest.mark.parametrize("radius, size, chunk", [(2, (5, 7), 1 << 30), (2, (5, 7), 1), (3, (4, 3), 1000)])
def test_cost_volume_equals_the_looped_definition(radius, size, chunk):
    g = torch.Generator().manual_seed(radius)
    query, reference = torch.randn(2, 6, *size, generator=g), torch.randn(2, 6, *size, generator=g)
    volume = cost_volume(query, reference, radius, chunk_bytes=chunk)
    assert volume.shape == (2, (2 * radius + 1) ** 2, *size)
    assert torch.allclose(volume, looped_cost_volume(query, reference, radius), atol=1e-5)


def test_cost_volume_window_larger_than_the_map_and_channels_last_inputs():
    g = torch.Generator().manual_seed(1)
    query, reference = torch.randn(1, 8, 3, 4, generator=g), torch.randn(1, 8, 3, 4, generator=g)
    volume = cost_volume(query.contiguous(memory_format=torch.channels_last), reference, radius=12)
    assert volume.shape == (1, 625, 3, 4)
    assert torch.allclose(volume, looped_cost_volume(query, reference, 12), atol=1e-5)


def _shifted_pair(dx, dy, channels=32, size=(14, 16), seed=0):
    """Frame t-1 features whose content sits (dx, dy) cells away from frame t's: F_{t-1}(x + u) = F_t(x)."""
    g = torch.Generator().manual_seed(seed)
    previous = torch.randn(1, channels, *size, generator=g)
    current = torch.roll(previous, shifts=(-dy, -dx), dims=(2, 3))
    return current, previous


@pytest.mark.parametrize("dx, dy", [(2, -1), (-3, 0), (0, 4)])
def test_soft_displacement_recovers_a_known_integer_shift(dx, dy):
    current, previous = _shifted_pair(dx, dy)
    volume = cost_volume(current, previous, radius=5)
    disp = soft_displacement(volume, radius=5, sign=1, temperature=0.01)
    interior = disp[..., 5:-5, 5:-5]  # where the match lies inside the map (no wrap-around of roll)
    expected = torch.tensor([dx, dy], dtype=torch.float32).view(1, 2, 1, 1).expand_as(interior)
    assert torch.allclose(interior, expected, atol=1e-3)
    # The printed sign (softmax of -similarity) points elsewhere: at the least similar candidates.
    printed = soft_displacement(volume, radius=5, sign=-1, temperature=0.01)[..., 5:-5, 5:-5]
    assert (printed - expected).abs().amax() > 1


def test_default_soft_displacement_leans_towards_the_match():
    """With temperature 1 the softmax over cosine similarities in [-1, 1] is nearly uniform: the
    estimate stays close to the window's centre (documented in docs/methods.md), leaning on average
    towards the match."""
    current, previous = _shifted_pair(3, -2, channels=64)
    volume = cost_volume(current, previous, radius=4)
    disp = soft_displacement(volume, radius=4)[..., 4:-4, 4:-4]
    assert disp[:, 0].mean() > 0.02 and disp[:, 1].mean() < -0.02
    assert disp.abs().max() < 0.5


def test_uncertainty_is_high_where_features_match_and_low_when_textureless_or_occluded():
    g = torch.Generator().manual_seed(3)
    previous = torch.randn(1, 256, 12, 12, generator=g)
    current = torch.roll(previous, shifts=(0, -1), dims=(2, 3))  # everything moved by one cell
    current[..., 6:, :] = torch.randn(1, 256, 6, 12, generator=g)  # bottom: occluded (new content)
    current[..., :6, 6:] = 0  # top right: textureless (no feature response)
    u = uncertainty_map(cost_volume(current, previous, radius=3))
    assert u.shape == (1, 1, 12, 12)
    matched, occluded, textureless = u[..., :6, :6], u[..., 6:, :], u[..., :6, 6:]
    assert matched.min() > 0.999
    assert occluded.max() < 0.5
    assert textureless.abs().max() == 0


def test_motion_network_follows_table_1_and_keeps_the_feature_size():
    layer = MULayer()
    convs = [m for m in layer.motion.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == \
           [(cin, cout, k, 1) for cin, cout, k in MOTION_LAYERS]
    assert [m[0] for m in MOTION_LAYERS] == [3, 3, 16, 16, 32, 32, 32, 64] and MOTION_LAYERS[-1][1] == 1024
    assert layer.reduce.in_channels == 1024 and layer.reduce.out_channels == 256 and layer.reduce.kernel_size == (1, 1)
    with torch.no_grad():
        reduced_t, reduced_prev = torch.randn(2, 256, 5, 7), torch.randn(2, 256, 5, 7)
        info = layer.motion_information(reduced_t, reduced_prev)
        motion = layer(reduced_t, reduced_prev)
    assert info.shape == (2, 3, 5, 7) and motion.shape == (2, 1024, 5, 7)


def test_msam_is_a_broadcast_spatial_attention_and_add_is_a_sum():
    semantic, motion = torch.randn(2, 1024, 5, 7), torch.randn(2, 1024, 5, 7)
    msam = MSAM()
    with torch.no_grad():
        attention = msam.attention_map(motion)
        out = msam(semantic, motion)
    assert msam.attention.out_channels == 1 and msam.attention.kernel_size == (1, 1)
    assert attention.shape == (2, 1, 5, 7) and ((attention > 0) & (attention < 1)).all()
    assert out.shape == semantic.shape
    assert torch.allclose(out, semantic * (1 + attention), atol=1e-6)
    add = MSAM(fusion="add")
    assert list(add.parameters()) == []
    assert torch.equal(add(semantic, motion), semantic + motion)


def test_the_mu_layer_is_differentiable():
    layer = MULayer()
    reduced_t = torch.randn(1, 256, 4, 5, requires_grad=True)
    reduced_prev = torch.randn(1, 256, 4, 5, requires_grad=True)
    layer(reduced_t, reduced_prev, radius=2).sum().backward()
    for tensor in (reduced_t, reduced_prev, layer.motion.layers[0].weight):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0
