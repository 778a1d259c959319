"""``vostool segment VIDEO --from-frame N``: re-run a video from a corrected frame on, keeping the start.

A method's state on frame N depends on every frame before it, and no method can be resumed from a
mask alone except by starting over from that mask. So a from-frame run is a new session that starts
on frame N (the engine's ``start_frame``), seeded with a complete mask of frame N:

* the objects drawn in the correction (``--mask FILE``, or the file for frame N in ``--masks DIR``)
  are exactly as drawn, and
* every other object keeps its estimate on frame N from the outputs already on disk (the earlier
  run's ``N.png``; if that run stopped before N, its last frame ``N-1``), less the pixels the
  correction gives to others.

This is the rule of corrections on later frames (docs/methods.md): objects left out of a correction
keep tracking. Without any mask, ``--from-frame N`` continues an interrupted run: frame N starts from
the run's own output (its ``N.png``, or ``N-1`` when it stopped before N), nothing drawn over it. Re-seeding from the written output rather than requiring a redrawn mask of every
object means a user fixes one object on one frame and nothing else is lost. Masks in ``--masks``
after frame N are used as usual (new objects, corrections); those before N are not read again.

Frames before N keep their PNGs untouched. The PNGs from N on are rewritten, each atomically; the
overlay (``--overlay``) is re-encoded from all the PNGs afterwards, so it shows the kept and the new
frames. ``vostool-run.json`` records the from-frame run: ``from_frame`` (frame, correction, seed,
kept frames) and the earlier record as ``previous``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vostool.errors import MaskError, OptionError, OutputError
from vostool.io.mask_schedule import match_mask_files
from vostool.io.masks import atomic_save, fit_to_frame, read_label_image, write_label_png
from vostool.io.video import VideoInfo, iter_frames, probe
from vostool.io.writers import OverlayVideoWriter, overlay_format
from vostool.jobs import RUN_FILE, read_run


def seed_mask(previous: np.ndarray, correction: np.ndarray) -> np.ndarray:
    """Frame N's complete mask: the earlier estimate ``previous`` with the ``correction`` drawn over it.

    Both are (H, W) uint8 ids. An object in the correction is exactly its drawn pixels (its old
    estimate elsewhere is removed); other objects keep their estimate except where the correction draws.
    """
    drawn = [i for i in np.unique(correction) if i != 0]
    seed = np.where(np.isin(previous, drawn), 0, previous)
    return np.where(correction > 0, correction, seed).astype(np.uint8)


def _correction(info: VideoInfo, start: int, mask: Path | None,
                masks_dir: Path | None) -> tuple[Path | None, list[tuple[int, Path]]]:
    """The correction for frame ``start`` (None: continue an interrupted run from its own output) and
    the masks given for later frames."""
    if mask is not None and masks_dir is not None:
        raise OptionError("--from-frame: give the correction of frame N as --mask FILE or --masks DIR, not both")
    if mask is None and masks_dir is None:
        return None, []
    if mask is not None:
        return Path(mask), []
    pairs = match_mask_files(info, Path(masks_dir))
    at = [path for index, path in pairs if index == start]
    if not at:
        raise MaskError(f"--from-frame {start}: --masks {masks_dir} has no mask for frame {start} "
                        f"({info.frame_name(start)}.png)")
    return at[0], [(index, path) for index, path in pairs if index > start]


def _kept_outputs(info: VideoInfo, out: Path, start: int) -> Path:
    """Check that the outputs before ``start`` are there; returns the PNG to re-seed from."""
    missing = [info.frame_name(i) for i in range(start) if not (out / f"{info.frame_name(i)}.png").is_file()]
    if missing:
        raise OutputError(f"--from-frame {start}: {out / (missing[0] + '.png')} is missing ({len(missing)} of the "
                          f"{start} frames before {start}); run without --from-frame first")
    at = out / f"{info.frame_name(start)}.png"
    return at if at.is_file() else out / f"{info.frame_name(start - 1)}.png"


def render_overlay(info: VideoInfo, out: Path, overlay: Path, fps: float | None) -> None:
    """Re-encode ``overlay`` from the video's frames and the PNGs in ``out`` (all frames that have one)."""
    palette = None
    writer = None
    try:
        for frame in iter_frames(info):
            png = out / f"{frame.name}.png"
            if not png.is_file():
                break
            label_map = read_label_image(png)
            if writer is None:
                palette = label_map.palette
                writer = OverlayVideoWriter(overlay, info.width, info.height, info.fps or fps or 24, palette,
                                            info.time_base)
            writer.write(frame.image, label_map.labels, frame.pts)
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _amend_record(out: Path, record: dict, masks: list[Path], warning: str | None,
                  previous: dict | None) -> dict:
    """Put the from-frame facts into the engine's vostool-run.json (which names the temporary seed)."""
    run = read_run(out)
    if run is None or "input" not in run or run == previous:  # the engine stopped before writing its record
        return {}
    run["input"]["masks"] = [str(p) for p in masks]
    run["from_frame"] = record
    run["warnings"] = list(run.get("warnings", [])) + ([warning] if warning else [])
    if previous is not None:
        previous.pop("versions", None)
        run["previous"] = previous
    atomic_save(out / RUN_FILE, lambda tmp: tmp.write_text(json.dumps(run, indent=2) + "\n"))
    return run


