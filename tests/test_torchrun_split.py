"""Under torchrun, `segment` over many videos and `evaluate --method` split the work over the processes
(2 CPU processes, gloo): the union of their outputs is byte for byte the single-process run's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from batch_data import FAST, png_bytes, write_videos
from evaluate_data import write_davis

REPO = Path(__file__).resolve().parents[1]


def _run(args, processes: int):
    """``python -m vostool ARGS`` in 1 process, or under torchrun with ``processes`` (threads pinned to 1
    in both, so that the arithmetic, and so the PNGs, are the same)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    cmd = (launcher if processes > 1 else [sys.executable]) + ["-m", "vostool"] + [str(a) for a in args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_segment_many_videos_on_two_processes_equals_one(tmp_path):
    write_videos(tmp_path / "clips", 5)
    one = _run(["segment", tmp_path / "clips", "--out", tmp_path / "one", *FAST], 1)
    assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-2000:]
    two = _run(["segment", tmp_path / "clips", "--out", tmp_path / "two", *FAST], 2)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-2000:]
    expected = png_bytes(tmp_path / "one")
    assert len(expected) == 20 and png_bytes(tmp_path / "two") == expected
    summary = json.loads((tmp_path / "two" / "vostool-batch.json").read_text())
    assert summary["processes"] == 2
    # round robin: rank 0 did v0, v2, v4 and rank 1 v1, v3; rank 0 printed the one table
    assert [v["rank"] for v in summary["videos"]] == [0, 1, 0, 1, 0]
    assert two.stdout.count("vostool segment: 5 videos on 2 processes") == 1


def test_evaluate_method_on_two_processes_equals_one(tmp_path):
    rng = np.random.default_rng(0)
    sequences = {}
    for name in ("aa", "bb", "cc"):
        gt = np.zeros((3, 32, 48), np.uint8)
        y, x = rng.integers(4, 16), rng.integers(4, 24)
        gt[:, y:y + 10, x:x + 14] = 1
        sequences[name] = gt
    write_davis(tmp_path / "davis", sequences)
    args = ["evaluate", "--root", tmp_path / "davis", "--dataset", "folder", "--method", "frtm", *FAST[:5],
            "--device", "cpu", "--workers", "1", "--no-plots"]
    one = _run([*args, "--out", tmp_path / "one"], 1)
    assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-2000:]
    two = _run([*args, "--out", tmp_path / "two"], 2)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-2000:]
    expected = png_bytes(tmp_path / "one")
    assert len(expected) == 9 and png_bytes(tmp_path / "two") == expected
    reports = [json.loads((tmp_path / f"{k}-report" / "evaluation.json").read_text()) for k in ("one", "two")]
    assert reports[0]["global"] == reports[1]["global"]
    assert [r["sequence"] for r in reports[1]["runs"]] == ["aa", "bb", "cc"]  # gathered from both processes
    assert two.stdout.count("vostool evaluate") == 1  # rank 0 alone printed the table
