"""benchmark-fps: timing definitions (with a fake session that sleeps known durations) and the command."""

import json
import time

import pytest
from typer.testing import CliRunner

from fake_method import CopyMethod, CopySession
from vostool.benchmark import BenchmarkConfig, SequenceTiming, _time_sequence, generated_clip, summarize
from vostool.cli import app
from vostool.registry import method_names


class SleepySession(CopySession):
    def step(self, frame, mask=None):
        time.sleep(self.method.first if self.frames == 0 else self.method.later)
        return super().step(frame, mask)


class SleepyMethod(CopyMethod):
    def __init__(self, first, later):
        super().__init__()
        self.first, self.later = first, later

    def new_session(self):
        return SleepySession(self)


def test_fps_definitions():
    runs = [SequenceTiming(3, [1.0, 0.1, 0.1], [1.2, 0.2, 0.2], 1.6), SequenceTiming(2, [1.0, 0.3], [1.1, 0.4], 1.5)]
    r = summarize("m", 1, runs, 12.0, "untrained")
    assert r.first_frame_s == pytest.approx(1.0)
    assert r.fps_model == pytest.approx(3 / 0.5)  # later frames over their step time
    assert r.fps_total == pytest.approx(5 / 3.1)  # all frames over all wall time
    assert r.fps_sequence_mean == pytest.approx((3 / 1.6 + 2 / 1.5) / 2)
    assert r.model_ms_median == pytest.approx(100.0) and r.e2e_ms_mean == pytest.approx(800 / 3)


def test_timings_follow_known_sleeps(tmp_path):
    video, mask = generated_clip(tmp_path, objects=2, frames=8, size=48, seed=1)
    config = BenchmarkConfig(methods=["sleepy"], frames=8, size=48, device="cpu")
    fast = _time_sequence(SleepyMethod(0.12, 0.02), video, mask, tmp_path / "a", config)
    slow = _time_sequence(SleepyMethod(0.12, 0.06), video, mask, tmp_path / "b", config)
    fast_r, slow_r = summarize("x", 2, [fast], None, ""), summarize("x", 2, [slow], None, "")
    assert slow_r.model_ms_median / fast_r.model_ms_median == pytest.approx(3, rel=0.25)
    assert fast_r.first_frame_s / (fast_r.model_ms_median / 1000) == pytest.approx(6, rel=0.25)
    # End to end includes the model time plus the engine's work, never less.
    assert all(e >= m * 0.95 for e, m in zip(fast.e2e_s[1:], fast.model_s[1:]))
    assert fast.total_s >= sum(fast.model_s)


def test_command_runs_every_method_and_lists_missing_ones(tmp_path, monkeypatch):
    from vostool import registry

    monkeypatch.setitem(registry.PLANNED, "later", "a method planned for a later version")
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["benchmark-fps", "--objects", "1", "--frames", "4", "--size", "64",
                                      "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["protocol"]) >= {"device", "precision", "size", "io", "weights"}
    by_method = {r["method"]: r for r in report["results"]}
    for name in method_names():
        r = by_method[name]
        assert r["status"] == "ok", r
        for key in ("first_frame_s", "model_ms_mean", "model_ms_median", "e2e_ms_mean", "fps_model", "fps_total",
                    "fps_sequence_mean", "peak_memory_mb"):
            assert r[key] is not None and r[key] > 0, (name, key)
        assert r["weights"].startswith("untrained")
    assert by_method["later"]["status"].startswith("missing")


@pytest.mark.parametrize("args,message", [
    (["--method", "nosuch"], "unknown method"),
    (["--objects", "0"], "between 1 and 20"),
    (["--objects", "a,b"], "comma-separated"),
    (["--frames", "1"], "at least 2"),
])
def test_bad_arguments_are_one_line(args, message):
    result = CliRunner().invoke(app, ["benchmark-fps", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
