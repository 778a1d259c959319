"""`vostool segment` stopped by SIGTERM (a process manager, `timeout`, `kill`) ends like Ctrl-C: the
frames written so far are complete, the run file says why it stopped, and the exit status is 143."""

import json
import sys

from PIL import Image

from conftest import terminate_when, write_video


def test_sigterm_during_segment_leaves_complete_files(tmp_path):
    from vostool.data.synthetic import make_clip

    clip = make_clip(num_frames=400, height=48, width=64, num_objects=2, seed=3)
    video = write_video(tmp_path / "long.mp4", clip.frames)
    Image.fromarray(clip.labels[0], mode="L").save(tmp_path / "mask.png")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "vostool", "segment", str(video), "--mask", str(tmp_path / "mask.png"), "-m", "tvos",
            "--untrained", "--size", "0", "-o", str(out), "-q"]
    returncode, output = terminate_when(args, lambda: len(list(out.glob("*.png"))) >= 3)
    assert returncode == 143, output
    assert "interrupted" in output
    run = json.loads((out / "vostool-run.json").read_text())
    assert run["status"].startswith("failed: KeyboardInterrupt") and 3 <= run["frames"] < 400
    assert len(list(out.glob("*.png"))) == run["frames"]
    assert not list(out.glob(".*")), list(out.iterdir())  # no hidden .partial files
