"""Segment many videos with one loaded method, on one process or split over torchrun's processes.

Each process loads the method once (on ``cuda:LOCAL_RANK`` under torchrun where there is a GPU) and
runs its share of the jobs (vostool.distributed: every ``world``-th job from its rank) in order,
through the one engine (:func:`vostool.engine.segment_video`). A job that fails is recorded with one
line and the next one starts; a job whose outputs show it was done already (vostool.jobs.is_done) is
skipped, so re-running the same command after an interruption finishes only what is left. After the
last job the processes meet in a collective (all_gather_object, which is the barrier), and rank 0
writes the summary of all of them.
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from vostool.distributed import Processes, gather, joined
from vostool.errors import VostoolError
from vostool.io.masks import atomic_save
from vostool.jobs import RUN_FILE, Job, is_done, job_signature, read_run
from vostool.progress import NoProgress, ProgressReporter
from vostool.signals import sigterm_as_interrupt

SUMMARY_FILE = "vostool-batch.json"
OK, SKIPPED, FAILED = "ok", "skipped", "failed"


@dataclass
class JobResult:
    """One row of the summary: ``status`` is ok, skipped (done by an earlier run) or failed."""

    name: str
    video: str
    out_dir: str
    status: str
    frames: int = 0
    seconds: float = 0.0
    message: str = ""
    rank: int = 0


@dataclass
class BatchResult:
    results: list[JobResult]  # every process's rows, in the order of the jobs
    rank: int = 0
    world: int = 1
    summary: Path | None = None  # the summary file rank 0 wrote
    seconds: float = 0.0
    own: list[JobResult] = field(default_factory=list)  # this process's rows

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status == FAILED]


def _write_summary(path: Path, result: BatchResult, settings: dict[str, Any]) -> None:
    doc = {"finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "processes": result.world, "seconds": round(result.seconds, 3), "settings": settings,
           "counts": {s: sum(r.status == s for r in result.results) for s in (OK, SKIPPED, FAILED)},
           "videos": [asdict(r) for r in result.results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(path, lambda tmp: tmp.write_text(json.dumps(doc, indent=2) + "\n"))


def _mark_started(job: Job, signature: dict[str, Any]) -> bool:
    """Claim ``job.out_dir`` with a run record before any work; True when the folder may be replaced.

    A folder holding a vostool-run.json (this placeholder, or the record of an interrupted or failed
    run) is vostool's own output and is replaced on a re-run without --overwrite. A folder with other
    files is left alone, and the engine reports it.
    """
    out = job.out_dir
    ours = out.is_dir() and (out / RUN_FILE).is_file()
    if out.is_dir() and any(out.iterdir()) and not ours:
        return False
    out.mkdir(parents=True, exist_ok=True)
    record = {"status": "running", "input": {"video": str(job.video)}, "batch": {"signature": signature}}
    atomic_save(out / RUN_FILE, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
    return True


def _finish_record(job: Job, signature: dict[str, Any]) -> None:
    """Add the job signature to the engine's record, so that a re-run recognises the job as done."""
    run = read_run(job.out_dir) or {}
    run["batch"] = {"signature": signature}
    atomic_save(job.out_dir / RUN_FILE, lambda tmp: tmp.write_text(json.dumps(run, indent=2) + "\n"))


def _run_job(job: Job, model: Any, procs: Processes, device: str, settings: dict[str, Any], overwrite: bool,
             progress: ProgressReporter, fps: float | None) -> JobResult:
    from vostool.engine import segment_video

    row = JobResult(job.name, str(job.video), str(job.out_dir), FAILED, rank=procs.rank)
    started = time.perf_counter()
    try:
        if job.error:
            raise VostoolError(job.error)
        method = {"name": model.name, "options": settings["options"], "weights": model.weights_source,
                  "weights_sha256": model.weights_sha256}
        signature = job_signature(job, method, {"size": settings["size"], "precision": settings["precision"]})
        done = None if overwrite else is_done(job, signature)
        if done is not None:
            row.status, row.frames = SKIPPED, int(done.get("frames", 0))
            return row
        replace = _mark_started(job, signature) or overwrite
        result = segment_video(job.video, mask=job.mask, masks_dir=job.masks_dir, method=model, out_dir=job.out_dir,
                               overlay=job.overlay, size=settings["size"], device=device,
                               precision=settings["precision"], overwrite=replace, progress=progress, fps=fps)
        _finish_record(job, signature)
        row.status, row.frames = OK, result.frames
    except VostoolError as exc:
        row.message = str(exc)
    except Exception as exc:  # anything else (a broken file, a failing kernel) also fails this video only
        row.message = f"{type(exc).__name__}: {exc}"
    finally:
        row.seconds = round(time.perf_counter() - started, 3)
    return row


def segment_many(
    jobs: Sequence[Job],
    *,
    method: str = "frtm",
    weights: str | None = None,
    untrained: bool = False,
    options: Mapping[str, Any] | None = None,
    size: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    overwrite: bool = False,
    fps: float | None = None,
    summary: Path | None = None,
    progress: Callable[[], ProgressReporter] | None = None,
    on_result: Callable[[JobResult], None] | None = None,
) -> BatchResult:
    """Segment every job (see vostool.jobs) with one loaded ``method``; never raises for one video.

    Under torchrun (``WORLD_SIZE`` > 1) this process joins the process group, takes its share of
    ``jobs`` and its device, and the rows of all processes are gathered on every one; rank 0 writes
    ``summary`` (JSON). ``progress`` makes a reporter per video (rank 0 only); ``on_result`` sees each
    of this process's rows as it is done. Bad settings (unknown method, missing weights) raise before
    any video; Ctrl-C (or SIGTERM) raises KeyboardInterrupt after the engine has recorded the video
    it was on, and a re-run continues from there.
    """
    from vostool.loader import load_method
    from vostool.options import options_to_dict

    started = time.perf_counter()
    with sigterm_as_interrupt(), joined(device) as (procs, torch_device):
        model = load_method(method, dict(options or {}), weights=weights, untrained=untrained, device=torch_device)
        settings = {"method": model.name, "options": options_to_dict(model.options), "weights": model.weights_source,
                    "size": size, "precision": precision}
        own = []
        for job in procs.share(list(jobs)):
            reporter = progress() if progress is not None and procs.main else NoProgress()
            row = _run_job(job, model, procs, str(torch_device), settings, overwrite, reporter, fps)
            own.append(row)
            if on_result is not None:
                on_result(row)
        # The collective is the barrier: every process has finished its share when it returns.
        parts = gather(procs, [asdict(r) for r in own])
    rows = [JobResult(**r) for part in parts for r in part]
    order = {(str(j.video), str(j.out_dir)): k for k, j in enumerate(jobs)}
    rows.sort(key=lambda r: order.get((r.video, r.out_dir), len(order)))
    result = BatchResult(rows, procs.rank, procs.world, None, time.perf_counter() - started, own)
    if summary is not None and procs.main:
        _write_summary(Path(summary), result, settings)
        result.summary = Path(summary)
    return result
