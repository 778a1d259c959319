"""The procedural video generator: make_clip unchanged, the richer SyntheticVideo, and `vostool synth`."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vostool.cli import app
from vostool.data.sequences import davis_sequences
from vostool.data.synth_dataset import write_dataset
from vostool.data.synth_video import ALL_SHAPES, SynthConfig, SyntheticVideo, make_video
from vostool.data.synthetic import make_clip

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SMALL = SynthConfig(height=72, width=112, frames=12)


def test_make_clip_still_makes_the_bundled_example():
    # examples/make_example.py draws the example with make_clip(24, 240, 320, 2, seed=7).
    clip = make_clip(num_frames=24, height=240, width=320, num_objects=2, seed=7)
    with Image.open(EXAMPLES / "two_objects_mask.png") as mask:
        assert np.array_equal(np.array(mask), clip.labels[0])


def test_videos_are_deterministic_and_render_frame_by_frame():
    a = make_video((3, 1), SMALL)
    b = make_video((3, 1), SMALL)
    other = make_video((3, 2), SMALL)
    assert a.frames.shape == (12, 72, 112, 3) and a.labels.shape == (12, 72, 112)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.frames, other.frames)
    video = SyntheticVideo((3, 1), SMALL)
    image, label = video.render(7)  # any frame, without rendering the others
    assert np.array_equal(image, a.frames[7]) and np.array_equal(label, a.labels[7])
    assert np.array_equal(video.label(7), a.labels[7])


def test_every_object_is_visible_on_the_first_frame():
    for seed in range(12):
        video = SyntheticVideo((0, seed), SynthConfig(height=64, width=96, frames=2, max_objects=4))
        ids = set(np.unique(video.label(0)).tolist()) - {0}
        assert ids == set(range(1, video.num_objects + 1)), (seed, ids)


def _holes(mask: np.ndarray) -> int:
    """Background regions enclosed by the object (connected components of the inverted mask, minus the outside)."""
    padded = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    return cv2.connectedComponents(padded, connectivity=4)[0] - 2


def test_shapes_textures_and_distractors():
    config = SynthConfig(height=96, width=128, frames=1, min_objects=3, max_objects=3, distractors=2, leave=0.0)
    shapes, patterns, distractors, holes = set(), set(), 0, 0
    for seed in range(16):
        video = SyntheticVideo((1, seed), config)
        for actor in video.actors:
            shapes.add(actor.shape)
            patterns.add(actor.pattern)
            if actor.label == 0:
                distractors += 1
                # A look-alike: the appearance of one of the labelled objects.
                assert any(t.shape == actor.shape and t.pattern == actor.pattern and t.label > 0 for t in video.actors)
        for k in range(1, video.num_objects + 1):
            holes += _holes(video.label(0) == k) > 0
    assert shapes == set(ALL_SHAPES) and len(patterns) == 4
    assert distractors > 0 and holes > 0


def test_objects_leave_the_frame_and_come_back():
    config = SynthConfig(height=64, width=96, frames=60, leave=1.0, speed=2.0, min_objects=2, max_objects=2)
    returns = 0
    for seed in range(4):
        video = SyntheticVideo((2, seed), config)
        counts = np.stack([np.bincount(video.label(t).ravel(), minlength=3)[1:3] for t in range(config.frames)])
        for k in range(2):
            gone = np.flatnonzero(counts[:, k] == 0)
            returns += len(gone) > 0 and bool((counts[gone[0]:, k] > 0).any())
    assert returns > 0


def _background_change(camera_motion: float) -> float:
    config = SynthConfig(height=64, width=96, frames=12, camera_motion=camera_motion, noise=0.0, distractors=0)
    video = SyntheticVideo((4, 0), config)
    (a, la), (b, lb) = video.render(0), video.render(11)
    free = (la == 0) & (lb == 0)
    return float(np.abs(a.astype(int) - b.astype(int))[free].mean())


def test_camera_motion_moves_the_background():
    assert _background_change(0.0) == 0.0
    assert _background_change(3.0) > 1.0


def test_synth_writes_a_davis_layout_dataset(tmp_path):
    names = write_dataset(tmp_path / "set", 2, SMALL, seed=5, split="val")
    seqs = davis_sequences(tmp_path / "set", "val")
    assert [s.name for s in seqs] == names and all(len(s) == 12 == len(s.annotations) for s in seqs)
    video = make_video((5, 1), SMALL)
    assert np.array_equal(seqs[1].read_annotation("00003"), video.labels[3])
    assert np.abs(seqs[1].read_frame(3).astype(int) - video.frames[3]).mean() < 3  # JPEG


def test_synth_command_and_its_errors(tmp_path):
    runner = CliRunner()
    out = tmp_path / "set"
    args = ["synth", "--out", str(out), "--sequences", "1", "--set", "frames=3", "--set", "height=32", "--set", "width=48", "-q"]
    assert runner.invoke(app, args).exit_code == 0
    assert len(list((out / "Annotations/480p/synth-0-0000").glob("*.png"))) == 3
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "not empty" in again.output and "Traceback" not in again.output
    bad = runner.invoke(app, ["synth", "--out", str(tmp_path / "x"), "--set", "frames=0"])
    assert bad.exit_code == 2 and "frames must be at least 1" in bad.output
    bad = runner.invoke(app, ["synth", "--out", str(tmp_path / "x"), "--set", "colour=red"])
    assert bad.exit_code == 2 and "unknown option 'colour'" in bad.output


@pytest.mark.parametrize("seed", [0, 1])
def test_pixels_stay_in_range_and_labels_are_contiguous(seed):
    clip = make_video((6, seed), SynthConfig(height=48, width=64, frames=4, max_objects=5))
    ids = set(np.unique(clip.labels).tolist()) - {0}
    assert ids <= set(range(1, 6)) and clip.frames.dtype == np.uint8
