"""The engine's resize steps against the authors' rules: STM-cycle / FlowVOS's cv2 calls, RGMP's resize."""

from dataclasses import dataclass

import cv2
import numpy as np
import pytest
import torch

from conftest import write_video
from fake_method import CopyMethod, CopyOptions
from vostool.engine import segment_video
from vostool.methods.stm.options import STMOptions
from vostool.resize_rules import RULES, rules_for

AUTHORS, SMOOTH = RULES["authors"], RULES["smooth"]
SIZES = [((480, 854), (240, 427)), ((480, 910), (240, 455)), ((720, 1280), (240, 427)), ((37, 53), (20, 29))]


@dataclass(frozen=True)
class AuthorsCopyOptions(CopyOptions):
    resize: str = "authors"


def _labels(shape, seed=0):
    """Blobs of three objects, with thin parts and single pixels."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 4, size=(max(2, shape[0] // 24), max(2, shape[1] // 24)), dtype=np.uint8)
    labels = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    labels[::17, :] = 2  # one-pixel lines
    return labels


def _authors_first_mask(labels, size, max_obj=3):
    """STM-cycle's pipeline: one-hot (H, W, K) float32 -> cv2.resize(anno, size, INTER_NEAREST) (the flag
    lands in `dst`, so bilinear) -> astype(uint8) -> the object whose channel is 1 (none: 0)."""
    onehot = np.stack([(labels == k) for k in range(max_obj + 1)], axis=-1).astype(np.float32)
    resized = cv2.resize(onehot, (size[1], size[0]), None, cv2.INTER_NEAREST).astype(np.uint8)
    out = np.argmax(resized, axis=-1).astype(np.uint8)
    out[resized.max(axis=-1) == 0] = 0
    return out


@pytest.mark.parametrize("src, dst", SIZES)
def test_first_mask_follows_the_authors_one_hot_resize(src, dst):
    labels = _labels(src)
    expected = _authors_first_mask(labels, dst)
    assert np.array_equal(AUTHORS.mask(labels, dst), expected)
    assert not np.array_equal(SMOOTH.mask(labels, dst), expected)  # the rule matters here


@pytest.mark.parametrize("src, dst", [(b, a) for a, b in SIZES])
def test_probabilities_go_back_as_cv2_inter_nearest(src, dst):
    probs = np.random.default_rng(1).random((4, *src), dtype=np.float32)
    expected = np.stack([cv2.resize(p, (dst[1], dst[0]), interpolation=cv2.INTER_NEAREST) for p in probs])
    assert np.array_equal(AUTHORS.probs(torch.from_numpy(probs), dst).numpy(), expected)
    assert not np.allclose(SMOOTH.probs(torch.from_numpy(probs), dst).numpy(), expected)


@pytest.mark.parametrize("src, dst", SIZES)
def test_frames_shrink_as_cv2_inter_linear_to_rounding(src, dst):
    frame = np.random.default_rng(2).random((*src, 3), dtype=np.float32)
    expected = cv2.resize(frame, (dst[1], dst[0]), interpolation=cv2.INTER_LINEAR)
    ours = AUTHORS.frame(torch.from_numpy(frame).permute(2, 0, 1), dst).permute(1, 2, 0).numpy()
    assert np.abs(ours - expected).max() < 1e-4
    smooth = SMOOTH.frame(torch.from_numpy(frame).permute(2, 0, 1), dst).permute(1, 2, 0).numpy()
    assert np.abs(smooth - expected).max() > 1e-2  # antialiasing is another rule, not rounding


def test_rgmp_resize_is_close_to_cv2_on_the_scales_it_uses():
    """docs/methods.md: RGMP's F.interpolate is close to (not equal to) the authors' cv2.resize."""
    from vostool.methods.rgmp.geometry import resize, scale_size

    rng = np.random.default_rng(3)
    padded = rng.random((512, 864, 3), dtype=np.float32)
    worst = 0.0
    for scale in (0.5, 0.75):
        h, w = scale_size(512, 864, scale)
        ref = cv2.resize(padded, (w, h), interpolation=cv2.INTER_LINEAR)
        ours = resize(torch.from_numpy(padded).permute(2, 0, 1)[None], (h, w))[0].permute(1, 2, 0).numpy()
        prob = rng.random((h, w), dtype=np.float32)
        back = cv2.resize(prob, (864, 512), interpolation=cv2.INTER_LINEAR)
        ours_back = resize(torch.from_numpy(prob)[None, None], (512, 864))[0, 0].numpy()
        worst = max(worst, np.abs(ours - ref).max(), np.abs(ours_back - back).max())
    assert 0 < worst < 1e-4


def test_stm_family_defaults_to_the_authors_rules_and_the_engine_uses_them(tmp_path):
    assert rules_for(STMOptions()).name == "authors" and rules_for(STMOptions(resize="smooth")).name == "smooth"
    from vostool.methods.flowvos.method import FlowVOSOptions
    from vostool.methods.tvos.method import TVOS

    assert rules_for(FlowVOSOptions()).name == "authors" and rules_for(TVOS.Options()).name == "smooth"

    frames = np.zeros((2, 48, 64, 3), np.uint8)
    video = write_video(tmp_path / "v.mp4", frames)
    labels = np.zeros((48, 64), np.uint8)
    labels[10:30, 11:14] = 1  # 3 px wide from an odd column: halved, nearest keeps 2 columns, the authors 1
    from PIL import Image

    Image.fromarray(labels).save(tmp_path / "m.png")
    method = CopyMethod(AuthorsCopyOptions())
    segment_video(video, mask=tmp_path / "m.png", method=method, size=24, out_dir=tmp_path / "out", progress=False)
    given = method.sessions[0]
    assert given.shapes == [(24, 32), (24, 32)]
    expected = AUTHORS.mask(labels, (24, 32))
    assert np.array_equal(given.labels.numpy(), expected) and not np.array_equal(expected, SMOOTH.mask(labels, (24, 32)))
