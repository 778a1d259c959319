"""``vostool evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vostool.cli.app import _errors, _stderr, _stdout, app
from vostool.cli.progress import RichProgress


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
        from vostool.cli.evaluation_table import print_outcome
        from vostool.evaluation import evaluate_dataset
        from vostool.options import parse_assignments

        from vostool.errors import SequencesFailed

        try:
            outcome = evaluate_dataset(
                root, dataset, split, task=task, results=results, method=method, weights=weights, untrained=untrained,
                options=parse_assignments(set_), size=size, device=device, precision=precision, out=out, report=report,
                zip_path=zip_, all_frames=all_frames, resolution=resolution, workers=workers, plots=plots,
                overwrite=overwrite, progress=None if quiet else RichProgress(),
                engine_progress=None if quiet else RichProgress,
            )
        except SequencesFailed as exc:  # the summary: each failed sequence with its error line
            for name, line in exc.failures:
                _stderr().print(f"[red]failed:[/red] {name}: {line}", markup=True, highlight=False)
            raise
        if not quiet and outcome.main:  # under torchrun, rank 0 reports
            print_outcome(_stdout(), outcome)
