"""benchmarks/gpu_check.py in its tiny mode: every method through the GPU check's code paths, with
the CPU standing in for CUDA, so the prepared check cannot rot before a GPU runs it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gpu_check  # noqa: E402
import gpu_check_runs  # noqa: E402


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    threads = torch.get_num_threads()
    try:
        code = gpu_check.main([str(out), "--tiny", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    return code, out


def test_tiny_mode_fills_every_section_for_every_method(tiny_report):
    code, out = tiny_report
    data = json.loads((out / "gpu_check.json").read_text())
    assert code == 0, {name: e["status"] for name, e in data["variants"].items()}
    assert list(data["variants"]) == [v.name for v in gpu_check.VARIANTS]
    assert data["protocol"]["environment"]["device_type"] == "cpu"
    for name, entry in data["variants"].items():
        assert entry["status"] == "ok", name
        assert set(entry["objects"]) == {"1", "3"}, name
        for k, obj in entry["objects"].items():
            agreement = obj["agreement"]
            # The same weights and inputs on the same device: the "GPU" rerun must equal the reference.
            assert agreement["cpu_vs_device_fp32"]["frames"] == gpu_check.TINY.compare_frames - 1
            assert agreement["cpu_vs_device_fp32"]["max_abs_diff"] < 1e-6, (name, k)
            assert agreement["cpu_vs_device_fp32"]["labels_differ"] == 0.0, (name, k)
            assert 0 <= agreement["bf16_vs_fp32"]["labels_differ"] <= 1
            for label in ("fp32", "fp32_autotuned", "bf16"):
                timing = obj["model"][label]
                assert timing["frames"] == gpu_check.TINY.frames and timing["model_ms_median"] > 0, (name, k, label)
                assert timing["first_frame_s"] > 0
            for precision in ("fp32", "bf16"):
                e2e = obj["e2e"][precision]
                assert e2e["frames"] == gpu_check.TINY.e2e_frames and e2e["fps_total"] > 0, (name, k, precision)
                assert e2e["notes"] == []  # one PNG per frame


def test_tiny_mode_table_marks_cpu_numbers(tiny_report):
    _, out = tiny_report
    table = (out / "gpu_check.md").read_text()
    assert "No GPU" in table and "CPU\\* fp32 ms" in table and "GPU fp32 ms" not in table
    for v in gpu_check.VARIANTS:
        rows = [line for line in table.splitlines() if line.startswith(f"| {v.name} |")]
        assert len(rows) == 4, v.name  # agreement and speed, 1 and 3 objects
        assert f"{v.paper_fps} ({v.paper_gpu})" in "".join(rows)


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert gpu_check.main([str(tmp_path), "--methods", "frtm,nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nosuch" in err[0]
    if not torch.cuda.is_available():
        assert gpu_check.main([str(tmp_path), "--methods", "tvos"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "CUDA is not available" in err[0]


def test_precision_switches_are_restored():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    with gpu_check_runs.tf32_off(), gpu_check_runs.cudnn_benchmark(not before[2]):
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.benchmark is (not before[2])
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark) == before


def test_compile_network_compiles_outermost_sequentials_and_keeps_results():
    from vostool.compile import compile_network

    torch.manual_seed(0)
    network = nn.Module()
    network.stage = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Sequential(nn.ReLU()))
    network.head = nn.Conv2d(4, 1, 1)
    x = torch.rand(1, 3, 8, 8)
    expected = network.head(network.stage(x))
    keys = list(network.state_dict())
    assert compile_network(network, backend="eager") == ["stage"]
    torch.testing.assert_close(network.head(network.stage(x)), expected)
    assert list(network.state_dict()) == keys
