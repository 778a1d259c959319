"""The ``vostool`` command line (Typer + Rich): the app and one module per command group.

Nothing heavy is imported at module level: ``vostool --help`` must not import torch. Every
:class:`~vostool.errors.VostoolError` becomes one red line on stderr and its exit code (2 for bad
input, 1 for failures); unexpected errors print one line too unless ``--debug`` is given. Each
command calls one library function; this package is the only importer of typer and rich.
"""

# Imported in this order so that `vostool --help` lists the commands as before.
from vostool.cli import segment, methods, evaluate, weights, benchmark, train  # noqa: F401,I001  (registers them)
from vostool.cli.app import app, main

__all__ = ["app", "main"]