def segment_from_frame(
    video: str | Path,
    from_frame: int,
    *,
    out_dir: str | Path,
    mask: str | Path | None = None,
    masks_dir: str | Path | None = None,
    overlay: str | Path | None = None,
    fps: float | None = None,
    **engine: Any,
):
    """Re-segment ``video`` from frame ``from_frame`` on (0-based) into ``out_dir``, keeping earlier PNGs.

    ``engine``: the other options of :func:`vostool.engine.segment_video` (method, weights, untrained,
    options, size, device, precision, progress). Returns the engine's :class:`~vostool.engine.SegmentResult` of the frames from ``from_frame`` on.
    """
    from vostool.engine import segment_video

    if from_frame < 1:
        raise OptionError(f"--from-frame {from_frame}: give a frame after the first (0-based); "
                          "to redo the whole video run without --from-frame")
    out = Path(out_dir)
    info = probe(video)
    if info.num_frames is not None and from_frame >= info.num_frames:
        raise OptionError(f"--from-frame {from_frame}: {Path(video).name} has {info.num_frames} frames (0..{info.num_frames - 1})")
    if overlay is not None:
        overlay_format(Path(overlay))
    correction_path, later = _correction(info, from_frame, Path(mask) if mask else None,
                                         Path(masks_dir) if masks_dir else None)
    base_path = _kept_outputs(info, out, from_frame)
    previous_run = read_run(out)
    base = read_label_image(base_path)
    warning = None
    if correction_path is None:  # continuing: frame N starts from the run's own output, nothing drawn
        drawn = np.zeros(info.size, np.uint8)
        if not base.labels.any():
            raise MaskError(f"--from-frame {from_frame}: {base_path} has no object to continue from; give a mask")
    else:
        correction = read_label_image(correction_path)
        drawn, warning = fit_to_frame(correction.labels, info.size, correction_path)
        if not drawn.any():
            raise MaskError(f"correction {correction_path} has no object; draw the corrected object(s) with their ids")
    seed = seed_mask(base.labels, drawn)
    record = {"frame": from_frame, "name": info.frame_name(from_frame),
              "correction": str(correction_path) if correction_path is not None else None,
              "seeded_from": str(base_path), "kept_frames": from_frame}
    try:
        with tempfile.TemporaryDirectory(prefix="vostool-from-frame-") as tmp:
            # The engine reads masks named after frames: the seed on frame N, then the later masks as given.
            write_label_png(Path(tmp) / f"{info.frame_name(from_frame)}.png", seed, base.palette)
            for _, path in later:
                (Path(tmp) / path.name).symlink_to(path.absolute())
            result = segment_video(video, masks_dir=tmp, out_dir=out, overwrite=True, fps=fps, start_frame=from_frame,
                                   **engine)
    finally:  # also after a failure or Ctrl-C: the record says what this run was, not the temporary seed
        given = ([correction_path] if correction_path is not None else []) + [p for _, p in later]
        run = _amend_record(out, record, given, warning, previous_run)
    result.run = run
    if overlay is not None:
        render_overlay(info, out, Path(overlay), fps)
        result.overlay = Path(overlay)
    return result
