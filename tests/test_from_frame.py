"""`--from-frame N`: frames before N kept on disk, the rest equal to a new session started on N from
the correction drawn over the earlier output."""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from batch_data import FAST
from evaluate_data import save_png
from vostool.cli import app
from vostool.from_frame import seed_mask
from vostool.io.masks import read_label_image


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def frames(tmp_path, small_clip):
    """The 6-frame clip as a folder of frames, its first-frame mask, and a full run's outputs."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, image in enumerate(small_clip.frames):
        Image.fromarray(image).save(folder / f"{t:05d}.png")
    save_png(tmp_path / "masks" / "00000.png", small_clip.labels[0])
    code, output = _cli("segment", folder, "--masks", tmp_path / "masks", "--out", tmp_path / "out", *FAST)
    assert code == 0, output
    return folder


def test_seed_mask_draws_the_correction_over_the_earlier_estimate():
    previous = np.array([[1, 1, 2, 2], [1, 1, 2, 2]], np.uint8)
    correction = np.array([[0, 0, 0, 1], [0, 0, 0, 0]], np.uint8)
    # object 1 is exactly as drawn (its old pixels go), object 2 keeps its estimate less the drawn pixel
    assert seed_mask(previous, correction).tolist() == [[0, 0, 2, 1], [0, 0, 2, 2]]


def test_from_frame_keeps_the_start_and_equals_a_session_started_on_the_corrected_frame(tmp_path, frames, small_clip):
    out = tmp_path / "out"
    # The random network loses objects; let the earlier estimate on frame 3 hold both (object 2 off by 3 px).
    earlier = np.roll(small_clip.labels[3], 3, axis=1)
    save_png(out / "00003.png", earlier)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.glob("*.png"))}
    correction = np.zeros_like(small_clip.labels[3])
    correction[small_clip.labels[3] == 1] = 1  # the user redraws object 1 on frame 3 (from the truth)
    save_png(tmp_path / "masks" / "00003.png", correction)
    code, output = _cli("segment", frames, "--masks", tmp_path / "masks", "--out", out, "--from-frame", 3,
                        "--overlay", tmp_path / "overlay.mp4", *FAST)
    assert code == 0, output
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.glob("*.png"))}
    assert sorted(after) == sorted(before)
    assert all(after[n] == before[n] for n in ("00000.png", "00001.png", "00002.png"))  # not even rewritten
    seed = seed_mask(earlier, correction)
    assert (read_label_image(out / "00003.png").labels == seed).all()
    assert (earlier == 2).any() and (seed == 2).any()  # object 2, not in the correction, was re-seeded from the earlier output

    # the reference: a plain run on frames 3.. from that seed, whose outputs have the same names
    ref_frames = tmp_path / "ref_frames"
    ref_frames.mkdir()
    for t in range(3, 6):
        shutil.copy(frames / f"{t:05d}.png", ref_frames / f"{t:05d}.png")
    save_png(tmp_path / "ref_masks" / "00003.png", seed)
    code, output = _cli("segment", ref_frames, "--masks", tmp_path / "ref_masks", "--out", tmp_path / "ref", *FAST)
    assert code == 0, output
    for t in range(3, 6):
        name = f"{t:05d}.png"
        assert (read_label_image(out / name).labels == read_label_image(tmp_path / "ref" / name).labels).all(), name

    run = json.loads((out / "vostool-run.json").read_text())
    assert run["status"] == "ok" and run["frames"] == 3
    assert run["from_frame"]["frame"] == 3 and run["from_frame"]["kept_frames"] == 3
    assert run["from_frame"]["seeded_from"].endswith("00003.png")
    assert run["input"]["masks"] == [str(tmp_path / "masks" / "00003.png")]
    assert run["previous"]["frames"] == 6 and "from_frame" not in run["previous"]
    import av

    with av.open(str(tmp_path / "overlay.mp4")) as container:  # re-encoded from all six PNGs
        assert sum(1 for _ in container.decode(video=0)) == 6


def test_from_frame_errors_are_one_line(tmp_path, frames):
    masks = tmp_path / "masks"
    code, output = _cli("segment", frames, "--masks", masks, "--out", tmp_path / "out", "--from-frame", 3, *FAST)
    assert code == 2 and "no mask for frame 3" in output, output
    save_png(tmp_path / "fix.png", np.ones((64, 96), np.uint8))
    os.remove(tmp_path / "out" / "00001.png")
    code, output = _cli("segment", frames, "--mask", tmp_path / "fix.png", "--out", tmp_path / "out", "--from-frame", 3,
                        *FAST)
    assert code == 2 and "00001.png is missing" in output and "Traceback" not in output, output
    code, output = _cli("segment", frames, "--mask", tmp_path / "fix.png", "--from-frame", 3, *FAST)
    assert code == 2 and "--from-frame needs --out" in output
    code, output = _cli("segment", frames, "--mask", tmp_path / "fix.png", "--out", tmp_path / "out", "--from-frame", 9,
                        *FAST)
    assert code == 2 and "has 6 frames" in output


def test_an_interrupted_run_continues_from_where_it_stopped(tmp_path, frames, monkeypatch):
    """A run stopped after its first frame (Ctrl-C): the same command says how to continue;
    `--from-frame 1` without a mask continues from the run's own output of frame 0, kept as written.
    (The untrained network of these tests loses its objects after a few frames; frame 0 is the given
    mask, so it always has them.)"""
    from vostool.methods import session as session_module

    out = tmp_path / "stopped"
    real_step = session_module.Session.step
    calls = {"n": 0}

    def step_then_interrupt(self, frame, mask=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_step(self, frame, mask)

    with monkeypatch.context() as patch:
        patch.setattr(session_module.Session, "step", step_then_interrupt)
        code, output = _cli("segment", frames, "--masks", tmp_path / "masks", "--out", out, *FAST)
    assert code == 130 and len(list(out.glob("*.png"))) == 1, output
    kept = {p.name: p.read_bytes() for p in out.glob("*.png")}
    code, output = _cli("segment", frames, "--masks", tmp_path / "masks", "--out", out, *FAST)
    assert code == 2 and "--from-frame 1" in output, output  # nothing is touched, the way on is named
    code, output = _cli("segment", frames, "--out", out, "--from-frame", 1, *FAST)
    assert code == 0, output
    assert all((out / name).read_bytes() == data for name, data in kept.items())
    assert len(list(out.glob("*.png"))) == 6
    run = json.loads((out / "vostool-run.json").read_text())
    assert run["status"] == "ok" and run["from_frame"]["correction"] is None
    assert run["from_frame"]["seeded_from"].endswith("00000.png")
