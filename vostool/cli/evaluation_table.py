"""The Rich table `vostool evaluate` prints: protocol header, per-object rows, the global row, notes."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from vostool.evaluation.api import Outcome
from vostool.evaluation.summary import GLOBAL_COLUMNS, Evaluation

MAX_ROWS = 200  # beyond this the per-object rows are in the report files only


def evaluation_table(evaluation: Evaluation) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("object", no_wrap=True)
    table.add_column("frames", justify="right")
    for column in GLOBAL_COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    for obj in evaluation.objects[:MAX_ROWS]:
        values = ((obj.j.mean + obj.f.mean) / 2, obj.j.mean, obj.j.recall, obj.j.decay, obj.f.mean, obj.f.recall, obj.f.decay)
        table.add_row(obj.name, str(len(obj.frames)), *(f"{v:.3f}" for v in values))
    if len(evaluation.objects) > MAX_ROWS:
        table.add_row(f"… {len(evaluation.objects) - MAX_ROWS} more", "", *([""] * len(GLOBAL_COLUMNS)))
    table.add_section()
    table.add_row(f"global, {len(evaluation.objects)} objects", str(evaluation.frames),
                  *(f"{evaluation.scores[c]:.3f}" for c in GLOBAL_COLUMNS), style="bold")
    return table


def print_outcome(console: Console, outcome: Outcome) -> None:
    """The table (when something was scored), notes, and where the files are."""
    evaluation = outcome.evaluation
    if not console.is_terminal:
        console.width = max(console.width, 120)  # logs and pipes: keep the table's columns whole
    if evaluation is not None:
        p = evaluation.protocol
        console.print(f"[bold]vostool evaluate: {p.dataset} {p.label}, {p.task}[/bold]", markup=True)
        for line in p.describe() + [f"frame sizes: {evaluation.sizes()}"]:
            console.print(f"  {line}", markup=False)
        console.print(evaluation_table(evaluation))
        for note in evaluation.notes:
            console.print(f"[yellow]note:[/yellow] {note}", markup=True)
        rate = evaluation.frames / max(evaluation.seconds, 1e-9)
        console.print(f"scored {evaluation.frames} frames of {len(evaluation.sequences)} sequences in "
                      f"{evaluation.seconds:.2f} s ({rate:.0f} frames/s)")
    if outcome.results is not None and outcome.runs:
        console.print(f"masks: {outcome.results}")
    if outcome.report is not None:
        console.print(f"report: {outcome.report}")
    if outcome.zip is not None:
        console.print(f"submission: {outcome.zip}")
