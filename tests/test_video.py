from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from conftest import write_video
from vostool.errors import VideoError
from vostool.io.video import iter_frames, natural_key, probe


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".avi", ".mov"])
def test_containers_decode_every_frame(tmp_path, small_clip, suffix):
    path = write_video(tmp_path / f"clip{suffix}", small_clip.frames, fps=10)
    info = probe(path)
    assert (info.height, info.width) == small_clip.frames.shape[1:3]
    assert info.fps == Fraction(10)
    frames = list(iter_frames(info))
    assert [f.name for f in frames] == [f"{i:05d}" for i in range(len(small_clip.frames))]
    # Lossy codecs: close to the source, not equal.
    error = np.abs(frames[2].image.astype(int) - small_clip.frames[2].astype(int)).mean()
    assert error < 12


def test_frame_folder_is_naturally_sorted_and_keeps_names(tmp_path, small_clip):
    names = ["frame1", "frame2", "frame10", "frame11"]
    for name, image in zip(names, small_clip.frames):
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    info = probe(tmp_path)
    frames = list(iter_frames(info))
    assert [f.name for f in frames] == names
    assert np.array_equal(frames[2].image, small_clip.frames[2])
    assert sorted(["a10", "a9", "a100"], key=natural_key) == ["a9", "a10", "a100"]


def test_folder_with_mixed_sizes_names_the_file(tmp_path, small_clip):
    Image.fromarray(small_clip.frames[0]).save(tmp_path / "00000.png")
    Image.fromarray(small_clip.frames[1][:32]).save(tmp_path / "00001.png")
    with pytest.raises(VideoError, match="00001.png"):
        list(iter_frames(probe(tmp_path)))


def test_missing_and_undecodable_videos(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe(tmp_path / "missing.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError, match="cannot decode"):
        probe(tmp_path / "bad.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no frames"):
        probe(tmp_path / "empty")


def test_stopping_early_stops_the_decoder_thread(tmp_path, small_clip):
    import threading

    path = write_video(tmp_path / "c.mp4", np.concatenate([small_clip.frames] * 4), fps=10)
    before = threading.active_count()
    for frame in iter_frames(probe(path), prefetch=2):
        if frame.index == 1:
            break
    assert threading.active_count() == before


def test_decoding_streams_with_bounded_prefetch(tmp_path, small_clip):
    """The producer never runs more than `prefetch` frames ahead of the consumer."""
    import vostool.io.video as video

    produced = []

    def source():
        for i in range(50):
            produced.append(i)
            yield i

    consumed = 0
    for item in video._prefetched(source(), depth=3):
        consumed += 1
        # queue (3) + one item in the producer's hands + the one just handed over
        assert len(produced) - consumed <= 4
    assert consumed == 50
