"""Many videos for ``vostool segment``: the list of jobs, where each one's masks and outputs are, and
whether a job was already done by an earlier run (so that a re-run after an interruption continues).

Inputs (any mix, in the order given):

* a video file or a folder of frames: one job;
* a folder that contains video files (``.mp4``, ``.mkv``, …): one job per video file in it, in natural
  order (sub-folders are not searched);
* a manifest ``*.tsv``: one job per line (see :func:`read_manifest`).

A job's name is the video's file stem (the folder's name for a folder of frames). Its outputs go to
``--out ROOT`` as ``ROOT/<name>/`` and, with ``--overlay DIR``, ``DIR/<name>.mp4``. Its masks: with
``--masks ROOT``, ``ROOT/<name>.png`` (first-frame mask) or ``ROOT/<name>/`` (masks named after
frames); otherwise beside the video, ``<name>.png`` or ``<name>_masks/``. Exactly one must exist.

A job is done when its ``vostool-run.json`` says ``status: ok``, carries the same job signature (the
video's size and time, the masks' contents, the method, its options and weights, the processing size
and precision) and as many PNGs as frames are there (and the overlay, when asked for).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from vostool.errors import OptionError
from vostool.io.video import list_frame_files, natural_key

RUN_FILE = "vostool-run.json"  # the engine's record of a run (vostool.engine.RUN_FILE)
MANIFEST_SUFFIXES = (".tsv",)
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".y4m")
MASKS_FOLDER_SUFFIX = "_masks"  # beside a video: <name>_masks/ holds its masks named after frames
OVERLAY_SUFFIX = ".mp4"


@dataclass(frozen=True)
class Job:
    """One video to segment: its masks (exactly one of ``mask``/``masks_dir``) and its outputs."""

    name: str
    video: Path
    out_dir: Path
    mask: Path | None = None
    masks_dir: Path | None = None
    overlay: Path | None = None
    error: str | None = None  # known before running (no mask found, no such video): the job fails with it


def is_manifest(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES


def videos_in(folder: Path) -> list[Path]:
    """The video files directly in ``folder``, in natural order (empty for a folder of frames)."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def is_batch(inputs: Sequence[Path]) -> bool:
    """Several inputs, a manifest, or a folder of videos: the many-videos form of ``vostool segment``."""
    return len(inputs) != 1 or is_manifest(inputs[0]) or bool(videos_in(inputs[0]))


def _masks_for(video: Path, name: str, masks_root: Path | None) -> tuple[Path | None, Path | None, str | None]:
    """(mask file, masks folder, error) by the convention in the module docstring."""
    if masks_root is not None:
        file, folder = masks_root / f"{name}.png", masks_root / name
    else:
        file, folder = video.parent / f"{name}.png", video.parent / f"{name}{MASKS_FOLDER_SUFFIX}"
    has_file, has_folder = file.is_file(), folder.is_dir()
    if has_file and has_folder:
        return None, None, f"both {file} and {folder} exist; keep one (a first-frame mask or masks named after frames)"
    if has_file:
        return file, None, None
    if has_folder:
        return None, folder, None
    return None, None, f"no mask for {video}: expected {file} (first frame) or {folder}/ (masks named after frames)"


def _job_name(video: Path) -> str:
    return video.name if video.is_dir() else video.stem


def _default_out(name: str, out_root: Path | None, where: str) -> Path:
    if out_root is None:
        raise OptionError(f"{where}: give --out ROOT (each video's masks go to ROOT/<video name>/)")
    return out_root / name


def _job(video: Path, out_dir: Path, overlay: Path | None, masks_root: Path | None, mask: Path | None = None) -> Job:
    """A job; ``mask`` (a file or a folder) overrides the convention for finding the masks."""
    name = _job_name(video)
    if mask is None:
        mask_file, masks_dir, error = _masks_for(video, name, masks_root)
    else:
        mask_file, masks_dir = (None, mask) if mask.is_dir() else (mask, None)
        error = None if mask.exists() else f"mask not found: {mask}"
    if not video.exists():
        error = f"video not found: {video}"
    elif video.is_dir() and not list_frame_files(video):
        error = f"{video} holds neither videos nor frames"
    return Job(name, video, out_dir, mask_file, masks_dir, overlay, error)


def _convention_job(video: Path, out_root: Path | None, overlay_root: Path | None, masks_root: Path | None) -> Job:
    name = _job_name(video)
    overlay = overlay_root / f"{name}{OVERLAY_SUFFIX}" if overlay_root is not None else None
    return _job(video, _default_out(name, out_root, "several videos"), overlay, masks_root)


