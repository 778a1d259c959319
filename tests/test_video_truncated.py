"""A video whose decoding stops before the frames its container announces is reported, never silent."""

import numpy as np
import pytest
from PIL import Image

from conftest import truncated_mp4, write_video
from vostool.errors import InputError
from vostool.io.video import DecodeReport, TruncatedVideoError, iter_frames, probe


@pytest.fixture(scope="module")
def long_clip():
    from vostool.data.synthetic import make_clip

    return make_clip(num_frames=40, height=64, width=96, num_objects=2, seed=2)


def test_a_truncated_video_raises_after_its_last_frame(tmp_path, long_clip):
    path = truncated_mp4(tmp_path / "cut.mp4", long_clip.frames)
    info = probe(path)
    assert info.num_frames == 40
    frames = []
    with pytest.raises(TruncatedVideoError, match=r"decoding stopped after \d+ of the 40 frames") as caught:
        for frame in iter_frames(info):
            frames.append(frame.index)
    error = caught.value
    assert 0 < error.read < 40 and error.announced == 40 and isinstance(error, InputError)
    assert frames == list(range(error.read))  # every frame that decoded was delivered first


@pytest.mark.parametrize("prefetch", [0, 3])
def test_partial_input_can_be_accepted_and_is_reported(tmp_path, long_clip, prefetch):
    info = probe(truncated_mp4(tmp_path / "cut.mp4", long_clip.frames))
    report = DecodeReport()
    frames = list(iter_frames(info, prefetch, allow_partial=True, report=report))
    assert report.truncated and report.finished and report.announced == 40
    assert report.read == len(frames) and 0 < len(frames) < 40


def test_complete_videos_and_folders_are_not_truncated(tmp_path, long_clip):
    report = DecodeReport()
    video = write_video(tmp_path / "whole.mp4", long_clip.frames)
    assert len(list(iter_frames(probe(video), report=report))) == 40
    assert not report.truncated and (report.read, report.announced, report.packets) == (40, 40, 40)
    for i, image in enumerate(long_clip.frames[:5]):
        Image.fromarray(image).save(tmp_path / f"{i:05d}.png")
    folder = DecodeReport()
    assert len(list(iter_frames(probe(tmp_path), report=folder))) == 5
    assert not folder.truncated and (folder.read, folder.announced) == (5, 5)
    stopped = DecodeReport()
    for frame in iter_frames(probe(video), prefetch=0, report=stopped):
        if frame.index == 3:
            break
    assert not stopped.truncated and not stopped.finished  # stopping early is the caller's choice


def test_segment_of_a_truncated_video_is_not_ok(tmp_path, long_clip):
    import json

    from fake_method import CopyMethod
    from vostool.engine import segment_video

    video = truncated_mp4(tmp_path / "cut.mp4", long_clip.frames)
    Image.fromarray(long_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    with pytest.raises(TruncatedVideoError) as caught:
        segment_video(video, mask=tmp_path / "mask.png", method=CopyMethod(), out_dir=tmp_path / "out", size=0,
                      progress=False)
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    assert run["status"].startswith("failed: TruncatedVideoError") and run["frames"] == caught.value.read
    assert len(list((tmp_path / "out").glob("*.png"))) == caught.value.read
    assert not list((tmp_path / "out").glob(".*partial"))


def test_segment_accepts_partial_input_when_asked(tmp_path, long_clip, monkeypatch):
    import json

    from typer.testing import CliRunner

    from vostool import registry
    from vostool.cards import MethodCard
    from vostool.cli import app

    # the copying method behind the command line: the test is about decoding, not a network
    monkeypatch.setitem(registry.METHODS, "copy", MethodCard("copy", "fake_method:CopyMethod", "copies", "-"))
    video = truncated_mp4(tmp_path / "cut.mp4", long_clip.frames)
    Image.fromarray(long_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    result = CliRunner().invoke(app, ["segment", str(video), "--mask", str(tmp_path / "mask.png"), "-m", "copy",
                                      "--untrained", "--size", "0", "-o", str(tmp_path / "out"), "--allow-partial", "-q"])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    read = len(list((tmp_path / "out").glob("*.png")))
    assert 0 < read < len(long_clip.frames)
    assert run["status"].startswith(f"partial: {read} of {len(long_clip.frames)} frames")
