"""``vostool methods``."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from vostool.cli.app import _errors, _stdout, app


@app.command()
def methods(name: Optional[str] = typer.Argument(None, help="Show one method's options.")) -> None:
    """List the methods and their options (set with --set key=value)."""
    with _errors():
        from vostool.options import describe_options
        from vostool.registry import METHODS, PLANNED, get_card, get_method_class

        console = _stdout()
        names = [get_card(name).name] if name else list(METHODS)
        for key in names:
            card = get_card(key)
            cls = get_method_class(key)
            caption = [card.paper]
            caption += [f"paper speed{'' if s.variant == card.name else ' (' + s.variant + ')'}: {s.fps:g} FPS on {s.gpu}"
                        for s in card.speeds]
            if card.weights:
                caption.append("named weights: " + ", ".join(card.weights))
            table = Table(title=f"{card.name}: {card.summary}", caption="\n".join(caption), title_justify="left")
            table.add_column("option")
            table.add_column("type")
            table.add_column("default")
            table.add_column("meaning")
            for row in describe_options(cls.Options):
                table.add_row(*row)
            console.print(table)
        if not name and PLANNED:
            console.print("not yet available: " + ", ".join(f"{k} ({v})" for k, v in PLANNED.items()))
