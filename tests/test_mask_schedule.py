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
