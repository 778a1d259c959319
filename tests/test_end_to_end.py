"""`vostool segment --method frtm` end to end on generated videos, through the command line."""

import av
import numpy as np
from PIL import Image
from typer.testing import CliRunner

from conftest import write_video
from vostool.cli import app
from vostool.data.synthetic import make_clip
from vostool.io.masks import davis_palette, write_label_png


def _mean_iou(pred, truth, ids):
    out = []
    for k in ids:
        union = ((pred == k) | (truth == k)).sum()
        out.append(1.0 if union == 0 else ((pred == k) & (truth == k)).sum() / union)
    return float(np.mean(out))


def test_frtm_untrained_segments_a_generated_clip_with_two_objects(tmp_path):
    clip = make_clip(num_frames=16, height=240, width=320, num_objects=2, seed=8)
    video = write_video(tmp_path / "clip.mp4", clip.frames, fps=12)
    write_label_png(tmp_path / "first.png", clip.labels[0])
    result = CliRunner().invoke(app, [
        "segment", str(video), "--mask", str(tmp_path / "first.png"), "--method", "frtm", "--untrained",
        "--set", "backbone=resnet18", "--set", "fast=true", "--set", "refine=false", "--size", "240",
        "--out", str(tmp_path / "masks"), "--overlay", str(tmp_path / "overlay.mp4"), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "masks").glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(16)]
    ours, copy = [], []
    for t, path in enumerate(pngs):
        with Image.open(path) as image:
            assert image.mode == "P" and image.size == (320, 240)
            assert image.getpalette()[:12] == davis_palette()[:4].ravel().tolist()
            labels = np.array(image)
        assert set(np.unique(labels)) <= {0, 1, 2}
        if t == 0:
            assert np.array_equal(labels, clip.labels[0])
        else:
            ours.append(_mean_iou(labels, clip.labels[t], (1, 2)))
            copy.append(_mean_iou(clip.labels[0], clip.labels[t], (1, 2)))
    # Random backbone, no segmentation network: the online target model alone follows both objects.
    assert np.mean(ours) > np.mean(copy) + 0.2, (np.mean(ours), np.mean(copy))
    with av.open(str(tmp_path / "overlay.mp4")) as container:
        decoded = [f for f in container.decode(video=0)]
    assert len(decoded) == 16 and (decoded[0].width, decoded[0].height) == (320, 240)


def test_frtm_full_network_through_the_cli_on_a_frame_folder(tmp_path):
    clip = make_clip(num_frames=5, height=96, width=128, num_objects=2, seed=2)
    frames = tmp_path / "frames"
    frames.mkdir()
    for t, image in enumerate(clip.frames):
        Image.fromarray(image).save(frames / f"{t:04d}.jpg", quality=95)
    write_label_png(tmp_path / "first.png", clip.labels[0])
    result = CliRunner().invoke(app, [
        "segment", str(frames), "--mask", str(tmp_path / "first.png"), "--untrained", "--set", "backbone=resnet18",
        "--size", "0", "--precision", "bf16", "--out", str(tmp_path / "masks"), "--overlay", str(tmp_path / "o.mkv"), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "masks").glob("*.png")) == [f"{t:04d}.png" for t in range(5)]
    with av.open(str(tmp_path / "o.mkv")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5


def _segment_late_object_clip(tmp_path, method):
    """Object 1 given on frame 0, object 2 on frame 3 (--masks DIR), through the CLI."""
    clip = make_clip(num_frames=7, height=64, width=96, num_objects=2, seed=5)
    video = write_video(tmp_path / "clip.mp4", clip.frames, fps=10)
    masks = tmp_path / "masks_in"
    masks.mkdir()
    write_label_png(masks / "00000.png", np.where(clip.labels[0] == 1, 1, 0).astype(np.uint8))
    write_label_png(masks / "00003.png", np.where(clip.labels[3] == 2, 2, 0).astype(np.uint8))
    result = CliRunner().invoke(app, [
        "segment", str(video), "--masks", str(masks), "--method", method, "--untrained", "--size", "0",
        "--out", str(tmp_path / "out"), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(7)]
    labels = [np.array(Image.open(p)) for p in pngs]
    assert np.array_equal(labels[0], np.where(clip.labels[0] == 1, 1, 0))
    assert all(set(np.unique(lab)) <= {0, 1} for lab in labels[:3])
    assert np.array_equal(labels[3] == 2, clip.labels[3] == 2)  # the new object is exactly its mask there
    assert all(set(np.unique(lab)) <= {0, 1, 2} for lab in labels[3:])


def test_stm_untrained_through_the_cli_with_an_object_that_appears_later(tmp_path):
    _segment_late_object_clip(tmp_path, "stm")


def test_flowvos_untrained_through_the_cli_with_an_object_that_appears_later(tmp_path):
    _segment_late_object_clip(tmp_path, "flowvos")
