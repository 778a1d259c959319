"""Dataset runs that survive a failing sequence and continue where they stopped.

``evaluate --method`` writes ``<out>/<sequence>/<frame>.png`` sequence by sequence. When a sequence
is complete, :func:`mark_complete` writes ``<out>/<sequence>/vostool-done.json``: what produced it
(method, weights and their sha256, options, size, precision, how ids were read) and its frame names.
A re-run of the same command keeps a sequence whose record matches the run exactly and whose PNGs are
all there; every other sequence is segmented again. A folder that holds anything else (other files, a
sequence finished with other settings) still needs ``--overwrite``, so results are never mixed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vostool.errors import OutputError
from vostool.io.masks import atomic_save

DONE_FILE = "vostool-done.json"
RUN_FILE = "vostool-run.json"  # the engine's run record (vostool.engine.RUN_FILE), present in every attempted sequence


def run_key(model: Any, size: int | None, precision: str, merge_objects: bool) -> dict[str, Any]:
    """What must match for a finished sequence to be kept: JSON-comparable settings of the run."""
    from vostool.options import options_to_dict

    return json.loads(json.dumps({
        "method": model.name,
        "weights": model.weights_source,
        "weights_sha256": model.weights_sha256,
        "options": options_to_dict(model.options),
        "size": size,
        "precision": precision,
        "merge_objects": merge_objects,
    }, default=str))


def _record(folder: Path) -> dict | None:
    try:
        record = json.loads((folder / DONE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_complete(folder: Path, key: dict[str, Any], frame_names: list[str]) -> bool:
    """The sequence in ``folder`` was finished by a run with these settings and all its PNGs exist."""
    record = _record(folder)
    return (record is not None and record.get("key") == key and record.get("frames") == list(frame_names)
            and all((folder / f"{name}.png").is_file() for name in frame_names))


def mark_complete(folder: Path, key: dict[str, Any], frame_names: list[str]) -> None:
    """Record that ``folder`` holds every frame of its sequence, made with ``key``'s settings."""
    payload = json.dumps({"key": key, "frames": list(frame_names)}, indent=1) + "\n"
    atomic_save(folder / DONE_FILE, lambda tmp: tmp.write_text(payload))


def check_resumable(folder: Path, sequence_names: list[str], overwrite: bool, flag: str = "--out") -> None:
    """Before any work: ``folder`` is new, empty, or holds only sequence folders vostool wrote."""
    from vostool.preflight import check_writable

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{flag} {folder} is a file; give a folder")
    check_writable(folder, flag)
    if overwrite or not folder.is_dir():
        return
    names = set(sequence_names)
    for entry in sorted(folder.iterdir()):
        ours = entry.is_dir() and entry.name in names and ((entry / RUN_FILE).is_file() or (entry / DONE_FILE).is_file())
        if not ours and not (entry.is_dir() and not any(entry.iterdir())):
            raise OutputError(f"{flag} {folder} holds {entry.name}, which is not a sequence vostool segmented; "
                              "pass --overwrite to replace its masks or choose another folder")


def check_room(folder: Path, sequences: list, flag: str = "--out") -> None:
    """The masks of the sequences not finished yet fit on ``folder``'s disk (a low estimate per frame)."""
    from PIL import Image

    from vostool.preflight import check_free_space, png_bytes_low

    needed, frames = 0, 0
    for sequence in sequences:
        if (Path(folder) / sequence.name / DONE_FILE).is_file():
            continue
        with Image.open(sequence.frames[0]) as image:
            width, height = image.size
        needed += len(sequence.frames) * png_bytes_low(height, width)
        frames += len(sequence.frames)
    if frames:
        check_free_space(folder, needed, f"the masks of {frames} frames", flag)


def check_same_settings(folder: Path, sequence_names: list[str], key: dict[str, Any], overwrite: bool,
                        flag: str = "--out") -> None:
    """Once the model is built: finished sequences in ``folder`` were made with these settings."""
    if overwrite:
        return
    for name in sequence_names:
        record = _record(Path(folder) / name)
        if record is not None and record.get("key") != key:
            old = record.get("key") or {}
            changed = [k for k in sorted(set(old) | set(key)) if old.get(k) != key.get(k)]
            raise OutputError(f"{flag} {folder}: sequence {name} was segmented with other settings "
                              f"({', '.join(changed)} differ); pass --overwrite to replace the masks or choose "
                              "another folder")


def failure_line(exc: BaseException) -> str:
    """One line for a sequence's failure in the summary."""
    from vostool.errors import VostoolError

    text = str(exc) if isinstance(exc, VostoolError) else f"{type(exc).__name__}: {exc}"
    return (text.strip().splitlines() or [type(exc).__name__])[0]
