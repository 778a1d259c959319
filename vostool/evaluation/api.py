"""The two ways to evaluate: score existing results, or segment a dataset with a method and score it.

Everything that can be checked is checked before the long work starts (layout, split file, result
files, output folders, the zip path), so a bad input costs one line and no time.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from vostool.distributed import Processes, barrier, joined, launched
from vostool.errors import OptionError, OutputError, SequencesFailed
from vostool.evaluation.protocol import NO_GROUND_TRUTH, Protocol, build_jobs, dataset_sequences
from vostool.evaluation.report import build_report, check_report_dir, default_report_dir
from vostool.evaluation.resume import check_resumable, check_room
from vostool.evaluation.runner import score_sequences
from vostool.progress import Progress
from vostool.evaluation.shard import current, segment_shared
from vostool.evaluation.segment import (
    EngineSettings,
    check_output_dir,
    check_ytvos,
    davis_zip_entries,
    segment_davis,
    segment_ytvos,
    write_zip,
    ytvos_zip_entries,
)
from vostool.evaluation.summary import Evaluation, summarize


@dataclass
class Outcome:
    """What an evaluate run produced."""

    evaluation: Evaluation | None  # None when there is nothing to score (test sets, YouTube-VOS)
    results: Path | None = None
    report: Path | None = None
    zip: Path | None = None
    runs: list[dict] = field(default_factory=list)
    main: bool = True  # False on torchrun's other processes: rank 0 zipped and scored


def evaluate_results(
    results: str | Path,
    root: str | Path,
    protocol: Protocol | None = None,
    *,
    report: str | Path | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    plots: bool = True,
    progress: Progress | None = None,
    extra: dict | None = None,
) -> Evaluation:
    """Score ``results/<sequence>/<frame>.png`` against the DAVIS-layout ``root``; write the report.

    The report goes to ``report`` (default ``<results>-report`` beside the results).
    """
    protocol = protocol or Protocol()
    results = Path(results)
    if protocol.split in NO_GROUND_TRUTH:
        raise OptionError(f"DAVIS {protocol.split} has no ground truth to score against; pass --zip to write "
                          "the submission for the evaluation server")
    report_dir = Path(report) if report is not None else default_report_dir(results)
    check_report_dir(report_dir, results, overwrite)
    jobs = build_jobs(root, protocol, results)

    def fill(staging: Path) -> Evaluation:
        plot_dir = None
        if plots:
            plot_dir = staging / "plots"
            plot_dir.mkdir()
        started = time.perf_counter()
        scores = score_sequences(jobs, workers, progress, plot_dir)
        return summarize(protocol, scores, time.perf_counter() - started)

    info = {"results": str(results.absolute()), "root": str(Path(root).absolute())}
    info.update(extra or {})
    evaluation = build_report(report_dir, fill, info)
    evaluation.report_dir = report_dir
    return evaluation


def _check_zip(path: Path | None, overwrite: bool) -> None:
    if path is None:
        return
    if path.suffix.lower() != ".zip":
        raise OutputError(f"--zip {path}: the file name must end in .zip")
    if path.exists() and not overwrite:
        raise OutputError(f"--zip {path} exists; pass --overwrite to replace it")


def _raise_failures(runs: list[dict], results_dir: Path) -> None:
    """After every sequence ran: failures stop the run before scoring (a J&F over the rest would mislead)."""
    failures = [(r["sequence"], r["status"][len("failed: "):]) for r in runs if r["status"].startswith("failed")]
    if failures:
        name, line = failures[0]
        raise SequencesFailed(
            f"{len(failures)} of {len(runs)} sequences failed (first: {name}: {line}); the others are in "
            f"{results_dir}; run the same command again to retry the failed ones (finished ones are kept)", failures)


def evaluate_davis(
    root: str | Path,
    protocol: Protocol,
    *,
    results: str | Path | None = None,
    engine: EngineSettings | None = None,
    out: str | Path | None = None,
    report: str | Path | None = None,
    zip_path: str | Path | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    plots: bool = True,
    progress: Progress | None = None,
    engine_progress=None,
) -> Outcome:
    """DAVIS-layout sets: segment with ``engine`` into ``out`` (or take ``results``), zip, score.

    With ``engine``, a non-empty ``out`` from an earlier run of the same settings is continued
    (:mod:`vostool.evaluation.resume`); sequences that fail are listed in a SequencesFailed raised after
    all the others ran, before the zip and the scores."""
    if (results is None) == (engine is None):
        raise OptionError("give either --results DIR (score existing masks) or --method NAME (segment, then score)")
    scoring = protocol.split not in NO_GROUND_TRUTH
    if engine is not None and not protocol.semi_supervised:
        raise OptionError("--method segments from first-frame annotations (semi-supervised); "
                          "score unsupervised results with --results DIR")
    sequences = dataset_sequences(root, protocol)
    if engine is not None:
        results_dir = Path(out) if out is not None else Path("evaluation") / f"{protocol.dataset}-{protocol.label}-{engine.name}"
        check_resumable(results_dir, [s.name for s in sequences], overwrite)  # a re-run continues (issue 21)
        check_room(results_dir, sequences)
    else:
        results_dir = Path(results)
    zip_file = Path(zip_path) if zip_path is not None else None
    if zip_file is None and not scoring:
        zip_file = results_dir.absolute().parent / f"{results_dir.absolute().name}.zip"
    _check_zip(zip_file, overwrite)
    report_dir = Path(report) if report is not None else default_report_dir(results_dir)
    if scoring:
        check_report_dir(report_dir, results_dir, overwrite)
    runs: list[dict] = []
    if engine is not None:
        if scoring:
            build_jobs(root, protocol, results_dir, check_results=False)  # the ground truth, before segmenting
        runs = segment_shared(sequences, lambda part: segment_davis(part, results_dir, engine, protocol.merge_objects,
                                                                    engine_progress, overwrite))
        _raise_failures(runs, results_dir)
        if not current().main:  # torchrun: rank 0 zips and scores once every process has written its share
            return Outcome(None, results_dir, runs=runs, main=False)
    if zip_file is not None:
        write_zip(zip_file, davis_zip_entries(results_dir, sequences), overwrite)
    evaluation = None
    if scoring:
        extra = {"method": engine.name, "runs": runs} if engine is not None else None
        evaluation = evaluate_results(results_dir, root, protocol, report=report_dir, overwrite=overwrite,
                                      workers=workers, plots=plots, progress=progress, extra=extra)
    return Outcome(evaluation, results_dir, report_dir if scoring else None, zip_file, runs)


def evaluate_ytvos(
    root: str | Path,
    split: str = "valid",
    *,
    results: str | Path | None = None,
    engine: EngineSettings | None = None,
    out: str | Path | None = None,
    zip_path: str | Path | None = None,
    all_frames: bool = False,
    overwrite: bool = False,
    engine_progress=None,
) -> Outcome:
    """YouTube-VOS: segment into the submission folder (or take ``results``) and zip the listed frames.

    Scoring happens on the evaluation server; there is no public ground truth for valid/test.
    """
    from vostool.data.sequences import youtube_vos_sequences

    if (results is None) == (engine is None):
        raise OptionError("give either --results DIR (zip existing masks) or --method NAME (segment, then zip)")
    root = Path(root)
    sequences = youtube_vos_sequences(root, split, all_frames=all_frames)
    annotations = root / split / "Annotations"
    if engine is not None:
        folder = Path(out) if out is not None else Path("evaluation") / f"ytvos-{split}-{engine.name}"
        if not overwrite and folder.is_dir() and {p.name for p in folder.iterdir()} <= {"Annotations", "runs"}:
            check_resumable(folder / "Annotations", [s.name for s in sequences], overwrite)  # a re-run continues
        else:
            check_output_dir(folder, overwrite)
    else:
        folder = Path(results)
    zip_file = Path(zip_path) if zip_path is not None else folder.absolute().parent / f"{folder.absolute().name}.zip"
    _check_zip(zip_file, overwrite)
    runs: list[dict] = []
    if engine is not None:
        check_ytvos(sequences, annotations)
        runs = segment_shared(sequences, lambda part: segment_ytvos(part, annotations, folder, engine, engine_progress,
                                                                    overwrite))
        _raise_failures(runs, folder)
        if not current().main:
            return Outcome(None, folder, runs=runs, main=False)
    write_zip(zip_file, ytvos_zip_entries(folder, sequences), overwrite)
    return Outcome(None, folder, None, zip_file, runs)


def evaluate_dataset(
    root: str | Path,
    dataset: str = "davis17",
    split: str | None = None,
    *,
    task: str = "semi-supervised",
    results: str | Path | None = None,
    method: str | None = None,
    weights: str | None = None,
    untrained: bool = False,
    options: dict | None = None,
    size: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    out: str | Path | None = None,
    report: str | Path | None = None,
    zip_path: str | Path | None = None,
    all_frames: bool = False,
    resolution: str = "480p",
    workers: int | None = None,
    plots: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
    engine_progress=None,
) -> Outcome:
    """``vostool evaluate``: score ``results`` or segment with ``method`` first; YouTube-VOS (``dataset
    ="ytvos"``) or a DAVIS layout (davis17, davis16, folder), with each one's default split."""
    if results is not None and method is not None:
        raise OptionError("give either --results DIR or --method NAME, not both")
    if results is None and method is None:
        raise OptionError("give --results DIR (score existing masks) or --method NAME (segment, then score)")
    if weights is not None and untrained:
        raise OptionError("--weights and --untrained exclude each other")
    engine = None
    if method is not None:
        engine = EngineSettings(method, weights, untrained, dict(options or {}), size, device, precision)
    # torchrun: every process joins the group and segments its share on its device (vostool.evaluation.shard)
    with joined(device) if engine is not None and launched() else contextlib.nullcontext((Processes(), None)) as (procs, dev):
        if procs.distributed:
            engine.device = str(dev)
            progress, engine_progress = (progress, engine_progress) if procs.main else (None, None)
        if dataset == "ytvos":
            outcome = evaluate_ytvos(root, split or "valid", results=results, engine=engine, out=out,
                                     zip_path=zip_path, all_frames=all_frames, overwrite=overwrite,
                                     engine_progress=engine_progress)
        else:
            default_split = None if dataset == "folder" else "val"
            protocol = Protocol(dataset, split or default_split, task, resolution)
            outcome = evaluate_davis(root, protocol, results=results, engine=engine, out=out, report=report,
                                     zip_path=zip_path, overwrite=overwrite, workers=workers, plots=plots,
                                     progress=progress, engine_progress=engine_progress)
        # The other ranks wait for rank 0's report, so that all leave the group together (gloo aborts a
        # process whose peer tore the group down while it still worked).
        barrier(procs)
        return outcome
