"""The engine with a fake method: exact labels, palettes, names, masks on later frames, safe outputs."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import write_video
from fake_method import CopyMethod, CopyOptions
from vostool.engine import processing_size, segment_video
from vostool.errors import MaskError, OptionError, OutputError
from vostool.io.masks import davis_palette


def _png(path):
    with Image.open(path) as image:
        return image.mode, np.array(image), image.getpalette()


def _save_p(path, labels, palette):
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(palette.ravel().tolist())
    image.save(path)


def test_processing_size_rules():
    assert processing_size(1080, 1920, 480) == (480, 853)
    assert processing_size(480, 854, 480) == (480, 854)
    assert processing_size(240, 320, 0) == (240, 320)
    assert processing_size(240, 320, 480) == (480, 640)
    with pytest.raises(OptionError):
        processing_size(10, 10, -1)


def test_labels_palette_and_run_file(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    labels = np.where(small_clip.labels[0] == 2, 200, small_clip.labels[0]).astype(np.uint8)  # ids 1 and 200
    palette = davis_palette().copy()
    palette[200] = (1, 2, 3)
    _save_p(tmp_path / "mask.png", labels, palette)
    method = CopyMethod()
    result = segment_video(video, mask=tmp_path / "mask.png", method=method, out_dir=tmp_path / "out", size=0,
                           progress=False)
    files = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert files == [f"{i:05d}.png" for i in range(6)]
    for name in files:
        mode, data, pal = _png(tmp_path / "out" / name)
        assert mode == "P" and np.array_equal(data, labels)
        assert pal[600:603] == [1, 2, 3]
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    assert run["status"] == "ok" and run["frames"] == 6 and run["object_ids"] == [1, 200]
    assert run["method"]["name"] == "copy" and run["input"]["fps"] == 10.0
    assert result.frames == 6 and result.object_ids == (1, 200)


def test_frame_folder_names_are_kept_and_grayscale_masks_use_davis_colours(tmp_path, small_clip):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, image in enumerate(small_clip.frames):
        Image.fromarray(image).save(frames / f"img_{i * 5}.jpg")
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    segment_video(frames, mask=tmp_path / "mask.png", method=CopyMethod(), out_dir=tmp_path / "out", size=0,
                  progress=False)
    names = sorted((p.name for p in (tmp_path / "out").glob("*.png")), key=lambda n: int(n[4:-4]))
    assert names == [f"img_{i * 5}.png" for i in range(6)]
    _, data, pal = _png(tmp_path / "out" / "img_25.png")
    assert pal[:9] == davis_palette()[:3].ravel().tolist()
    assert np.array_equal(data, small_clip.labels[0])


def test_masks_dir_introduces_objects_on_their_frames(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    masks = tmp_path / "masks"
    masks.mkdir()
    first = np.where(small_clip.labels[0] == 1, 1, 0).astype(np.uint8)
    later = np.where(small_clip.labels[3] == 2, 7, 0).astype(np.uint8)
    _save_p(masks / "00000.png", first, davis_palette())
    _save_p(masks / "00003.png", later, davis_palette())
    method = CopyMethod()
    segment_video(video, masks_dir=masks, method=method, out_dir=tmp_path / "out", size=0, progress=False)
    assert method.sessions[0].object_ids == (1, 7)
    for i in range(6):
        _, data, _ = _png(tmp_path / "out" / f"{i:05d}.png")
        expected_ids = {0, 1} if i < 3 else {0, 1, 7}
        assert set(np.unique(data)) <= expected_ids
        if i == 3:
            assert np.array_equal(data == 7, later == 7)


def test_processing_size_is_what_the_session_sees_and_outputs_are_full_size(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    method = CopyMethod()
    segment_video(video, mask=tmp_path / "mask.png", method=method, out_dir=tmp_path / "out", size=32, progress=False)
    assert method.sessions[0].shapes[0] == (32, 48)
    _, first, _ = _png(tmp_path / "out" / "00000.png")
    _, later, _ = _png(tmp_path / "out" / "00004.png")
    assert first.shape == (64, 96) and np.array_equal(first, small_clip.labels[0])  # the given mask, exactly
    assert later.shape == (64, 96)
    agreement = (later == small_clip.labels[0]).mean()
    assert agreement > 0.95  # down- and up-sampled copy of the mask


def test_overlay_video_has_every_frame(tmp_path, small_clip):
    import av

    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    segment_video(video, mask=tmp_path / "mask.png", method=CopyMethod(), overlay=tmp_path / "ov.mp4", size=0,
                  progress=False)
    with av.open(str(tmp_path / "ov.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        rate = container.streams.video[0].average_rate
    assert len(frames) == 6 and frames[0].shape == (64, 96, 3) and rate == 10
    assert list(tmp_path.glob(".ov.mp4*")) == []


def test_bad_inputs_are_reported_before_any_output(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(np.zeros((64, 96), np.uint8), mode="L").save(tmp_path / "empty.png")
    with pytest.raises(MaskError, match="no object"):
        segment_video(video, mask=tmp_path / "empty.png", method=CopyMethod(), out_dir=tmp_path / "o1", progress=False)
    assert not (tmp_path / "o1").exists()
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    with pytest.raises(OptionError, match="nothing to write"):
        segment_video(video, mask=tmp_path / "mask.png", method=CopyMethod(), progress=False)
    with pytest.raises(OptionError, match="exactly one"):
        segment_video(video, method=CopyMethod(), out_dir=tmp_path / "o2", progress=False)
    tiny = np.zeros((64, 96), np.uint8)
    tiny[9, 9] = 3  # not on the sampling grid of a 4x downscale
    Image.fromarray(np.maximum(tiny, small_clip.labels[0]), mode="L").save(tmp_path / "tiny.png")
    # an object too small for the processing size is kept (its nearest pixel), not an error: test_mask_schedule
    method = CopyMethod()
    result = segment_video(video, mask=tmp_path / "tiny.png", method=method, out_dir=tmp_path / "o3", size=16,
                           progress=False)
    assert 3 in result.object_ids and any("would vanish" in w for w in result.warnings)


def test_non_empty_output_needs_overwrite_and_stale_files_go(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "99999.png").write_bytes(b"old")
    with pytest.raises(OutputError, match="--overwrite"):
        segment_video(video, mask=tmp_path / "mask.png", method=CopyMethod(), out_dir=out, progress=False)
    assert (out / "99999.png").read_bytes() == b"old"
    segment_video(video, mask=tmp_path / "mask.png", method=CopyMethod(), out_dir=out, overwrite=True, progress=False)
    assert not (out / "99999.png").exists() and len(list(out.glob("*.png"))) == 6


def test_a_failure_mid_video_leaves_only_complete_files(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    method = CopyMethod(CopyOptions(fail_at=3))
    with pytest.raises(RuntimeError, match="synthetic failure"):
        segment_video(video, mask=tmp_path / "mask.png", method=method, out_dir=tmp_path / "out",
                      overlay=tmp_path / "ov.mp4", size=0, progress=False)
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["00000.png", "00001.png", "00002.png", "vostool-run.json"]
    for name in written[:3]:
        assert _png(tmp_path / "out" / name)[0] == "P"
    assert not (tmp_path / "ov.mp4").exists() and not list(tmp_path.glob(".ov.mp4*"))
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    assert run["status"].startswith("failed") and run["frames"] == 3


def test_memory_does_not_grow_with_video_length(tmp_path, small_clip):
    """Frames are streamed: peak traced memory for 60 frames stays close to that for 12."""
    import tracemalloc

    peaks = []
    for repeats in (2, 10):
        video = write_video(tmp_path / f"clip{repeats}.mp4", np.concatenate([small_clip.frames] * repeats))
        Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
        tracemalloc.start()
        segment_video(video, mask=tmp_path / "mask.png", method=CopyMethod(), out_dir=tmp_path / f"o{repeats}",
                      size=0, progress=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    frame_bytes = small_clip.frames[0].nbytes
    assert peaks[1] < peaks[0] + 20 * frame_bytes, peaks


def test_without_size_the_method_default_processing_size_is_used(tmp_path, small_clip):
    class SmallDefault(CopyMethod):
        default_size = 32

    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    method = SmallDefault()
    result = segment_video(video, mask=tmp_path / "mask.png", method=method, out_dir=tmp_path / "out", progress=False)
    assert result.processing_size == (32, 48) and method.sessions[0].shapes[0] == (32, 48)
    from vostool.registry import get_method_class

    assert get_method_class("flowvos").default_size == 240 and get_method_class("stm").default_size == 480


def test_a_video_smaller_than_the_default_size_is_not_upscaled_unless_asked(tmp_path, small_clip):
    """Issue 21: a 64x96 clip with the default size 480 runs at 64x96 (480 would cost 56x the pixels)."""
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    method = CopyMethod()  # default_size 480
    result = segment_video(video, mask=tmp_path / "mask.png", method=method, out_dir=tmp_path / "out", progress=False)
    assert result.processing_size == (64, 96) and method.sessions[0].shapes[0] == (64, 96)
    note = json.loads((tmp_path / "out" / "vostool-run.json").read_text())["processing"]["size_note"]
    assert "smaller than the default processing size 480" in note and "--size 480" in note
    asked = segment_video(video, mask=tmp_path / "mask.png", method=method, out_dir=tmp_path / "out2", size=128,
                          progress=False)
    assert asked.processing_size == (128, 192) and asked.run["processing"]["size_note"] is None


def test_fps_and_disk_space_are_checked_before_the_model_is_built(tmp_path, small_clip, monkeypatch):
    """Issue 21: --fps -1 failed after two frames with an FFmpeg code; a full disk after the whole run."""
    import shutil
    from collections import namedtuple

    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    method = CopyMethod()
    for fps in (-1.0, 0.0, float("nan")):
        with pytest.raises(OptionError, match="--fps .*positive frame rate"):
            segment_video(video, mask=tmp_path / "mask.png", method=method, overlay=tmp_path / "o.mp4", fps=fps,
                          progress=False)
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 4000, 4000))  # 6 frames need > 5 KB
    with pytest.raises(OutputError, match="3.9 KB free, but 6 masks of 96x64 need at least 4.7 KB"):
        segment_video(video, mask=tmp_path / "mask.png", method=method, out_dir=tmp_path / "out", progress=False)
    assert method.sessions == [] and not (tmp_path / "out").exists()
    segment_video(video, mask=tmp_path / "mask.png", method=method, out_dir=tmp_path / "out", progress=False,
                  max_frames=4)  # 4 frames fit (3.2 KB)
    assert len(list((tmp_path / "out").glob("*.png"))) == 4


def test_a_disk_that_fills_during_the_run_is_one_output_error(tmp_path, small_clip, monkeypatch):
    """Issue 21: ENOSPC in the PNG writer thread became 'internal error'; now an OutputError naming the file."""
    import errno

    import vostool.io.writers as writers

    calls = []

    def full(path, labels, palette):
        calls.append(path)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, labels, palette)

    real = writers.write_label_png
    monkeypatch.setattr(writers, "write_label_png", full)
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    with pytest.raises(OutputError, match="cannot write .*00002.png: No space left on device"):
        segment_video(video, mask=tmp_path / "mask.png", method=CopyMethod(), out_dir=tmp_path / "out", size=0,
                      progress=False)
    # the overlay's encoder (PyAV raises OSError subclasses) goes through the same writer thread
    import av

    def full_mux(self, *args):
        raise av.error.OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".ov.mp4.partial"))

    monkeypatch.setattr(writers.OverlayVideoWriter, "_encode", full_mux)
    with pytest.raises(OutputError, match="cannot write .*ov.mp4.partial: No space left on device"):
        segment_video(video, mask=tmp_path / "mask.png", method=CopyMethod(), overlay=tmp_path / "ov.mp4", size=0,
                      progress=False)
    assert not (tmp_path / "ov.mp4").exists()
