"""The report folder: official CSVs, full-precision CSVs, per-frame JSON, plots, a readable summary.

Files (``<label>`` is the set, e.g. ``val``)::

    global_results-<label>.csv              official format: the 7 global columns, 3 decimals
    per-sequence_results-<label>.csv        official format: Sequence,J-Mean,F-Mean per object, 3 decimals
    global_full_precision-<label>.csv       the same numbers with 17 significant digits
    per-object_full_precision-<label>.csv   Sequence,seq,object + Mean/Recall/Decay of J and F, 17 digits
    per-frame-<label>.json                  {"<seq>_<k>": {"frames": [...], "J": [...], "F": [...]}}
    plots/<sequence>.png                    J and F over the frames for every object
    report.md, evaluation.json              protocol header, tables, notes, timing, versions

The folder is built under a temporary name beside its destination and renamed into place when it is
complete; an existing report is replaced only with ``overwrite`` (never reused).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import shutil
import uuid
from pathlib import Path
from typing import Callable

from vostool import __version__
from vostool.errors import OutputError
from vostool.evaluation.summary import GLOBAL_COLUMNS, Evaluation

OBJECT_COLUMNS = ("Sequence", "seq", "object", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def report_files(label: str) -> dict[str, str]:
    return {
        "global": f"global_results-{label}.csv",
        "per_sequence": f"per-sequence_results-{label}.csv",
        "global_full": f"global_full_precision-{label}.csv",
        "per_object_full": f"per-object_full_precision-{label}.csv",
        "per_frame": f"per-frame-{label}.json",
    }


def default_report_dir(results: Path) -> Path:
    """Beside the results folder: ``<results>-report``."""
    results = Path(results).absolute()
    return results.parent / f"{results.name}-report"


def check_report_dir(report: Path, results: Path | None, overwrite: bool) -> None:
    """Refuse, before any work, a report folder that exists (without ``overwrite``) or would hold the results."""
    report = Path(report).absolute()
    if results is not None:
        results = Path(results).absolute()
        if report == results or report in results.parents:
            raise OutputError(f"--report {report} would contain the results folder {results}; choose another folder")
    if report.exists() and not report.is_dir():
        raise OutputError(f"--report {report} is a file; give a folder")
    if report.is_dir() and any(report.iterdir()):
        if not overwrite:
            raise OutputError(f"--report {report} already holds a report; pass --overwrite to replace it (reports are never reused)")
        if not (report / "evaluation.json").is_file() and not any(report.glob("global_results-*.csv")):
            # --overwrite replaces the whole folder: never do that to a folder that is not a report
            raise OutputError(f"--report {report} is a non-empty folder that is not a vostool report; choose a new folder")
    ancestor = report
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {report}: permission denied")


def staging_dir(report: Path) -> Path:
    """A fresh folder beside ``report`` to build the report in."""
    report = Path(report).absolute()
    report.parent.mkdir(parents=True, exist_ok=True)
    staging = report.parent / f".{report.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    return staging


def publish(staging: Path, report: Path) -> None:
    """Move the finished ``staging`` folder to ``report``, replacing an old report."""
    report = Path(report).absolute()
    old = None
    if report.exists():
        old = report.parent / f".{report.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(report, old)
    os.replace(staging, report)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _official(value: float) -> str:
    # pandas to_csv(float_format="%.3f") writes NaN as an empty field
    return "" if math.isnan(value) else "%.3f" % value


def _full(value: float) -> str:
    return "%.17g" % value


def _csv_text(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def write_tables(evaluation: Evaluation, folder: Path) -> None:
    """The CSVs and the per-frame JSON."""
    names = report_files(evaluation.protocol.label)
    g = evaluation.scores
    _write(folder, names["global"], _csv_text(GLOBAL_COLUMNS, [[_official(g[c]) for c in GLOBAL_COLUMNS]]))
    _write(folder, names["global_full"], _csv_text(GLOBAL_COLUMNS, [[_full(g[c]) for c in GLOBAL_COLUMNS]]))
    rows = [[o.name, _official(o.j.mean), _official(o.f.mean)] for o in evaluation.objects]
    _write(folder, names["per_sequence"], _csv_text(("Sequence", "J-Mean", "F-Mean"), rows))
    rows = [[o.name, o.sequence, str(o.index)] + [_full(v) for v in (o.j.mean, o.j.recall, o.j.decay, o.f.mean, o.f.recall, o.f.decay)]
            for o in evaluation.objects]
    _write(folder, names["per_object_full"], _csv_text(OBJECT_COLUMNS, rows))
    per_frame = {o.name: {"frames": list(o.frames), "J": o.J.tolist(), "F": o.F.tolist()} for o in evaluation.objects}
    _write(folder, names["per_frame"], json.dumps(per_frame) + "\n")


def _versions() -> dict[str, str]:
    import cv2
    import numpy
    import PIL
    import scipy

    return {"vostool": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "opencv": cv2.__version__, "scipy": scipy.__version__, "pillow": PIL.__version__}


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else value


def write_summary(evaluation: Evaluation, folder: Path, extra: dict | None = None) -> None:
    """report.md (protocol header, tables, notes) and evaluation.json."""
    p = evaluation.protocol
    lines = ["# vostool evaluate", ""] + [f"- {line}" for line in p.describe()]
    lines += [f"- frame sizes: {evaluation.sizes()}", ""]
    lines += ["| " + " | ".join(GLOBAL_COLUMNS) + " |", "|" + "---|" * len(GLOBAL_COLUMNS),
              "| " + " | ".join(_official(evaluation.scores[c]) for c in GLOBAL_COLUMNS) + " |", ""]
    lines += ["| object | frames | J-Mean | J-Recall | J-Decay | F-Mean | F-Recall | F-Decay |", "|---|---|---|---|---|---|---|---|"]
    for o in evaluation.objects:
        values = (o.j.mean, o.j.recall, o.j.decay, o.f.mean, o.f.recall, o.f.decay)
        lines.append(f"| {o.name} | {len(o.frames)} | " + " | ".join(_official(v) for v in values) + " |")
    if evaluation.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in evaluation.notes]
    lines += ["", f"{len(evaluation.objects)} objects in {len(evaluation.sequences)} sequences, {evaluation.frames} scored "
              f"frames, {evaluation.seconds:.2f} s.", ""]
    _write(folder, "report.md", "\n".join(lines))
    data = {
        "protocol": {"dataset": p.dataset, "split": p.split, "task": p.task, "resolution": p.resolution,
                     "rules": p.describe()},
        "global": {c: _clean(evaluation.scores[c]) for c in GLOBAL_COLUMNS},
        "official_code_global": {c: _clean(evaluation.official_scores[c]) for c in GLOBAL_COLUMNS},
        "objects": [{"name": o.name, "sequence": o.sequence, "object": o.index, "result_id": o.match[0],
                     "gt_id": o.match[1], "frames": len(o.frames),
                     "J": {"mean": o.j.mean, "recall": o.j.recall, "decay": _clean(o.j.decay)},
                     "F": {"mean": o.f.mean, "recall": o.f.recall, "decay": _clean(o.f.decay)}} for o in evaluation.objects],
        "sequences": [{"name": s.name, "frames": len(s.frame_ids), "objects": s.num_objects, "size": [s.width, s.height],
                       "boundary_radius": s.radius} for s in evaluation.sequences],
        "notes": evaluation.notes,
        "seconds": round(evaluation.seconds, 4),
        "versions": _versions(),
    }
    data.update(extra or {})
    _write(folder, "evaluation.json", json.dumps(data, indent=2) + "\n")


def build_report(report: Path, fill: Callable[[Path], Evaluation], extra: dict | None = None) -> Evaluation:
    """Create the report atomically: ``fill(staging)`` scores (writing plots into ``staging/plots``)
    and returns the evaluation; the tables and summary are added and the folder is moved into place."""
    try:
        staging = staging_dir(report)
    except OSError as exc:
        raise OutputError(f"cannot write the report beside {report}: {exc.strerror or exc}") from None
    try:
        evaluation = fill(staging)
        write_tables(evaluation, staging)
        write_summary(evaluation, staging, extra)
        publish(staging, report)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"cannot write the report {report}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return evaluation
