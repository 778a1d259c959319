"""The one progress protocol: quiet and tqdm defaults, and every loop reporting through it."""

import io

import pytest

from vostool.progress import NoProgress, Progress, TqdmProgress, reporter


class Recorder(NoProgress):
    def __init__(self):
        self.calls = []

    def start(self, total, description, unit="frames", done=0):
        self.calls.append(("start", total, unit, done))

    def advance(self, n=1):
        self.calls.append(("advance", n))

    def stop(self):
        self.calls.append(("stop",))


def test_defaults_follow_the_protocol():
    assert isinstance(NoProgress(), Progress) and isinstance(TqdmProgress(), Progress)
    assert isinstance(reporter(True), TqdmProgress) and isinstance(reporter(False), NoProgress)
    assert isinstance(reporter(None), NoProgress)
    mine = Recorder()
    assert reporter(mine) is mine


def test_tqdm_bar_counts_resumes_and_takes_absolute_positions(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    bar = TqdmProgress()
    bar.start(10, "steps", unit="steps", done=3)
    bar.advance(2)
    assert bar._bar.n == 5
    bar.update({"loss": 0.5}, done=8)
    assert bar._bar.n == 8
    bar.message("a note")
    bar.stop()
    assert "a note" in err.getvalue() and "8/10" in err.getvalue()


def test_download_reports_bytes_through_the_protocol(tmp_path, monkeypatch):
    import hashlib
    import http.server
    import threading

    from vostool import weights

    payload = bytes(range(256)) * 40
    (tmp_path / "w.pth").write_bytes(payload)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        bar = Recorder()
        url = f"http://127.0.0.1:{server.server_address[1]}/w.pth"
        digest = weights.download(url, tmp_path / "out" / "w.pth", hashlib.sha256(payload).hexdigest(), progress=bar)
    finally:
        server.shutdown()
    assert digest == hashlib.sha256(payload).hexdigest()
    assert bar.calls[0] == ("start", len(payload), "B", 0) and bar.calls[-1] == ("stop",)
    assert sum(c[1] for c in bar.calls if c[0] == "advance") == len(payload)


@pytest.mark.parametrize("name", ["NoProgress", "TqdmProgress"])
def test_reporters_can_stop_after_a_failed_start(name):
    import vostool.progress as progress

    getattr(progress, name)().stop()  # a loop that fails before start() still calls stop() in finally
