"""Checks before the work (issue 21): one line and exit 2 before a model is built or a frame processed."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vostool.cli import app
from vostool.errors import OptionError, OutputError
from vostool.preflight import check_fps, check_writable, choose_size, png_bytes_low


def test_fps_must_be_a_finite_positive_number():
    check_fps(None)
    check_fps(29.97)
    for bad in (-1, 0, float("inf"), float("nan")):
        with pytest.raises(OptionError, match="positive frame rate"):
            check_fps(bad)


def test_an_output_under_a_file_is_refused(tmp_path):
    """Testable as root: a file as a parent (an unwritable folder: the next test, as user nobody)."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        check_writable(tmp_path / "file" / "runs", "--runs-dir")
    check_writable(tmp_path / "new" / "deeper", "--out")  # can be created: fine, and nothing is created
    assert not (tmp_path / "new").exists()


def test_a_read_only_folder_is_refused_for_a_user_without_write_permission(tmp_path):
    """chmod 0555 binds only users other than root: as root the check runs in a forked child that
    became user nobody (the interpreter is already loaded, so nothing has to be readable by nobody)."""
    import tempfile

    parent = Path(tempfile.mkdtemp(prefix="vostool-ro-", dir=tmp_path.anchor + "tmp"))
    parent.chmod(0o755)  # pytest's own folders are 0700: nobody could not even look inside
    folder = parent / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        _check_as_nobody(folder)
    finally:
        folder.chmod(0o755)
        folder.rmdir()
        parent.rmdir()


def _check_as_nobody(folder):
    if os.geteuid() != 0:
        with pytest.raises(OutputError, match="permission denied"):
            check_writable(folder / "sub", "--runs-dir")
        return
    pid = os.fork()
    if pid == 0:  # the child: 0 = refused with the expected line, 1 = accepted, 2 = anything else
        status = 2
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                check_writable(folder / "sub", "--runs-dir")
                status = 1
            except OutputError as exc:
                status = 0 if "permission denied" in str(exc) and "--runs-dir" in str(exc) else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    check_writable(folder / "sub", "--runs-dir")  # root itself may write there, as the kernel lets it


def test_train_refuses_an_unwritable_runs_dir_before_the_data(tmp_path):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(app, ["train", "tvos", "--data", str(tmp_path / "no-such-data"), "--runs-dir",
                                      str(tmp_path / "file" / "runs"), "--steps", "1"])
    assert result.exit_code == 2 and "--runs-dir" in result.output and "is a file" in result.output


def test_evaluate_refuses_an_unwritable_out_before_the_model(tmp_path, monkeypatch):
    from evaluate_data import write_davis
    import numpy as np

    gt = np.zeros((3, 16, 24), np.uint8)
    gt[:, 4:8, 4:10] = 1
    write_davis(tmp_path / "davis", {"s": gt})
    (tmp_path / "file").write_text("x")
    import vostool.loader

    monkeypatch.setattr(vostool.loader, "load_method", lambda *a, **k: pytest.fail("the model was built"))
    result = CliRunner().invoke(app, ["evaluate", "--root", str(tmp_path / "davis"), "--method", "tvos", "--untrained",
                                      "--out", str(tmp_path / "file" / "masks")])
    assert result.exit_code == 2 and "is a file" in result.output


def test_benchmark_checks_size_video_and_json_before_the_benchmark(tmp_path, monkeypatch):
    import vostool.benchmark

    monkeypatch.setattr(vostool.benchmark, "benchmark_method", lambda *a, **k: pytest.fail("a model was timed"))
    (tmp_path / "file").write_text("x")
    (tmp_path / "notavideo.mp4").write_bytes(b"not a video at all")
    runner = CliRunner()
    base = ["benchmark-fps", "--method", "tvos", "--frames", "2", "--objects", "1"]
    cases = [
        (["--size", "-1"], "--size -1"),
        (["--json", str(tmp_path / "file" / "b.json")], "--json"),
        (["--json", str(tmp_path)], "is a folder"),
        (["--video", str(tmp_path / "notavideo.mp4")], "notavideo.mp4"),
    ]
    for extra, text in cases:
        result = runner.invoke(app, base + extra)
        assert result.exit_code == 2 and text in result.output, (extra, result.output)


def test_default_size_does_not_upscale_and_the_png_estimate_stays_below_a_blank_frame(tmp_path):
    import numpy as np

    from vostool.io.masks import write_label_png

    assert choose_size(None, 480, 160, 284)[0] == 0 and "--size 480" in choose_size(None, 480, 160, 284)[1]
    assert choose_size(None, 480, 480, 854) == (480, None) and choose_size(480, 480, 160, 284) == (480, None)
    for h, w in ((64, 96), (480, 854), (1080, 1920)):
        write_label_png(tmp_path / "blank.png", np.zeros((h, w), np.uint8))
        assert png_bytes_low(h, w) <= (tmp_path / "blank.png").stat().st_size
