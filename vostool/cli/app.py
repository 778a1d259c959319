"""The ``vostool`` Typer app: logging, the one-line error handling, ``--debug`` / ``--version``.

The commands live in one module per command group beside this one (:mod:`vostool.cli`).

Nothing heavy is imported at module level: ``vostool --help`` must not import torch. Every
:class:`~vostool.errors.VostoolError` becomes one red line on stderr and its exit code (2 for bad
input, 1 for failures); unexpected errors print one line too unless ``--debug`` is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

import typer
from rich.console import Console

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
    """Turn failures into one line and an exit code; SIGTERM is handled like Ctrl-C (exit 143, 130)."""
    from vostool.signals import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            yield
    except VostoolError as exc:
        _stderr().print(f"[bold red]error:[/bold red] {exc}", markup=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:
        _stderr().print("[bold red]interrupted[/bold red]; files written so far are complete", markup=True)
        raise typer.Exit(143 if "SIGTERM" in str(exc) else 130) from None
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


def main() -> None:
    app()
