"""Output locations: validate them without side effects, create them, tidy them after --overwrite."""

from __future__ import annotations

import os
from pathlib import Path

from vostool.errors import OptionError, OutputError
from vostool.io.writers import overlay_format


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _check_writable(path: Path, flag: str) -> None:
    """The folder ``path`` exists and is writable, or can be created (no side effects)."""
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise OutputError(f"cannot write to {path}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {path}: permission denied ({flag})")


def check_outputs(out_dir: Path | None, overlay: Path | None, overwrite: bool, others: bool = False) -> None:
    """Validate the outputs without creating anything; ``others``: optional outputs are asked for too."""
    if out_dir is None and overlay is None and not others:
        raise OptionError("nothing to write: give --out DIR, --overlay FILE, or one of --soft, --per-object, "
                          "--matte, --rle")
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"--out {out_dir} is a file; give a folder")
        if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
            stopped = _stopped_run(out_dir)
            if stopped is not None:
                raise OutputError(f"--out {out_dir} holds a run that stopped after {stopped} frames; continue it "
                                  f"with --from-frame {stopped} (no mask needed), or pass --overwrite to start again")
            raise OutputError(f"--out {out_dir} is not empty; pass --overwrite to replace its masks or choose another folder")
        _check_writable(out_dir, "--out")
    if overlay is not None:
        overlay_format(overlay)
        if overlay.exists() and not overwrite:
            raise OutputError(f"--overlay {overlay} exists; pass --overwrite to replace it")
        _check_writable(overlay.parent, "--overlay")


def create_outputs(out_dir: Path | None, overlay: Path | None) -> None:
    for folder in (out_dir, overlay.parent if overlay is not None else None):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write to {folder}: {exc.strerror or exc}") from None


def remove_stale(out_dir: Path, written: set[str]) -> None:
    """After an --overwrite run, PNGs of an earlier (longer) run would mix with the new ones."""
    for path in out_dir.glob("*.png"):
        if path.name not in written:
            path.unlink(missing_ok=True)


def _stopped_run(out_dir: Path) -> int | None:
    """Frames written by an interrupted or failed vostool run in ``out_dir`` (its vostool-run.json), or None."""
    import json

    try:
        run = json.loads((out_dir / "vostool-run.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(run, dict) or str(run.get("status", "ok")).startswith(("ok", "partial")):
        return None
    frames = run.get("frames")
    return frames if isinstance(frames, int) and frames > 0 else None
