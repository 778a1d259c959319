"""Training runs that end well: the curves inside their canvas, resume at the end, times across a
resume, interrupted runs (Ctrl-C, SIGTERM) that exit non-zero and list only files that exist."""

import json
import math

import numpy as np
from PIL import Image

from vostool.training.plot import INK, draw_curves


def _records(steps=400):
    records = [{"step": s, "loss": 1 / math.sqrt(s)} for s in range(1, steps + 1)]
    records += [{"step": s, "val": {"J&F": 30 + s / 20, "copy J&F": 32.5}} for s in range(0, steps + 1, 100)]
    return records


def test_curves_are_drawn_inside_the_canvas(tmp_path):
    draw_curves(_records(), tmp_path / "curves.png", "frtm: a run")
    image = np.array(Image.open(tmp_path / "curves.png").convert("RGB")).astype(int)
    white = (image == 255).all(axis=2)
    assert white[:, -8:].all() and white[-4:, :].all() and white[:4, :].all()  # nothing touches the edges
    # Each panel has two vertical frame lines (INK over most of the panel's height): four in all.
    ink = (np.abs(image - np.array(INK)).sum(axis=2) < 30)
    frame_columns = np.flatnonzero(ink.mean(axis=0) > 0.5)
    assert len(frame_columns) == 4, frame_columns
    # The "step" label under each panel: ink in the bottom band below the tick labels, in both halves.
    band = ink[-30:-4]
    half = image.shape[1] // 2
    assert band[:, :half].any() and band[:, half:].any()
    # Without validation the right panel keeps its whole frame (no grid line drawn over its top edge).
    draw_curves([{"step": s, "loss": 2 / s} for s in (1, 2, 3)], tmp_path / "no_val.png")
    image = np.array(Image.open(tmp_path / "no_val.png").convert("RGB")).astype(int)
    ink = (np.abs(image - np.array(INK)).sum(axis=2) < 30)
    assert len(np.flatnonzero(ink.mean(axis=1) > 0.6)) == 2  # the top and bottom edges of both panels


# -- runs (FRTM at tiny sizes, as tests/test_train.py) ---------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import terminate_when  # noqa: E402

from vostool.errors import ModelFailure  # noqa: E402
from vostool.training import train  # noqa: E402
from vostool.progress import NoProgress  # noqa: E402
from vostool.training.trainer import Trainer  # noqa: E402

TINY = {"backbone": "resnet18", "size": "48,64", "batch_size": "2", "workers": "0", "tm_num_aug": "3",
        "tm_init_iters": "2,2", "tm_update_iters": "2"}
DATA = ["synthetic:videos=3,frames=6"]


def _train(tmp_path, name="run", steps=2, settings=None, **kw):
    values = {**TINY, "cache": str(tmp_path / "cache"), **(settings or {})}
    return train("frtm", DATA, name=name, runs_dir=tmp_path / "runs", settings=values, steps=steps,
                 backbone_weights="none", **kw)


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


class Messages(NoProgress):
    def __init__(self, on_step=None):
        self.messages, self.on_step = [], on_step

    def message(self, text):
        self.messages.append(text)

    def update(self, metrics, done=None):
        if self.on_step:
            self.on_step(done)


def test_resume_at_its_steps_says_so_and_times_keep_counting(tmp_path):
    first = _train(tmp_path, steps=2)
    assert (first.stopped, first.new_steps, first.exit_code) == ("--steps", 2, 0)
    again = Messages()
    same = train("frtm", name="run", runs_dir=tmp_path / "runs", steps=2, resume=True, progress=again)
    assert (same.step, same.stopped, same.new_steps) == (2, "--steps", 0)
    assert "nothing to train" in same.reason and "all epochs" not in same.reason
    assert any("at or past --steps 2: nothing to train" in m for m in again.messages)
    more = train("frtm", name="run", runs_dir=tmp_path / "runs", steps=4, resume=True)
    assert (more.step, more.new_steps, more.reason) == (4, 2, "reached --steps")
    times = [r["time"] for r in _log(tmp_path / "runs/run") if "loss" in r]
    assert len(times) == 4 and times == sorted(times) and times[2] >= times[1]


def test_ctrl_c_stops_after_the_step_exits_non_zero_and_lists_only_existing_files(tmp_path):
    progress = Messages(on_step=lambda step: os.kill(os.getpid(), signal.SIGINT) if step == 1 else None)
    result = _train(tmp_path, steps=50, progress=progress)
    assert (result.stopped, result.step, result.exit_code) == ("interrupted", 1, 130)
    assert result.files == ["last.pt", "log.jsonl", "curves.png", "config.json"]  # no validation: no best.pt
    assert torch.load(tmp_path / "runs/run/last.pt", weights_only=True)["training"]["step"] == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_loader_workers_are_at_most_the_usable_cpus(tmp_path, monkeypatch):
    import vostool.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    made = []
    real = torch.utils.data.DataLoader

    def loader(*args, num_workers=0, **kwargs):
        made.append(num_workers)
        return real(*args, num_workers=0, **kwargs)  # no processes in the test

    monkeypatch.setattr(torch.utils.data, "DataLoader", loader)
    progress = Messages()
    _train(tmp_path, steps=1, settings={"workers": "8"}, progress=progress)
    assert made == [2]
    assert any("2 data loading process(es) instead of 8" in m for m in progress.messages)


def test_running_out_of_memory_is_one_line(tmp_path, monkeypatch):
    def oom(self, batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(Trainer, "_train_step", oom)
    with pytest.raises(ModelFailure, match=r"out of cpu memory at step 1 \(batch_size 2, size 48x64\): lower"):
        _train(tmp_path, steps=1)


def test_sigterm_stops_train_like_ctrl_c(tmp_path):
    """A real `vostool train` process gets SIGTERM while training: it saves, exits 143, lists what exists."""
    runs = tmp_path / "runs"
    sets = [a for k, v in {**TINY, "save_every": "1", "cache": str(tmp_path / "cache")}.items() for a in ("--set", f"{k}={v}")]
    args = [sys.executable, "-m", "vostool", "train", "frtm", "--data", DATA[0], "--runs-dir", str(runs), "--name", "term",
            "--backbone-weights", "none", "--steps", "500", *sets]
    log = runs / "term" / "log.jsonl"
    returncode, output = terminate_when(args, lambda: log.is_file() and len(log.read_text().splitlines()) >= 2)
    assert returncode == 143, output
    run = runs / "term"
    saved = torch.load(run / "last.pt", weights_only=True)["training"]["step"]
    logged = [r["step"] for r in _log(run) if "loss" in r]
    assert 2 <= saved < 500 and logged[-1] == saved  # the checkpoint holds the last logged step
    assert not list(run.glob(".*")), list(run.iterdir())  # no hidden .partial files
    assert "interrupted" in output and "best.pt" not in output and "last.pt" in output, output