def _field(value: str, base: Path) -> Path | None:
    value = value.strip()
    if value in ("", "-"):
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def read_manifest(path: Path, out_root: Path | None, overlay_root: Path | None, masks_root: Path | None) -> list[Job]:
    """Jobs from a tab-separated manifest, one video per line::

        # video <TAB> mask (a .png: first frame; a folder: masks named after frames) <TAB> out dir [<TAB> overlay]
        clips/cat.mp4	masks/cat.png	out/cat	out/cat.mp4
        clips/dog.mp4	masks/dog/	out/dog

    Relative paths are relative to the manifest's folder. Empty lines and lines starting with ``#`` are
    skipped, and so is a first line whose first field is ``video`` (a spreadsheet's header). An empty or
    ``-`` field takes the convention of the other inputs (masks beside the video or under ``--masks``,
    ``--out ROOT/<name>``, ``--overlay DIR/<name>.mp4``).
    """
    jobs = []
    base = path.parent
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if number == 1 and fields[0].strip().lower() == "video":
            continue
        if len(fields) > 4:
            raise OptionError(f"{path}:{number}: {len(fields)} tab-separated fields; expected video, mask, out, "
                              "and optionally overlay")
        fields += [""] * (4 - len(fields))
        video = _field(fields[0], base)
        if video is None:
            raise OptionError(f"{path}:{number}: the first field (the video) is empty")
        mask, out, overlay = (_field(f, base) for f in fields[1:])
        name = _job_name(video)
        if out is None:
            out = _default_out(name, out_root, f"{path}:{number} has no out dir")
        if overlay is None and overlay_root is not None:
            overlay = overlay_root / f"{name}{OVERLAY_SUFFIX}"
        job = _job(video, out, overlay, masks_root, mask)
        jobs.append(job)
    if not jobs:
        raise OptionError(f"manifest {path} lists no video")
    return jobs


def collect_jobs(inputs: Sequence[Path], out_root: Path | None = None, overlay_root: Path | None = None,
                 masks_root: Path | None = None) -> list[Job]:
    """Every job of ``inputs`` (videos, folders of videos, manifests), checked for clashing outputs."""
    jobs: list[Job] = []
    for item in inputs:
        item = Path(item)
        if is_manifest(item):
            jobs += read_manifest(item, out_root, overlay_root, masks_root)
        elif videos := videos_in(item):
            jobs += [_convention_job(v, out_root, overlay_root, masks_root) for v in videos]
        else:
            jobs.append(_convention_job(item, out_root, overlay_root, masks_root))
    seen: dict[Path, Job] = {}
    for job in jobs:
        for target in (job.out_dir, job.overlay):
            if target is None:
                continue
            key = target.absolute()
            if key in seen:
                raise OptionError(f"{seen[key].video} and {job.video} would both write {target}; rename one or "
                                  "list them in a manifest with their own outputs")
            seen[key] = job
    return jobs


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _video_stamp(video: Path) -> dict[str, Any]:
    """What identifies the input without reading it all: size and modification time (per frame for folders)."""
    if video.is_dir():
        files = list_frame_files(video)
        return {"frames": [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]}
    stat = video.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def job_signature(job: Job, method: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """What a finished run must have been run with to count as this job done.

    ``method``: name, options, weights and their sha256 (as vostool-run.json records them);
    ``settings``: the processing size and precision. The device is left out on purpose: a job done on
    a GPU need not be redone on a CPU.
    """
    masks = [job.mask] if job.mask is not None else sorted(
        (p for p in job.masks_dir.iterdir() if p.suffix.lower() == ".png"), key=lambda p: natural_key(p.name))
    return {
        "video": str(job.video.absolute()),
        "video_stamp": _video_stamp(job.video),
        "masks": [[p.name, _sha256(p)] for p in masks],
        "method": method,
        "settings": settings,
        "overlay": str(job.overlay.absolute()) if job.overlay is not None else None,
    }


def read_run(out_dir: Path) -> dict[str, Any] | None:
    """The run record in ``out_dir``, or None when there is none (or it cannot be read)."""
    try:
        return json.loads((out_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None


def is_done(job: Job, signature: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier run's record when it did this exact job completely, else None."""
    run = read_run(job.out_dir)
    if not run or run.get("status") != "ok" or run.get("batch", {}).get("signature") != signature:
        return None
    if len(list(job.out_dir.glob("*.png"))) != run.get("frames"):
        return None
    if job.overlay is not None and not job.overlay.is_file():
        return None
    return run
