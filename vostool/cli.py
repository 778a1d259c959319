"""The ``vostool`` command line (Typer + Rich).

Nothing heavy is imported at module level: ``vostool --help`` must not import torch. Every
:class:`~vostool.errors.VostoolError` becomes one red line on stderr and its exit code (2 for bad
input, 1 for failures); unexpected errors print one line too unless ``--debug`` is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from vostool import __version__
from vostool.errors import VostoolError

app = typer.Typer(
    name="vostool",
    help="Semi-supervised video object segmentation: give a video and the mask of its objects, get every frame's mask.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
weights_app = typer.Typer(help="List, download and convert model weights.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


class _State:
    debug = False


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def _stdout() -> Console:
    console = Console(soft_wrap=True, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped into a log or file, Rich would squeeze tables into 80 columns and cut the numbers.
        console = Console(soft_wrap=True, highlight=False, width=200)
    return console


class _RichWarnings(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _stderr().print(f"[yellow]warning:[/yellow] {record.getMessage()}", markup=True)


def _setup_logging() -> None:
    logger = logging.getLogger("vostool")
    if not any(isinstance(h, _RichWarnings) for h in logger.handlers):
        logger.addHandler(_RichWarnings())
    logger.setLevel(logging.WARNING)
    logger.propagate = False


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn failures into one line and an exit code."""
    try:
        yield
    except VostoolError as exc:
        _stderr().print(f"[bold red]error:[/bold red] {exc}", markup=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _stderr().print("[bold red]interrupted[/bold red]; files written so far are complete", markup=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if _State.debug:
            raise
        _stderr().print(
            f"[bold red]internal error:[/bold red] {type(exc).__name__}: {exc} "
            "(run `vostool --debug …` for the traceback and please report it)",
            markup=True,
        )
        raise typer.Exit(1) from None


def _version_callback(value: bool) -> None:
    if value:
        _stdout().print(f"vostool {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version."),
) -> None:
    _State.debug = debug
    _setup_logging()


class RichProgress:
    """A Rich progress bar with frames/s, for the engine."""

    def start(self, total: Optional[int], description: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=_stderr(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, rate="")
        self._t0 = time.perf_counter()
        self._done = 0

    def advance(self, frames: int = 1) -> None:
        self._done += frames
        rate = self._done / max(time.perf_counter() - self._t0, 1e-9)
        self._progress.update(self._task, advance=frames, rate=f"{rate:.2f} frames/s")

    def stop(self) -> None:
        self._progress.stop()


@app.command()
def segment(
    video: Path = typer.Argument(..., help="Video file (mp4, mkv, mov, webm, avi, …) or a folder of frames."),
    mask: Optional[Path] = typer.Option(None, "--mask", help="Label image of the first frame (indexed/grayscale PNG, or clean RGB)."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Folder of masks named after frames; each introduces new objects."),
    method: str = typer.Option("frtm", "--method", "-m", help="Method (see `vostool methods`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for one indexed PNG per frame."),
    overlay: Optional[Path] = typer.Option(None, "--overlay", help="Video file of the frames with the masks blended in."),
    size: Optional[int] = typer.Option(None, "--size", help="Processing short side in pixels; 0 = native resolution; "
                                       "default: the method's (480; flowvos 240, as its authors)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16 (autocast where safe)."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="Checkpoint file (vostool or the authors'), named weights (`vostool weights list`), or demo: trained here on synthetic video on first use (tvos, frtm)."),
    untrained: bool = typer.Option(False, "--untrained", help="Random weights: meaningless masks, for speed and smoke tests."),
    set_: List[str] = typer.Option([], "--set", help="Method option key=value (repeatable); see `vostool methods`."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Overlay frame rate for frame folders (default 24)."),
    # --- issue 19 outputs: options (begin) ---
    soft: Optional[Path] = typer.Option(None, "--soft", help="Folder for soft probability maps per object "
                                        "(png: <id>/<frame>.png 8-bit; npz: <frame>.npz float16)."),
    soft_format: str = typer.Option("png", "--soft-format", help="png or npz, for --soft."),
    per_object: Optional[Path] = typer.Option(None, "--per-object", help="Folder for 0/255 masks per object: <id>/<frame>.png."),
    matte: Optional[Path] = typer.Option(None, "--matte", help="Lossless black-and-white matte video for editors: "
                                         ".mov (PNG codec; Premiere, After Effects) or .mkv (FFV1, smallest)."),
    matte_mode: str = typer.Option("all", "--matte-mode", help="all (one video, any object white) or per-object "
                                   "(<name>_<id>.<ext> per object)."),
    rle: Optional[Path] = typer.Option(None, "--rle", help="JSON file of COCO run-length-encoded masks per frame and object."),
    # --- issue 19 outputs: options (end) ---
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Segment the objects of a video from their mask(s)."""
    with _errors():
        from vostool.options import parse_assignments

        options = parse_assignments(set_)
        if weights is not None and untrained:
            from vostool.errors import OptionError

            raise OptionError("--weights and --untrained exclude each other")
        if untrained and not quiet:
            _stderr().print("[yellow]note:[/yellow] --untrained uses random weights, not a trained model: use it "
                            "for speed and smoke tests (or with parts that learn online, like FRTM's refine=false)",
                            markup=True)
        from vostool.engine import segment_video
        from vostool.io.exports import ExportOptions
        from vostool.progress import NoProgress

        result = segment_video(
            video, mask=mask, masks_dir=masks, method=method, out_dir=out, overlay=overlay, size=size, device=device,
            precision=precision, weights=weights, untrained=untrained, options=options, overwrite=overwrite,
            progress=NoProgress() if quiet else RichProgress(), fps=fps,
            exports=ExportOptions(soft, soft_format, per_object, matte, matte_mode, rle),  # issue 19 outputs
        )
        if not quiet:
            _print_summary(result)


def _print_summary(result) -> None:
    run = result.run
    table = Table(title="vostool segment", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    frames = max(result.frames, 1)
    later = max(result.frames - 1, 1)
    table.add_row("method", f"{run['method']['name']} ({run['method']['weights']})")
    table.add_row("frames", f"{result.frames} at {result.processing_size[1]}x{result.processing_size[0]} "
                  f"on {run['processing']['device']}, {run['processing']['precision']}")
    table.add_row("objects", ", ".join(map(str, result.object_ids)) or "none")
    table.add_row("first frame", f"{result.first_frame_seconds:.2f} s")
    table.add_row("later frames", f"{(result.model_seconds - result.first_frame_seconds) / later:.3f} s/frame (model)")
    table.add_row("total", f"{result.total_seconds:.1f} s ({frames / max(result.total_seconds, 1e-9):.2f} frames/s)")
    if result.out_dir is not None:
        table.add_row("masks", str(result.out_dir))
    if result.overlay is not None:
        table.add_row("overlay", str(result.overlay))
    for export in run["output"].get("exports", []):  # issue 19 outputs
        table.add_row(export["kind"].replace("_", " "), export["path"])
    _stdout().print(table)


@app.command()
def methods(name: Optional[str] = typer.Argument(None, help="Show one method's options.")) -> None:
    """List the methods and their options (set with --set key=value)."""
    with _errors():
        from vostool.options import describe_options
        from vostool.registry import METHODS, PLANNED, get_entry, get_method_class

        console = _stdout()
        names = [get_entry(name).name] if name else list(METHODS)
        for key in names:
            entry = METHODS[key]
            cls = get_method_class(key)
            table = Table(title=f"{entry.name}: {entry.summary}", caption=entry.paper, title_justify="left")
            table.add_column("option")
            table.add_column("type")
            table.add_column("default")
            table.add_column("meaning")
            for row in describe_options(cls.Options):
                table.add_row(*row)
            console.print(table)
        if not name and PLANNED:
            console.print("not yet available: " + ", ".join(f"{k} ({v})" for k, v in PLANNED.items()))


@app.command()
def evaluate(
    root: Path = typer.Option(..., "--root", help="Dataset folder: DAVIS layout, or YouTube-VOS (with <split>/meta.json)."),
    dataset: str = typer.Option("davis17", "--dataset", help="davis17, davis16, folder (any DAVIS layout) or ytvos."),
    split: Optional[str] = typer.Option(None, "--split", help="DAVIS: val (default), train, test-dev, test-challenge; "
                                        "ytvos: valid (default); folder: ImageSets/2017/<split>.txt, default every sequence."),
    task: str = typer.Option("semi-supervised", "--task", help="semi-supervised or unsupervised (unsupervised: --results only)."),
    results: Optional[Path] = typer.Option(None, "--results", help="Score existing masks: DIR/<sequence>/<frame>.png."),
    method: Optional[str] = typer.Option(None, "--method", "-m", help="Segment every sequence with this method, then score."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="Checkpoint file or named weights for --method."),
    untrained: bool = typer.Option(False, "--untrained", help="Random weights (smoke tests)."),
    set_: List[str] = typer.Option([], "--set", help="Method option key=value (repeatable)."),
    size: Optional[int] = typer.Option(None, "--size", help="Processing short side; 0 = native; default: the method's."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where --method writes the masks "
                                       "(default evaluation/<dataset>-<split>-<method>)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Report folder (default <results>-report, beside the results)."),
    zip_: Optional[Path] = typer.Option(None, "--zip", help="Write the submission zip (DAVIS: <seq>/<frame>.png at the root; "
                                        "ytvos: Annotations/<video>/<frame>.png, default <out>.zip)."),
    all_frames: bool = typer.Option(False, "--all-frames", help="ytvos: segment every frame (<split>_all_frames), submit the listed ones."),
    resolution: str = typer.Option("480p", "--resolution", help="DAVIS resolution folder (480p or Full-Resolution)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Scoring processes (default: the CPUs the load leaves free; 1 = no subprocess)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="One J/F-over-frames plot per sequence in the report."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing masks, report and zip (never reused)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or table."),
) -> None:
    """Score DAVIS results exactly as the official code (J&F), or segment a dataset with a method and score it."""
    with _errors():
        from vostool.errors import OptionError
        from vostool.evaluation import EngineSettings, Protocol, evaluate_davis, evaluate_ytvos
        from vostool.evaluation.console import print_outcome
        from vostool.options import parse_assignments

        if results is not None and method is not None:
            raise OptionError("give either --results DIR or --method NAME, not both")
        if results is None and method is None:
            raise OptionError("give --results DIR (score existing masks) or --method NAME (segment, then score)")
        if weights is not None and untrained:
            raise OptionError("--weights and --untrained exclude each other")
        engine = None
        if method is not None:
            engine = EngineSettings(method, weights, untrained, parse_assignments(set_), size, device, precision)
        progress = None if quiet else RichProgress()
        engine_progress = None if quiet else RichProgress
        if dataset == "ytvos":
            outcome = evaluate_ytvos(root, split or "valid", results=results, engine=engine, out=out, zip_path=zip_,
                                     all_frames=all_frames, overwrite=overwrite, engine_progress=engine_progress)
        else:
            default_split = None if dataset == "folder" else "val"
            protocol = Protocol(dataset, split or default_split, task, resolution)
            outcome = evaluate_davis(root, protocol, results=results, engine=engine, out=out, report=report,
                                     zip_path=zip_, overwrite=overwrite, workers=workers, plots=plots,
                                     progress=progress, engine_progress=engine_progress)
        if not quiet:
            print_outcome(_stdout(), outcome)


@weights_app.command("list")
def weights_list() -> None:
    """List named weights and whether they are in the cache."""
    with _errors():
        from vostool.weights import NAMED_WEIGHTS, cache_dir

        table = Table(title=f"named weights (cache: {cache_dir()})")
        for column in ("name", "method", "cached", "description"):
            table.add_column(column)
        for entry in NAMED_WEIGHTS.values():
            cached = (cache_dir() / entry.method / entry.filename).exists()
            table.add_row(entry.name, entry.method, "yes" if cached else "no", entry.description)
        from vostool.training.demo import demo_rows

        for row in demo_rows():
            table.add_row(*row)
        _stdout().print(table)


@weights_app.command("download")
def weights_download(name: str = typer.Argument(..., help="Named weights, see `vostool weights list`.")) -> None:
    """Download named weights into the cache (resumes, verifies)."""
    with _errors():
        from vostool.errors import WeightsError
        from vostool.weights import NAMED_WEIGHTS, fetch_named

        if name not in NAMED_WEIGHTS:
            raise WeightsError(f"unknown weights {name!r}; see `vostool weights list`")
        path = fetch_named(NAMED_WEIGHTS[name])
        _stdout().print(f"{name}: {path}")


@weights_app.command("convert")
def weights_convert(
    src: Path = typer.Argument(..., help="The authors' checkpoint (or a vostool one)."),
    dst: Path = typer.Argument(..., help="Where to write the vostool checkpoint."),
    method: str = typer.Option(..., "--method", "-m", help="Method the weights belong to."),
    with_backbone: bool = typer.Option(False, "--with-backbone", help="Embed the ImageNet backbone (needs it cached or online)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace DST if it exists."),
) -> None:
    """Convert a checkpoint into a self-describing vostool checkpoint (strictly checked)."""
    with _errors():
        from vostool.convert import convert_weights

        summary = convert_weights(src, dst, method, with_backbone=with_backbone, overwrite=overwrite)
        _stdout().print(summary)


# --- weights inspect (vostool.checkpoint_inspect) ---
@weights_app.command("inspect")
def weights_inspect(file: Path = typer.Argument(..., help="A checkpoint file (the authors' or vostool's).")) -> None:
    """Show what a checkpoint holds, what would be refused and which method it fits (runs nothing from it)."""
    with _errors():
        from vostool.checkpoint_inspect import inspect_checkpoint

        report = inspect_checkpoint(file)
        for line in report.lines():
            _stdout().print(line, markup=False)
    if not report.loadable:
        raise typer.Exit(1)
# --- end weights inspect ---


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
from vostool.cli_training import register as _register_training  # noqa: E402  (train, synth)

_register_training(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
