"""`vostool segment --method rgmp --untrained` end to end on a generated video, through the command line."""

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from conftest import write_video
from vostool.cli import app
from vostool.data.synthetic import make_clip
from vostool.io.masks import davis_palette, write_label_png


def test_rgmp_untrained_segments_a_generated_clip_with_an_object_joining_later(tmp_path):
    clip = make_clip(num_frames=6, height=64, width=96, num_objects=2, seed=5)
    video = write_video(tmp_path / "clip.mp4", clip.frames, fps=10)
    masks = tmp_path / "given"
    masks.mkdir()
    write_label_png(masks / "00000.png", np.where(clip.labels[0] == 1, 1, 0).astype(np.uint8))
    write_label_png(masks / "00003.png", clip.labels[3])  # object 2 joins on frame 3
    args = ["segment", str(video), "--masks", str(masks), "--method", "rgmp", "--untrained", "--size", "0", "--quiet"]
    result = CliRunner().invoke(app, args + ["--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, args + ["--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output

    pngs = sorted((tmp_path / "a").glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(6)]
    labels = []
    for path in pngs:
        with Image.open(path) as image:
            assert image.mode == "P" and image.size == (96, 64)
            assert image.getpalette()[:9] == davis_palette()[:3].ravel().tolist()
            labels.append(np.array(image))
        with Image.open(tmp_path / "b" / path.name) as image:
            assert np.array_equal(np.array(image), labels[-1])  # --untrained is deterministic
    assert np.array_equal(labels[0], np.where(clip.labels[0] == 1, 1, 0))
    assert set(np.unique(labels[1])) <= {0, 1} and set(np.unique(labels[5])) <= {0, 1, 2}
    joined = clip.labels[3] == 2
    assert (labels[3][joined] == 2).all()  # given on that frame: exactly its mask
    run = json.loads((tmp_path / "a" / "vostool-run.json").read_text())
    assert run["method"]["name"] == "rgmp" and run["method"]["weights"] == "untrained"
    assert run["method"]["options"]["scales"] == [0.5, 0.75, 1.0] and run["object_ids"] == [1, 2]
