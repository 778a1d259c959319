"""``vostool benchmark-fps``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vostool.cli.app import _errors, _stdout, app


@app.command("benchmark-fps")
def benchmark_fps(
    method: List[str] = typer.Option(["all"], "--method", "-m", help="Method(s) to time, or 'all'."),
    size: int = typer.Option(480, "--size", help="Processing short side (0 = native)."),
    objects: str = typer.Option("1,3", "--objects", help="Comma-separated object counts."),
    frames: int = typer.Option(60, "--frames", help="Frames per sequence."),
    sequences: int = typer.Option(1, "--sequences", help="Sequences per method and object count."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16."),
    video: Optional[Path] = typer.Option(None, "--video", help="Time on this video (masks are generated) instead of generated clips."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="Weights (default: untrained; speed does not depend on them)."),
    set_: List[str] = typer.Option([], "--set", help="Method option key=value (repeatable)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON (fields: docs/benchmarks.md)."),
) -> None:
    """Measure frames per second of methods, model-only and end to end, with the protocol printed."""
    with _errors():
        from vostool.benchmark import BenchmarkConfig, parse_objects, run_benchmark
        from vostool.errors import OptionError
        from vostool.options import parse_assignments
        from vostool.registry import PLANNED, get_entry, method_names

        if frames < 2:
            raise OptionError("--frames must be at least 2 (the first frame is timed separately)")
        if sequences < 1:
            raise OptionError("--sequences must be at least 1")
        names = method_names() + list(PLANNED) if method == ["all"] else method
        for name in names:
            if name not in PLANNED:
                get_entry(name)  # unknown names fail here, before any work
        if video is not None and not video.exists():
            raise OptionError(f"--video {video}: not found")
        from vostool.preflight import check_benchmark_input, check_file_writable

        check_benchmark_input(size, video)  # before any model is built
        if json_path is not None:
            check_file_writable(json_path, "--json")  # before the benchmark, not after it
        config = BenchmarkConfig(methods=names, objects=parse_objects(objects), size=size, frames=frames,
                                 sequences=sequences, device=device, precision=precision, video=video,
                                 weights=weights, options=parse_assignments(set_))
        console = _stdout()
        console.print(f"timing {', '.join(names)} with {objects} object(s), {frames} frames at {size}p; "
                      f"weights: {'untrained (speed does not depend on their values)' if weights is None else weights}")
        report = run_benchmark(config, on_result=lambda r: console.print(f"  {r.method} x{r.objects}: {r.status}"))
        _print_benchmark(report)
        if json_path is not None:
            import json

            from vostool.io.masks import atomic_save

            atomic_save(json_path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
            console.print(f"wrote {json_path}")


def _print_benchmark(report: dict) -> None:
    def fmt(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    table = Table(title="benchmark-fps")
    for column in ("method", "obj", "first (s)", "model ms mean/med", "e2e ms mean/med", "FPS model", "FPS total",
                   "FPS seq-mean", "peak MB", "ms @10/30/60", "paper FPS"):
        table.add_column(column)
    for r in report["results"]:
        if r["status"] != "ok":
            table.add_row(r["method"], str(r["objects"]), r["status"].split(":")[0], "", "", "", "", "", "", "",
                          r["paper_fps"])
            continue
        at = r["model_ms_at"]
        table.add_row(
            r["method"], str(r["objects"]), fmt(r["first_frame_s"], 2),
            f"{fmt(r['model_ms_mean'])}/{fmt(r['model_ms_median'])}", f"{fmt(r['e2e_ms_mean'])}/{fmt(r['e2e_ms_median'])}",
            fmt(r["fps_model"], 2), fmt(r["fps_total"], 2), fmt(r["fps_sequence_mean"], 2), fmt(r["peak_memory_mb"], 0),
            "/".join(fmt(at.get(k), 0) for k in ("10", "30", "60")), r["paper_fps"],
        )
    console = _stdout()
    console.print(table)
    protocol = report["protocol"]
    console.print("protocol: " + "; ".join(f"{k}: {v}" for k, v in protocol.items()))
