"""Many videos with one command: one model, failures do not stop the rest, finished videos are skipped."""

import json

from typer.testing import CliRunner

from batch_data import FAST, FAST_OPTIONS, write_videos
from vostool.batch import FAILED, OK, SKIPPED, segment_many
from vostool.cli import app
from vostool.jobs import collect_jobs


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_a_folder_with_a_broken_video_then_a_rerun_that_skips_what_is_done(tmp_path, monkeypatch):
    clips = tmp_path / "clips"
    write_videos(clips, 3)
    (clips / "broken.mp4").write_bytes(b"not a video")
    (clips / "broken.png").write_bytes((clips / "v0.png").read_bytes())
    (clips / "v1.png").unlink()  # no mask: fails with one line, the others go on
    from vostool import loader

    loads = []
    real = loader.load_method
    monkeypatch.setattr(loader, "load_method", lambda *a, **k: loads.append(1) or real(*a, **k))
    code, output = _cli("segment", clips, "--out", tmp_path / "out", *FAST)
    assert code == 1, output
    assert len(loads) == 1  # one model for all the videos
    assert "failed: broken:" in output and "failed: v1: no mask for" in output and "Traceback" not in output
    summary = json.loads((tmp_path / "out" / "vostool-batch.json").read_text())
    status = {v["name"]: v["status"] for v in summary["videos"]}
    assert status == {"broken": FAILED, "v0": OK, "v1": FAILED, "v2": OK}
    assert summary["counts"] == {OK: 2, SKIPPED: 0, FAILED: 2}
    assert all(v["frames"] == 4 for v in summary["videos"] if v["status"] == OK)
    for name in ("v0", "v2"):
        assert len(list((tmp_path / "out" / name).glob("*.png"))) == 4
    first_records = {n: (tmp_path / "out" / n / "vostool-run.json").read_text() for n in ("v0", "v2")}

    (clips / "v1.png").write_bytes((clips / "v0.png").read_bytes())  # the user fixes v1, re-runs the same command
    code, output = _cli("segment", clips, "--out", tmp_path / "out", *FAST)
    assert code == 1, output  # broken.mp4 still fails
    status = {v["name"]: v["status"] for v in json.loads((tmp_path / "out" / "vostool-batch.json").read_text())["videos"]}
    assert status == {"broken": FAILED, "v0": SKIPPED, "v1": OK, "v2": SKIPPED}
    assert "skipped (done before)" in output
    # skipped means untouched: the records of the first run are still there
    assert {n: (tmp_path / "out" / n / "vostool-run.json").read_text() for n in ("v0", "v2")} == first_records

    # a changed option makes the earlier outputs stale: done again, not skipped
    (clips / "broken.mp4").unlink()
    code, output = _cli("segment", clips, "--out", tmp_path / "out", *FAST, "--set", "update_interval=2")
    assert code == 0, output
    status = {v["name"]: v["status"] for v in json.loads((tmp_path / "out" / "vostool-batch.json").read_text())["videos"]}
    assert status == {"v0": OK, "v1": OK, "v2": OK}


class _InterruptOn:
    """A progress reporter factory that raises KeyboardInterrupt (as Ctrl-C does) inside the frame loop."""

    def __init__(self, video: int, frame: int) -> None:
        self.video, self.frame, self.calls = video, frame, 0

    def __call__(self):
        self.calls += 1
        outer = self

        class Reporter:
            def start(self, total, description):
                self.count = 0

            def advance(self, frames=1):
                self.count += frames
                if outer.calls == outer.video and self.count == outer.frame:
                    raise KeyboardInterrupt

            def stop(self):
                pass

        return Reporter()


def test_interrupted_then_rerun_does_every_video_exactly_once(tmp_path):
    write_videos(tmp_path / "clips", 5)
    jobs = collect_jobs([tmp_path / "clips"], tmp_path / "out")
    settings = dict(method="frtm", untrained=True, options=FAST_OPTIONS, size=0, device="cpu")
    interrupted = False
    try:
        segment_many(jobs, progress=_InterruptOn(video=3, frame=2), **settings)
    except KeyboardInterrupt:
        interrupted = True
    assert interrupted
    partial = json.loads((tmp_path / "out" / "v2" / "vostool-run.json").read_text())
    assert partial["status"].startswith("failed: KeyboardInterrupt")
    assert len(list((tmp_path / "out" / "v2").glob("*.png"))) == 2
    assert not (tmp_path / "out" / "v3").exists()

    result = segment_many(jobs, summary=tmp_path / "out" / "summary.json", **settings)
    assert [r.status for r in result.results] == [SKIPPED, SKIPPED, OK, OK, OK]  # v2 was not finished: redone
    assert not result.failed
    for k in range(5):
        out = tmp_path / "out" / f"v{k}"
        assert len(list(out.glob("*.png"))) == 4
        assert json.loads((out / "vostool-run.json").read_text())["status"] == "ok"
    again = segment_many(jobs, **settings)
    assert [r.status for r in again.results] == [SKIPPED] * 5
