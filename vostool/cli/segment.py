"""``vostool segment``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vostool.cli.app import _errors, _stderr, _stdout, app
from vostool.cli.progress import RichProgress


@app.command()
def segment(
    videos: List[Path] = typer.Argument(..., help="Video file (mp4, mkv, mov, webm, avi, …) or a folder of frames; "
                                        "several: videos, folders of videos, manifests (.tsv); see README."),
    mask: Optional[Path] = typer.Option(None, "--mask", help="Label image of the first frame (indexed/grayscale PNG, or clean RGB)."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Folder of masks named after frames; each introduces new objects."),
    method: str = typer.Option("frtm", "--method", "-m", help="Method (see `vostool methods`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for one indexed PNG per frame."),
    overlay: Optional[Path] = typer.Option(None, "--overlay", help="Video file of the frames with the masks blended in."),
    size: Optional[int] = typer.Option(None, "--size", help="Processing short side in pixels; 0 = native resolution; "
                                       "default: the method's (480; flowvos 240, as its authors)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16 (autocast where safe)."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="Checkpoint file (vostool or the authors'), named weights (`vostool weights list`), demo (tvos: packaged; others: built with `vostool weights build-demo`)."),
    untrained: bool = typer.Option(False, "--untrained", help="Random weights: meaningless masks, for speed and smoke tests."),
    set_: List[str] = typer.Option([], "--set", help="Method option key=value (repeatable); see `vostool methods`."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Overlay frame rate for frame folders (default 24)."),
    soft: Optional[Path] = typer.Option(None, "--soft", help="Folder for soft probability maps per object "
                                        "(png: <id>/<frame>.png 8-bit; npz: <frame>.npz float16)."),
    soft_format: str = typer.Option("png", "--soft-format", help="png or npz, for --soft."),
    per_object: Optional[Path] = typer.Option(None, "--per-object", help="Folder for 0/255 masks per object: <id>/<frame>.png."),
    matte: Optional[Path] = typer.Option(None, "--matte", help="Lossless black-and-white matte video for editors: "
                                         ".mov (PNG codec; Premiere, After Effects) or .mkv (FFV1, smallest)."),
    matte_mode: str = typer.Option("all", "--matte-mode", help="all (one video, any object white) or per-object "
                                   "(<name>_<id>.<ext> per object)."),
    rle: Optional[Path] = typer.Option(None, "--rle", help="JSON file of COCO run-length-encoded masks per frame and object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Accept a video that ends before the frames its "
                                       "container announces (truncated file): status 'partial', exit 0."),
    from_frame: Optional[int] = typer.Option(None, "--from-frame", help="Re-run from this frame (0-based) on, from its "
                                             "correction in --mask/--masks (none: continue an interrupted run); "
                                             "earlier masks in --out are kept."),
) -> None:
    """Segment the objects of a video from their mask(s)."""
    with _errors():
        from vostool.errors import OptionError
        from vostool.options import parse_assignments

        options = parse_assignments(set_)
        if weights is not None and untrained:
            raise OptionError("--weights and --untrained exclude each other")
        if untrained and not quiet:
            _stderr().print("[yellow]note:[/yellow] --untrained uses random weights, not a trained model: use it "
                            "for speed and smoke tests (or with parts that learn online, like FRTM's refine=false)",
                            markup=True)
        from vostool.engine import segment_video
        from vostool.io.exports import ExportOptions
        from vostool.jobs import is_batch
        from vostool.progress import NoProgress

        exports = ExportOptions(soft, soft_format, per_object, matte, matte_mode, rle)
        common = dict(method=method, size=size, device=device, precision=precision, weights=weights,
                      untrained=untrained, options=options, fps=fps)
        if is_batch(videos):  # many videos (vostool.batch), also under torchrun
            from vostool.cli.batch import segment_batch

            if from_frame is not None or allow_partial:
                raise OptionError("--from-frame and --allow-partial are for one video; give a single video")
            return segment_batch(videos, mask=mask, masks=masks, out=out, overlay=overlay, exports=exports,
                                 quiet=quiet, overwrite=overwrite, **common)
        video = videos[0]
        if from_frame is not None:
            from vostool.cli.batch import segment_from

            if allow_partial:
                raise OptionError("--allow-partial is not available with --from-frame")
            result = segment_from(video, from_frame, out=out, exports=exports, mask=mask, masks_dir=masks,
                                  overlay=overlay, progress=NoProgress() if quiet else RichProgress(), **common)
            if not quiet:
                _print_summary(result)
            return
        result = segment_video(
            video, mask=mask, masks_dir=masks, method=method, out_dir=out, overlay=overlay, size=size, device=device,
            precision=precision, weights=weights, untrained=untrained, options=options, overwrite=overwrite,
            progress=NoProgress() if quiet else RichProgress(), fps=fps,
            exports=exports, allow_partial=allow_partial,
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
    if run["processing"].get("size_note"):
        table.add_row("size", run["processing"]["size_note"])
    table.add_row("objects", ", ".join(map(str, result.object_ids)) or "none")
    table.add_row("first frame", f"{result.first_frame_seconds:.2f} s")
    table.add_row("later frames", f"{(result.model_seconds - result.first_frame_seconds) / later:.3f} s/frame (model)")
    table.add_row("total", f"{result.total_seconds:.1f} s ({frames / max(result.total_seconds, 1e-9):.2f} frames/s)")
    if result.out_dir is not None:
        table.add_row("masks", str(result.out_dir))
    if result.overlay is not None:
        table.add_row("overlay", str(result.overlay))
    for export in run["output"].get("exports", []):
        table.add_row(export["kind"].replace("_", " "), export["path"])
    _stdout().print(table)
