"""The ``vostool`` command line (Typer + Rich).

Nothing heavy is imported at module level: ``vostool --help`` must not import torch. Every
:class:`~vostool.errors.VostoolError` becomes one red line on stderr and its exit code (2 for bad
input, 1 for failures); unexpected errors print one line too unless ``--debug`` is given.
"""

from __future__ import annotations

import contextlib
import logging
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
    return Console(soft_wrap=True, highlight=False)


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
    size: int = typer.Option(480, "--size", help="Processing short side in pixels; 0 = native resolution."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16 (autocast where safe)."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="Checkpoint file (vostool or the authors') or named weights."),
    untrained: bool = typer.Option(False, "--untrained", help="Random weights: meaningless masks, for speed and smoke tests."),
    set_: List[str] = typer.Option([], "--set", help="Method option key=value (repeatable); see `vostool methods`."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Overlay frame rate for frame folders (default 24)."),
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
        from vostool.engine import NoProgress, segment_video

        result = segment_video(
            video, mask=mask, masks_dir=masks, method=method, out_dir=out, overlay=overlay, size=size, device=device,
            precision=precision, weights=weights, untrained=untrained, options=options, overwrite=overwrite,
            progress=NoProgress() if quiet else RichProgress(), fps=fps,
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
        if not name:
            console.print("not yet available: " + ", ".join(f"{k} ({v})" for k, v in PLANNED.items()))


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


from vostool.cli_training import register as _register_training  # noqa: E402  (train, synth)

_register_training(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
