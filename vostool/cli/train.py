"""``vostool train`` and ``vostool synth``.

As everywhere in the CLI, torch and the training code are imported inside the command functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vostool.cli.app import _errors, _stdout, app
from vostool.cli.progress import RichProgress


def _summary(result) -> Table:
    table = Table(title="vostool train", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("steps", f"{result.step} of {result.total_steps} ({result.steps_per_epoch} per epoch): {result.reason}")
    table.add_row("time", f"{result.seconds / 60:.1f} min")
    if result.last_loss is not None:
        table.add_row("last loss", f"{result.last_loss:.4f}")
    if result.last_val is not None:
        base = f"; copying the first mask: {result.baseline['J&F']:.1f}" if result.baseline else ""
        table.add_row("validation", f"J&F {result.last_val['J&F']:.1f} (J {result.last_val['J']:.1f}, "
                      f"F {result.last_val['F']:.1f}){base}")
    if result.best and "best.pt" in result.files:
        table.add_row("best.pt", f"J&F {result.best['score']:.1f} at step {result.best['step']}")
    table.add_row("run", f"{result.run_dir}/ ({', '.join(result.files)})")
    if result.stopped != "done":
        table.add_row("continue", f"add --resume to the same command (run {result.run_dir.name})")
    return table


def _plan(plan: dict) -> Table:
    table = Table(title=f"vostool train {plan['method']} --dry-run", show_header=True)
    for column in ("setting", "value"):
        table.add_column(column)
    for key in ("run_dir", "sources", "val_sources", "clips_per_epoch", "steps_per_epoch", "total_steps",
                "backbone_weights", "seed", "world_size", "precision"):
        value = plan[key]
        table.add_row(key, "; ".join(value) if isinstance(value, list) else str(value))
    for key, value in plan["recipe"].items():
        table.add_row(f"recipe.{key}", str(value))
    for key, value in plan["options"].items():
        table.add_row(f"option.{key}", str(value))
    return table


@app.command()
def train(
    method: str = typer.Argument(..., help="Method to train (see `vostool methods`)."),
    data: List[str] = typer.Option([], "--data", "-d", help="Training data (repeatable): davis:ROOT, ytvos:ROOT, "
                                   "folder:ROOT, a dataset folder, or synthetic[:videos=N,seed=S,...]."),
    val: List[str] = typer.Option([], "--val", help="Held-out sequences for the validation J&F (repeatable; same forms)."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Run name: files go to RUNS/NAME (default: the method)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Folder of runs."),
    set_: List[str] = typer.Option([], "--set", help="Recipe field or method option key=value (repeatable); see --dry-run."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Stop after this many steps in total (the schedule keeps its length)."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop (and save) after this much time."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the clip sampling (default 0)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N (under torchrun: auto/cuda/cpu)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, or bf16/fp16 autocast (AMP)."),
    backbone_weights: Optional[str] = typer.Option(None, "--backbone-weights", help="imagenet (default; torchvision's "
                                                   "cache or download), none (random, frozen) or a weights file."),
    resume: bool = typer.Option(False, "--resume", help="Continue RUNS/NAME from its last.pt, exactly."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start RUNS/NAME again, deleting the old run."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything, print the resolved recipe and data, stop."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Train a method on DAVIS, YouTube-VOS or synthetic video (resumable; many GPUs with torchrun)."""
    with _errors():
        from vostool.errors import OptionError
        from vostool.options import parse_assignments
        from vostool.training import train as run_training
        from vostool.progress import NoProgress

        if resume and overwrite:
            raise OptionError("--resume and --overwrite exclude each other")
        result = run_training(
            method, data, name=name or method.strip().lower(), runs_dir=runs_dir, val=val or None,
            settings=parse_assignments(set_), steps=steps, max_minutes=max_minutes, seed=seed, device=device,
            precision=precision, backbone_weights=backbone_weights, resume=resume, overwrite=overwrite,
            progress=NoProgress() if quiet else RichProgress(), dry_run=dry_run,
        )
        if dry_run:
            _stdout().print(_plan(result))
        elif not quiet:
            _stdout().print(_summary(result))
        if not dry_run and result.exit_code:  # an interrupted run exits non-zero (130 Ctrl-C, 143 SIGTERM)
            raise typer.Exit(result.exit_code)

@app.command()
def synth(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the dataset (DAVIS layout)."),
    sequences: int = typer.Option(10, "--sequences", "-n", help="Number of videos."),
    seed: int = typer.Option(0, "--seed", help="Video i is the same as in the stream synthetic:seed=SEED."),
    split: str = typer.Option("val", "--split", help="ImageSets/2017/SPLIT.txt lists the sequences."),
    set_: List[str] = typer.Option([], "--set", help="Generator setting key=value: frames, height, width, min_objects, "
                                   "max_objects, distractors, speed, camera_motion, leave, deform, noise."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write procedural videos with ground truth as a DAVIS-layout dataset (for evaluate and train)."""
    with _errors():
        from vostool.data.synth_dataset import write_dataset
        from vostool.data.synth_video import SynthConfig
        from vostool.errors import OptionError
        from vostool.options import make_options, parse_assignments
        from vostool.progress import NoProgress

        if sequences < 1:
            raise OptionError("--sequences must be at least 1")
        config = make_options(SynthConfig, parse_assignments(set_))
        bar = NoProgress() if quiet else RichProgress()
        bar.start(sequences, "synth", unit="videos")
        try:
            names = write_dataset(out, sequences, config, seed, split, overwrite, progress=bar.advance)
        finally:
            bar.stop()
        if not quiet:
            _stdout().print(f"wrote {len(names)} sequences of {config.frames} frames at {config.height}x{config.width} "
                            f"to {out} (ImageSets/2017/{split}.txt)")
