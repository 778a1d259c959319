"""`vostool segment --method tvos --untrained` end to end on generated clips, through the command line."""

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from conftest import write_video
from vostool.cli import app
from vostool.data.synthetic import make_clip
from vostool.io.masks import davis_palette, write_label_png


def test_tvos_untrained_segments_a_generated_clip(tmp_path):
    clip = make_clip(num_frames=12, height=96, width=136, num_objects=2, seed=8)
    video = write_video(tmp_path / "clip.mp4", clip.frames, fps=10)
    write_label_png(tmp_path / "first.png", clip.labels[0])
    result = CliRunner().invoke(app, [
        "segment", str(video), "--mask", str(tmp_path / "first.png"), "--method", "tvos", "--untrained",
        "--set", "backbone=resnet18", "--size", "0", "--out", str(tmp_path / "masks"), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "masks").glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(12)]
    for t, path in enumerate(pngs):
        with Image.open(path) as image:
            assert image.mode == "P" and image.size == (136, 96)
            assert image.getpalette()[:9] == davis_palette()[:3].ravel().tolist()
            labels = np.array(image)
        assert set(np.unique(labels)) <= {0, 1, 2}
        if t == 0:
            assert np.array_equal(labels, clip.labels[0])


def test_tvos_masks_folder_with_gapped_ids_a_late_object_and_the_input_palette(tmp_path):
    clip = make_clip(num_frames=8, height=64, width=96, num_objects=3, seed=3)
    frames = tmp_path / "frames"
    frames.mkdir()
    for t, image in enumerate(clip.frames):
        Image.fromarray(image).save(frames / f"{t:05d}.png")
    labels = np.array([0, 4, 9, 20] + [0] * 252, dtype=np.uint8)[clip.labels]
    palette = np.random.default_rng(1).integers(0, 256, (256, 3)).astype(np.uint8)
    masks = tmp_path / "masks"
    masks.mkdir()
    write_label_png(masks / "00000.png", np.where(labels[0] == 20, 0, labels[0]), palette)
    write_label_png(masks / "00003.png", np.where(labels[3] == 20, 20, 0), palette)
    result = CliRunner().invoke(app, [
        "segment", str(frames), "--masks", str(masks), "--method", "tvos", "--untrained", "--set",
        "backbone=resnet18", "--set", "keep_first_frame=true", "--size", "0", "--out", str(tmp_path / "out"), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    for t in range(8):
        with Image.open(tmp_path / "out" / f"{t:05d}.png") as image:
            assert image.getpalette() == palette.ravel().tolist()
            out = np.array(image)
        assert set(np.unique(out)) <= ({0, 4, 9, 20} if t >= 3 else {0, 4, 9})
        if t == 3:
            assert np.array_equal(out == 20, labels[3] == 20)
