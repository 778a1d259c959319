"""``vostool segment`` with many videos (vostool.batch) or ``--from-frame`` (vostool.from_frame).

Called by :mod:`vostool.cli.segment` with its options; prints one line per failing video as it
fails, and (rank 0) the summary table: per video its frames, seconds and status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import typer
from rich.table import Table

from vostool.cli.app import _stderr, _stdout
from vostool.cli.progress import RichProgress


def _no_exports(exports: Any, what: str) -> None:
    if exports.any():
        from vostool.errors import OptionError

        raise OptionError(f"{what} writes masks (--out) and overlays (--overlay) only; run --soft, --per-object, "
                          "--matte and --rle per video")


def segment_batch(inputs: Sequence[Path], *, mask: Optional[Path], masks: Optional[Path], out: Optional[Path],
                  overlay: Optional[Path], exports: Any, quiet: bool, **settings: Any) -> None:
    """Many videos: ``--out ROOT`` (ROOT/<name>/), ``--overlay DIR`` (DIR/<name>.mp4), ``--masks ROOT``."""
    from vostool.batch import FAILED, SUMMARY_FILE, segment_many
    from vostool.errors import OptionError
    from vostool.jobs import collect_jobs

    if mask is not None:
        raise OptionError("--mask is one video's first-frame mask; with several videos put <name>.png beside each "
                          "video, or give --masks ROOT with ROOT/<name>.png or ROOT/<name>/")
    _no_exports(exports, "segmenting several videos")
    jobs = collect_jobs(inputs, out, overlay, masks)
    prefix = ""

    def report(row) -> None:
        if row.status == FAILED:
            _stderr().print(f"[bold red]failed:[/bold red] {prefix}{row.name}: {row.message}", markup=True)

    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        prefix = f"[rank {os.environ.get('RANK', '0')}] "
    try:
        result = segment_many(jobs, summary=out / SUMMARY_FILE if out is not None else None, on_result=report,
                              progress=None if quiet else RichProgress, **settings)
    except KeyboardInterrupt:
        _stderr().print("[bold red]interrupted[/bold red]; videos finished so far are complete: run the same command "
                        "again to do the rest (finished videos are skipped)", markup=True)
        raise typer.Exit(130) from None
    if result.rank == 0 and not quiet:
        _print_table(result)
    if result.failed:
        raise typer.Exit(1)


def _print_table(result) -> None:
    title = f"vostool segment: {len(result.results)} videos"
    if result.world > 1:
        title += f" on {result.world} processes"
    table = Table(title=title)
    for name, justify in (("video", "left"), ("frames", "right"), ("seconds", "right"), ("status", "left")):
        table.add_column(name, justify=justify)
    styles = {"ok": "green", "skipped": "cyan", "failed": "red"}
    for row in result.results:
        status = {"skipped": "skipped (done before)"}.get(row.status, row.status)
        if row.message:
            status += f": {row.message}"
        table.add_row(row.name, str(row.frames), f"{row.seconds:.1f}", f"[{styles[row.status]}]{status}[/]")
    counts = {s: sum(r.status == s for r in result.results) for s in styles}
    table.caption = (f"{counts['ok']} done, {counts['skipped']} skipped (done before), {counts['failed']} failed "
                     f"in {result.seconds:.1f} s" + (f"; summary {result.summary}" if result.summary else ""))
    _stdout().print(table)


def segment_from(video: Path, from_frame: int, *, out: Optional[Path], exports: Any, **kwargs: Any):
    """``--from-frame N``: the result of the run from frame N on."""
    from vostool.errors import OptionError
    from vostool.from_frame import segment_from_frame

    if out is None:
        raise OptionError("--from-frame needs --out DIR: the folder of the earlier run, whose masks before frame N "
                          "are kept")
    _no_exports(exports, "--from-frame")
    return segment_from_frame(video, from_frame, out_dir=out, **kwargs)
