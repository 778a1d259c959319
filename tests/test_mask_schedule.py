"""Masks given for a video: masks that fall on no frame, and the 255-only mask rule."""

import numpy as np
import pytest
from PIL import Image

from conftest import write_video
from fake_method import CopyMethod
from vostool.engine import segment_video
from vostool.errors import MaskError
from vostool.io.mask_schedule import prepare_masks, unused_masks_error
from vostool.io.video import probe


def _masks(tmp_path, small_clip, names):
    folder = tmp_path / "masks"
    folder.mkdir()
    for name in names:
        Image.fromarray(small_clip.labels[0], mode="L").save(folder / name)
    return folder


def test_masks_after_the_announced_end_are_bad_input_before_the_model(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames[:4])
    masks = _masks(tmp_path, small_clip, ["00500.png"])
    info = probe(video)
    assert info.num_frames == 4
    with pytest.raises(MaskError, match="no mask falls on a frame of clip.mp4, which has 4 frames") as caught:
        prepare_masks(info, None, masks, info.size)
    assert caught.value.exit_code == 2
    method = CopyMethod()
    with pytest.raises(MaskError, match="no mask falls on a frame"):
        segment_video(video, masks_dir=masks, method=method, out_dir=tmp_path / "out", size=0, progress=False)
    assert method.sessions == [] and not (tmp_path / "out").exists()  # nothing built, nothing written


def test_a_mask_after_the_announced_end_only_warns_when_another_falls_on_a_frame(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames[:4])
    masks = _masks(tmp_path, small_clip, ["00000.png"])
    Image.fromarray(np.where(small_clip.labels[0] > 0, 9, 0).astype(np.uint8), mode="L").save(masks / "00007.png")
    info = probe(video)
    schedule, _, warnings = prepare_masks(info, None, masks, info.size)
    assert sorted(schedule) == [0, 7]
    assert any("00007.png is after the 4 frames" in w for w in warnings)


def test_without_a_frame_count_the_check_comes_after_the_last_frame(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mkv", small_clip.frames[:4])  # Matroska announces no frame count
    masks = _masks(tmp_path, small_clip, ["00500.png"])
    info = probe(video)
    assert info.num_frames is None
    schedule, _, _ = prepare_masks(info, None, masks, info.size)
    error = unused_masks_error(schedule, frames_read=4, objects_given=0)
    assert isinstance(error, MaskError) and "it had 4 frames and the masks are 00500.png" in str(error)
    assert unused_masks_error(schedule, frames_read=4, objects_given=1) is None
    assert unused_masks_error({}, frames_read=4, objects_given=0) is None


def test_a_mask_whose_only_value_is_255_is_object_255_and_says_so(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames[:4])
    binary = np.where(small_clip.labels[0] > 0, 255, 0).astype(np.uint8)
    Image.fromarray(binary, mode="L").save(tmp_path / "bw.png")
    info = probe(video)
    schedule, _, warnings = prepare_masks(info, tmp_path / "bw.png", None, info.size)
    assert schedule[0].new_ids == [255]
    assert any("read as object 255" in w and "void" in w for w in warnings)
    two = np.where(small_clip.labels[0] == 1, 255, small_clip.labels[0]).astype(np.uint8)
    Image.fromarray(two, mode="L").save(tmp_path / "two.png")
    _, _, warnings = prepare_masks(info, tmp_path / "two.png", None, info.size)
    assert not any("255" in w for w in warnings)


def test_segment_without_a_frame_count_fails_when_no_mask_was_used(tmp_path, small_clip):
    import json

    video = write_video(tmp_path / "clip.mkv", small_clip.frames[:4])
    masks = _masks(tmp_path, small_clip, ["00500.png"])
    with pytest.raises(MaskError, match="it had 4 frames"):
        segment_video(video, masks_dir=masks, method=CopyMethod(), out_dir=tmp_path / "out", size=0, progress=False)
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    assert run["status"].startswith("failed: MaskError")


def test_an_object_smaller_than_a_processing_pixel_is_kept_at_its_nearest_pixel(tmp_path, small_clip):
    """Issue 21: a 5-pixel object stopped a dataset run at --size 120; now it keeps the processing pixel
    that holds most of it, with one warning."""
    from vostool.io.mask_schedule import keep_small_objects
    from vostool.resize_rules import mask_authors

    labels = np.zeros((64, 96), np.uint8)
    labels[20:40, 20:60] = 1
    labels[9, 9:11] = 7  # 3 pixels between the sampling points of a 4x downscale (rows 2, 6, 10, …)
    labels[10, 9] = 7
    Image.fromarray(labels, mode="L").save(tmp_path / "tiny.png")
    info = probe(write_video(tmp_path / "clip.mp4", small_clip.frames[:2]))
    schedule, _, warnings = prepare_masks(info, tmp_path / "tiny.png", None, (16, 24))
    small = schedule[0].processing
    assert small.shape == (16, 24) and np.argwhere(small == 7).tolist() == [[2, 2]]  # 9.5/4 -> row 2, col 2
    assert (small == 1).sum() == 50 and len([w for w in warnings if "would vanish" in w]) == 1
    assert np.array_equal(schedule[0].labels, labels)  # the exact given mask is what the outputs show
    # a rule that loses objects the nearest-neighbour resize keeps (the authors': only full coverage counts)
    # takes the nearest-neighbour pixels
    thin = np.zeros((64, 96), np.uint8)
    thin[20:24, 30:34] = 4  # one 4x4 block off the 4x grid: bilinear coverage never reaches 1
    thin[22:26, 50:54] = 5
    assert 4 not in mask_authors(thin, (16, 24)) and 5 not in mask_authors(thin, (16, 24))
    kept = keep_small_objects(thin, mask_authors(thin, (16, 24)), [4, 5])
    # the nearest-neighbour samples (pixel centres: rows and columns 2, 6, 10, …, 4i+2) inside each block
    assert np.argwhere(kept == 4).tolist() == [[5, 7]] and np.argwhere(kept == 5).tolist() == [[5, 12]]
