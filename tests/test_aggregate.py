import torch

from vostool.aggregate import aggregate, frtm_aggregate, probs_to_labels, soft_aggregate


def test_soft_aggregation_sums_to_one_and_matches_eq1():
    fg = torch.tensor([[[0.9, 0.2]], [[0.3, 0.6]]])  # (K=2, 1, 2)
    out = soft_aggregate(fg, bg_rule="min")
    assert out.shape == (3, 1, 2)
    assert torch.allclose(out.sum(0), torch.ones(1, 2))
    # eq. (1) by hand at pixel 0: p_bg = min(1-0.9, 1-0.3) = 0.1
    odds = torch.tensor([0.1 / 0.9, 0.9 / 0.1, 0.3 / 0.7])
    assert torch.allclose(out[:, 0, 0], odds / odds.sum(), atol=1e-6)


def test_soft_aggregation_with_a_given_background_and_prod_rule():
    fg = torch.tensor([[[0.5]], [[0.5]]])
    given = soft_aggregate(fg, bg=torch.tensor([[0.5]]))
    assert torch.allclose(given[:, 0, 0], torch.full((3,), 1 / 3))
    prod = soft_aggregate(fg, bg_rule="prod")  # p_bg = 0.25
    odds = torch.tensor([0.25 / 0.75, 1.0, 1.0])
    assert torch.allclose(prod[:, 0, 0], odds / odds.sum(), atol=1e-6)


def test_frtm_variant_labels_need_a_win_and_more_than_half():
    # pixel 0: object 1 clearly wins; pixel 1: object 2 wins the odds softmax but stays below 0.5
    # after it; pixel 2: nothing is confident -> background.
    fg = torch.tensor([[[0.95, 0.40, 0.10]], [[0.30, 0.45, 0.05]]])
    out = frtm_aggregate(fg)
    assert torch.allclose(out.sum(0), torch.ones(1, 3))
    labels = probs_to_labels(out, (7, 3))
    # Reference: the authors' two-pass rule written out literally.
    p = torch.cat([torch.zeros(1, 1, 3), fg]).clamp(1e-7, 1 - 1e-7)
    p[0] = (1 - p[1:]).amin(0)
    segs = torch.softmax(p / (1 - p), 0)
    win = segs.argmax(0)
    kept = segs * (torch.arange(3).view(3, 1, 1) == win)
    m = kept.clone().clamp(1e-7, 1 - 1e-7)
    m[0] = (1 - m[1:]).amin(0)
    second = torch.softmax(m / (1 - m), 0).argmax(0)
    expected = torch.tensor([0, 7, 3], dtype=torch.uint8)[second]
    assert torch.equal(labels, expected)
    assert labels.tolist() == [[7, 0, 0]]


def test_single_object_frtm_threshold_is_half():
    fg = torch.tensor([[[0.49, 0.51]]])
    assert probs_to_labels(frtm_aggregate(fg), (5,)).tolist() == [[0, 5]]
    assert probs_to_labels(aggregate(fg, "soft"), (5,)).tolist() == [[0, 5]]


def test_labels_keep_non_contiguous_ids():
    probs = torch.tensor([[[0.1]], [[0.2]], [[0.7]]])
    assert probs_to_labels(probs, (4, 200)).item() == 200
