"""TVOS's blocked propagation against a dense statement of the authors' computation."""

import pytest
import torch

import vostool.methods.tvos.propagation as prop
from tvos_dense import dense_predict, spatial_weight
from vostool.methods.tvos.propagation import propagate, soft_propagate
from vostool.methods.tvos.sampler import reference_frames, reference_sigmas


def _history(frames: int, channels: int, h: int, w: int, d: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(frames, channels, h, w, generator=g)
    labels = torch.nn.functional.one_hot(torch.randint(0, d, (frames, h * w), generator=g), d).permute(2, 0, 1).float()
    # Frame 0 carries soft labels, as after the authors' bilinear downsampling.
    labels[:, 0] = torch.softmax(torch.randn(d, h * w, generator=g) * 2, dim=0)
    return feats, labels


def _ours(feats, labels, t, h, w, keep_first=False, temperature=1.0, chunk=128):
    frames = reference_frames(t, keep_first_frame=keep_first)
    sigmas = reference_sigmas(t, len(frames), 8.0, 21.0)
    refs = feats[frames].permute(0, 2, 3, 1).reshape(-1, feats.shape[1])
    target = feats[t].permute(1, 2, 0).reshape(h * w, -1)
    return propagate(refs, labels[:, frames].reshape(labels.shape[0], -1), target, (h, w), sigmas, temperature, chunk), frames


# The oneDNN path exists only in builds with it; the plain matmul path is checked everywhere.
BACKENDS = ["matmul"] + (["onednn"] if prop._onednn_linear_works() else [])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("t,keep_first,temperature,chunk", [
    (3, False, 1.0, 128),  # t <= 9: all earlier frames, sigma1 everywhere
    (12, False, 1.0, 5),  # sparse sampling, still sigma1 (t <= 15); rows split into blocks of 5
    (20, False, 1.0, 128),  # sigma2 for the 5 oldest, sigma1 for the last 4
    (50, True, 0.7, 1),  # frame 0 kept (10 references), a temperature, one target pixel per block
])
def test_blocked_propagation_equals_the_dense_computation(monkeypatch, backend, t, keep_first, temperature, chunk):
    if backend == "matmul":
        monkeypatch.setattr(prop, "_onednn_linear_works", lambda: False)
    h, w, d = 7, 11, 3
    feats, labels = _history(t + 1, 16, h, w, d, seed=t)
    with torch.inference_mode():
        ours, frames = _ours(feats, labels, t, h, w, keep_first, temperature, chunk)
        # The reference runs in float64: the difference is vostool's float32 rounding alone.
        dense = dense_predict(feats.double(), feats[t].double(), labels.double(), spatial_weight(h, w, 8.0).double(),
                              spatial_weight(h, w, 21.0).double(), t, temperature=temperature, frames=frames)
    assert ours.shape == (d, h * w) and ours.dtype == torch.float32
    assert (ours.double() - dense).abs().max() < 1e-5
    assert dense.sum(0).max() < 1  # the prior is not renormalised: this is not a distribution


def test_results_do_not_depend_on_the_block_size():
    h, w, d = 6, 9, 2
    feats, labels = _history(21, 8, h, w, d, seed=3)
    with torch.inference_mode():
        whole, _ = _ours(feats, labels, 20, h, w, chunk=128)
        for chunk in (1, 2, 4):
            part, _ = _ours(feats, labels, 20, h, w, chunk=chunk)
            assert torch.allclose(part, whole, rtol=1e-6, atol=1e-9)


def test_large_score_gaps_underflow_like_the_dense_softmax():
    """Scores hundreds apart: terms far below the max vanish, as in the authors' float32 softmax."""
    h, w, d = 5, 6, 2
    feats, labels = _history(4, 8, h, w, d, seed=9)
    feats = feats * 12  # dot products in the hundreds
    with torch.inference_mode():
        ours, frames = _ours(feats, labels, 3, h, w)
        dense = dense_predict(feats, feats[3], labels, spatial_weight(h, w, 8.0), spatial_weight(h, w, 21.0), 3)
    assert torch.isfinite(ours).all()
    assert (ours - dense).abs().max() < 1e-5


def test_soft_propagate_is_the_prior_free_propagation_and_differentiable():
    h, w, d = 5, 7, 3
    feats, labels = _history(4, 8, h, w, d, seed=4)
    with torch.inference_mode():
        flat, _ = _ours(feats, labels, 3, h, w)
        huge_sigma = propagate(feats[:3].permute(0, 2, 3, 1).reshape(-1, 8), labels[:, :3].reshape(d, -1),
                               feats[3].permute(1, 2, 0).reshape(-1, 8), (h, w), [1e6] * 3)
    refs = feats[:3].permute(0, 2, 3, 1).reshape(1, -1, 8).requires_grad_(True)
    target = feats[3].permute(1, 2, 0).reshape(1, h * w, 8)
    soft = soft_propagate(refs, labels[:, :3].reshape(1, d, -1), target)
    assert torch.allclose(soft[0].detach(), huge_sigma, atol=1e-5)
    assert not torch.allclose(soft[0].detach(), flat, atol=1e-3)  # the prior does matter at sigma 8
    assert torch.allclose(soft.sum(1), torch.ones(1, h * w), atol=1e-5)  # a distribution without a prior
    soft[0, 1].log().sum().backward()
    assert refs.grad is not None and refs.grad.abs().sum() > 0


def test_rows_shared_by_threads_give_the_same_result_and_restore_the_thread_count():
    h, w, d = 9, 6, 3
    feats, labels = _history(21, 8, h, w, d, seed=5)
    frames = reference_frames(20)
    args = (feats[frames].permute(0, 2, 3, 1).reshape(-1, 8), labels[:, frames].reshape(d, -1),
            feats[20].permute(1, 2, 0).reshape(h * w, -1), (h, w), reference_sigmas(20, len(frames), 8.0, 21.0))
    before = torch.get_num_threads()
    with torch.inference_mode():
        alone = propagate(*args, workers=1)
        shared = propagate(*args, workers=3)
    assert torch.equal(shared, alone)
    assert torch.get_num_threads() == before
    with torch.no_grad():  # outside inference mode too
        assert torch.equal(propagate(*args, workers=2), alone)
