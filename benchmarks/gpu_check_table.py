"""The markdown tables of benchmarks/gpu_check.py, from its JSON report (partial reports too)."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and (abs(value) < 10 ** -digits and value != 0):
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.3f}%"


def markdown(data: dict) -> str:
    """Agreement table, speed table and the protocol lines. GPU columns say CPU when there was no GPU."""
    env = data["protocol"]["environment"]
    on_gpu = env["device_type"] == "cuda"
    dev = "GPU" if on_gpu else "CPU\\*"
    lines = []
    if on_gpu:
        lines.append(f"GPU: {env['gpu']}, driver {env.get('driver')}, torch {env['torch']} (CUDA {env['cuda']}, "
                     f"cuDNN {env['cudnn']}), {env['cpu_threads']} CPU threads, {env['date']}")
    else:
        lines.append(f"**No GPU: the columns marked CPU\\* are CPU numbers standing in for the GPU's "
                     f"(tiny mode checks the code paths, not the speed).** torch {env['torch']}, "
                     f"{env['cpu_threads']} CPU threads, {env['date']}")
    budget = data["protocol"]["budget"]
    lines.append(f"Clip {budget['size']}p (generated), untrained seeded weights; agreement over frames 1.. of the "
                 f"compare run, TF32 off; model time = median of {budget['frames'] - 1} timed frames after "
                 f"{budget['warmup']} warm-up frames; end to end = {budget['e2e_frames']} frames with PNG writing.")
    lines += ["", f"| method | objects | frames | max abs Δp CPU vs {dev} fp32 | labels differ CPU vs {dev} fp32 | "
                  f"max abs Δp {dev} bf16 vs fp32 | labels differ bf16 vs fp32 | foreground share |",
              "|---|---|---|---|---|---|---|---|"]
    for name, entry in data["variants"].items():
        if not entry["objects"]:
            lines.append(f"| {name} | – | – | {entry['status']} | | | | |")
        for k, obj in entry["objects"].items():
            a = obj.get("agreement", {})
            c, b = a.get("cpu_vs_device_fp32", {}), a.get("bf16_vs_fp32", {})
            lines.append(f"| {name} | {k} | {c.get('frames', '–')} | {_f(c.get('max_abs_diff'), 4)} | "
                         f"{_pct(c.get('labels_differ'))} | {_f(b.get('max_abs_diff'), 4)} | {_pct(b.get('labels_differ'))} | "
                         f"{_pct(c.get('foreground'))} |")
    lines += ["", f"| method | objects | {dev} fp32 ms | {dev} fp32 autotuned ms | {dev} bf16 ms | {dev} FPS model fp32 / bf16 | "
                  f"{dev} FPS end to end fp32 / bf16 | first frame s | peak {dev} MB | paper FPS (GPU) | best FPS / paper | status |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in data["variants"].items():
        paper = f"{entry['paper_fps']} ({entry['paper_gpu']})"
        for k, obj in (entry["objects"] or {"–": {}}).items():
            m, e = obj.get("model", {}), obj.get("e2e", {})
            fp32, tuned, bf16 = m.get("fp32", {}), m.get("fp32_autotuned", {}), m.get("bf16", {})
            best = max([x for x in (fp32.get("fps_model"), tuned.get("fps_model"), bf16.get("fps_model")) if x] or [0])
            e32, e16 = e.get("fp32", {}), e.get("bf16", {})
            lines.append(
                f"| {name} | {k} | {_f(fp32.get('model_ms_median'))} | {_f(tuned.get('model_ms_median'))} | "
                f"{_f(bf16.get('model_ms_median'))} | {_f(fp32.get('fps_model'))} / {_f(bf16.get('fps_model'))} | "
                f"{_f(e32.get('fps_total'))} / {_f(e16.get('fps_total'))} | {_f(fp32.get('first_frame_s'), 2)} | "
                f"{_f(fp32.get('peak_memory_mb'), 0)} | {paper} | {_f(best / entry['paper_fps'], 2) if best else '–'} | "
                f"{entry['status']} |")
    if not on_gpu:
        lines += ["", "CPU\\*: measured on the CPU in place of the GPU; peak memory is only recorded on CUDA."]
    return "\n".join(lines) + "\n"
