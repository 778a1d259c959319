"""The command line: success path, every bad input as one line with exit code 2, no torch for --help."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import write_video
from vostool.cli import app

runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def inputs(tmp_path, small_clip):
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    return video, tmp_path / "mask.png"


def test_help_does_not_import_torch():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom vostool.cli import app\n"
            "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0, r.output\n"
            "assert 'segment' in r.output\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "vostool", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("vostool ")


def test_segment_untrained_writes_masks_and_prints_a_summary(tmp_path, inputs):
    video, mask = inputs
    code, output = _run("segment", video, "--mask", mask, "--untrained", "--set", "backbone=resnet18", "--set",
                        "fast=true", "--size", "0", "--out", tmp_path / "out")
    assert code == 0, output
    assert "random weights" in output and "later frames" in output
    assert len(list((tmp_path / "out").glob("*.png"))) == 6


def test_methods_lists_options():
    code, output = _run("methods")
    assert code == 0 and "frtm" in output and "memory_size" in output and "displacement_sign" in output
    assert "not yet available" not in output  # every planned method is available


def _assert_one_line_error(code, output, pattern):
    assert code == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, output
    assert pattern in errors[0], errors[0]


def test_bad_inputs_get_one_line_and_exit_code_2(tmp_path, inputs, small_clip, monkeypatch):
    video, mask = inputs
    out = tmp_path / "out"
    _assert_one_line_error(*_run("segment", tmp_path / "nope.mp4", "--mask", mask, "--out", out), "video not found")
    (tmp_path / "bad.mp4").write_bytes(b"garbage" * 200)
    _assert_one_line_error(*_run("segment", tmp_path / "bad.mp4", "--mask", mask, "--out", out), "cannot decode")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    _assert_one_line_error(*_run("segment", video, "--mask", tmp_path / "photo.png", "--out", out), "not a label image")
    Image.fromarray(np.zeros((64, 96), np.uint8), mode="L").save(tmp_path / "empty.png")
    _assert_one_line_error(*_run("segment", video, "--mask", tmp_path / "empty.png", "--out", out), "no object")
    Image.fromarray(np.ones((64, 64), np.uint8), mode="L").save(tmp_path / "square.png")
    _assert_one_line_error(*_run("segment", video, "--mask", tmp_path / "square.png", "--out", out), "aspect ratio")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", out, "--method", "nosuch"),
                           "unknown method 'nosuch'")
    from vostool import registry

    monkeypatch.setitem(registry.PLANNED, "later", "a method planned for a later version")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", out, "--method", "later"),
                           "not available in this version yet")
    (tmp_path / "afile").write_text("x")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", tmp_path / "afile" / "sub"), "cannot write")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", out, "--weights", tmp_path / "w.pth"),
                           "weights file not found")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", out, "--untrained", "--set", "bogus=1"),
                           "unknown option 'bogus'")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", out, "--device", "cuda:7"), "--device")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--overlay", tmp_path / "o.gif"), "unknown video extension")
    _assert_one_line_error(*_run("segment", video, "--out", out), "exactly one of --mask")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", out, "--untrained", "--device", "cpu",
                                 "--precision", "fp16"), "only supported on CUDA")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", out, "--precision", "fp8"), "--precision")
    assert not out.exists()  # nothing was written by any of the failures


def test_offline_default_weights_explain_the_ways_out(tmp_path, inputs, monkeypatch):
    from vostool import weights

    for entry in list(weights.NAMED_WEIGHTS.values()):
        monkeypatch.setitem(weights.NAMED_WEIGHTS, entry.name,
                            weights.NamedWeights(entry.name, entry.method, "http://127.0.0.1:9/x.pth", entry.filename,
                                                 entry.description))
    video, mask = inputs
    code, output = _run("segment", video, "--mask", mask, "--out", tmp_path / "out")
    _assert_one_line_error(code, output, "cannot download")
    assert "--untrained" in output and "--weights FILE" in output


def test_existing_output_needs_overwrite(tmp_path, inputs):
    video, mask = inputs
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    _assert_one_line_error(*_run("segment", video, "--mask", mask, "--out", out, "--untrained"), "--overwrite")
    assert (out / "keep.txt").read_text() == "mine"
