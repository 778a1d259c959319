"""``vostool weights {list,download,convert,inspect,build-demo}``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vostool.cli.app import _errors, _stdout, app

weights_app = typer.Typer(help="List, download and convert model weights.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("list")
def weights_list() -> None:
    """List named weights and whether they are in the cache."""
    with _errors():
        from vostool.training.demo import weights_rows
        from vostool.weights import cache_dir

        table = Table(title=f"named weights (cache: {cache_dir()})")
        for column in ("name", "method", "where", "description"):
            table.add_column(column)
        for row in weights_rows():
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


@weights_app.command("build-demo")
def weights_build_demo(
    method: str = typer.Argument("tvos", help="Method whose demo recipe to train (see `vostool weights list`)."),
    out: Path = typer.Option(None, "--out", "-o", help="Checkpoint to write (default: the cache entry of --weights demo)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Build again over an existing file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a method's demo weights on synthetic video (a fixed number of steps), check, write float16."""
    with _errors():
        from vostool.cli.progress import RichProgress
        from vostool.training.demo import build_demo

        built = build_demo(method, out, overwrite=overwrite, progress=None if quiet else RichProgress())
        _stdout().print(f"wrote {built.path} ({built.steps} steps, sha256 {built.sha256}): J&F {built.score['J&F']:.1f} "
                        f"on held-out synthetic video against {built.copy['J&F']:.1f} for copying the first mask",
                        markup=False)
