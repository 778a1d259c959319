"""Segment every sequence of a dataset through the engine, and build submission zips.

DAVIS: each sequence starts from its first-frame annotation (255 = void becomes background; DAVIS
2016 merges all ids into object 1). YouTube-VOS: each video gets its sparse annotation folder, so
objects start on the frame where they first appear; the submission keeps only the frames meta.json
lists. Zips are laid out as the evaluation servers expect (conventions.md 3.4): DAVIS test-dev
``<sequence>/<frame>.png`` at the root, YouTube-VOS ``Annotations/<video>/<frame>.png``.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image

from vostool.data.sequences import VideoSequence
from vostool.errors import DatasetError, OutputError, ResultsError
from vostool.evaluation import resume
from vostool.io.masks import atomic_save, read_label_image, write_label_png

VOID = 255
log = logging.getLogger("vostool")


@dataclass
class EngineSettings:
    """How the engine runs a method on every sequence (the ``segment`` command's options)."""

    method: Any = "frtm"  # a registry name or a built Method
    weights: str | None = None
    untrained: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    size: int | None = None  # None: the method's default processing size
    device: str = "auto"
    precision: str = "fp32"

    def load(self):
        """The Method, built once for all sequences."""
        from vostool.methods.base import Method

        if isinstance(self.method, Method):
            return self.method
        from vostool.devices import resolve_device
        from vostool.loader import load_method

        return load_method(self.method, dict(self.options), weights=self.weights, untrained=self.untrained,
                           device=resolve_device(self.device))

    @property
    def name(self) -> str:
        return self.method if isinstance(self.method, str) else self.method.name


def check_output_dir(folder: Path, overwrite: bool, flag: str = "--out") -> None:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{flag} {folder} is a file; give a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise OutputError(f"{flag} {folder} is not empty; pass --overwrite to replace its masks or choose another folder")


def first_frame_mask(sequence: VideoSequence, merge_objects: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W) uint8 input mask of the first frame and its palette: void removed, or ids merged (DAVIS 2016)."""
    stem = sequence.frame_names[0]
    path = sequence.annotations.get(stem)
    if path is None:
        raise DatasetError(f"sequence {sequence.name}: no annotation for its first frame {stem}")
    label_map = read_label_image(path)
    labels = label_map.labels
    labels = (labels != 0).astype(np.uint8) if merge_objects else np.where(labels == VOID, 0, labels).astype(np.uint8)
    if not labels.any():
        raise DatasetError(f"{path}: the first-frame annotation of {sequence.name} has no object")
    return labels, label_map.palette


def segment_davis(sequences: list[VideoSequence], results: Path, engine: EngineSettings, merge_objects: bool,
                  progress_factory=None, overwrite: bool = True) -> list[dict]:
    """Write ``results/<sequence>/<frame>.png`` for every sequence; returns each run's description with
    its ``status``: ok, kept (finished before with the same settings, :mod:`vostool.evaluation.resume`;
    never with ``overwrite``) or ``failed: <one line>`` (the other sequences still run)."""
    from vostool.engine import segment_video

    masks = [first_frame_mask(s, merge_objects) for s in sequences]  # every input checked before any work
    model = engine.load()
    # issue 21: keep sequences a previous run finished with these settings; one failure does not stop the rest
    key = resume.run_key(model, engine.size, engine.precision, merge_objects)
    resume.check_same_settings(results, [s.name for s in sequences], key, overwrite)
    runs = []
    with tempfile.TemporaryDirectory(prefix="vostool-eval-") as tmp:
        for sequence, (labels, palette) in zip(sequences, masks):
            folder, names = results / sequence.name, sequence.frame_names
            if not overwrite and resume.is_complete(folder, key, names):
                runs.append({"sequence": sequence.name, "frames": len(names), "status": "kept"})
                continue
            mask_path = Path(tmp) / f"{sequence.name}.png"
            write_label_png(mask_path, labels, palette)
            try:
                result = segment_video(
                    sequence.frames[0].parent, mask=mask_path, method=model, out_dir=folder,
                    size=engine.size, device=engine.device, precision=engine.precision, overwrite=True,
                    progress=progress_factory() if progress_factory else False,
                )
            except (OutputError, MemoryError):  # the disk or the machine: every later sequence would fail too
                raise
            except Exception as exc:
                runs.append({"sequence": sequence.name, "status": f"failed: {resume.failure_line(exc)}"})
                log.warning("sequence %s failed: %s; continuing with the others", sequence.name,
                            resume.failure_line(exc))
                continue
            resume.mark_complete(folder, key, names)
            runs.append({"sequence": sequence.name, "frames": result.frames, "seconds": result.run["seconds"],
                         "status": "ok"})
    return runs


def check_ytvos(sequences: list[VideoSequence], annotations: Path) -> None:
    """Every frame meta.json lists must exist among the frames, every video must have annotations."""
    for sequence in sequences:
        if not sequence.object_frames:
            raise DatasetError(f"video {sequence.name}: meta.json lists no object")
        names = set(sequence.frame_names)
        missing = [stem for stem in sequence.required_frames if stem not in names]
        if missing:
            raise DatasetError(f"video {sequence.name}: meta.json lists frame {missing[0]} but "
                               f"{sequence.frames[0].parent / (missing[0] + '.jpg')} does not exist")
        if not (annotations / sequence.name).is_dir():
            raise DatasetError(f"video {sequence.name}: annotation folder {annotations / sequence.name} is missing")
        for object_id, frames in sorted(sequence.object_frames.items()):
            # the object must be drawn on the frame meta.json says it starts on, or it would never be segmented
            path = sequence.annotations.get(frames[0]) if frames else None
            if path is None or object_id not in read_label_image(path).object_ids:
                raise DatasetError(f"video {sequence.name}: object {object_id} starts on frame "
                                   f"{frames[0] if frames else '?'} (meta.json) but is not in "
                                   f"{annotations / sequence.name / ((frames[0] if frames else '?') + '.png')}")


def segment_ytvos(sequences: list[VideoSequence], annotations: Path, out: Path, engine: EngineSettings,
                  progress_factory=None, overwrite: bool = True) -> list[dict]:
    """Write the submission folder ``out/Annotations/<video>/<frame>.png`` (only the listed frames);
    returns each video's description with its ``status``: ok, kept (finished before with the same
    settings; never with ``overwrite``) or ``failed: <one line>`` (the other videos still run)."""
    from vostool.engine import RUN_FILE, segment_video

    check_ytvos(sequences, annotations)
    model = engine.load()
    key = resume.run_key(model, engine.size, engine.precision, False)
    resume.check_same_settings(out / "Annotations", [s.name for s in sequences], key, overwrite)
    runs = []
    (out / "runs").mkdir(parents=True, exist_ok=True)
    for sequence in sequences:
        target = out / "Annotations" / sequence.name
        required = sorted(sequence.required_frames)
        if not overwrite and resume.is_complete(target, key, required):
            runs.append({"sequence": sequence.name, "video": sequence.name, "submitted": len(required),
                         "status": "kept"})
            continue
        try:
            result = segment_video(
                sequence.frames[0].parent, masks_dir=annotations / sequence.name, method=model, out_dir=target,
                size=engine.size, device=engine.device, precision=engine.precision, overwrite=True,
                progress=progress_factory() if progress_factory else False,
                corrections=False,  # the protocol gives each object once, on its first frame
            )
        except (OutputError, MemoryError):  # the disk or the machine: every later video would fail too
            raise
        except Exception as exc:
            runs.append({"sequence": sequence.name, "video": sequence.name, "status": f"failed: {resume.failure_line(exc)}"})
            log.warning("video %s failed: %s; continuing with the others", sequence.name, resume.failure_line(exc))
            continue
        for png in target.glob("*.png"):
            if png.stem not in set(required):
                png.unlink()
        (target / RUN_FILE).replace(out / "runs" / f"{sequence.name}.json")
        resume.mark_complete(target, key, required)
        runs.append({"sequence": sequence.name, "video": sequence.name, "frames": result.frames,
                     "submitted": len(required), "status": "ok"})
    return runs


def _check_png(path: Path, frame: Path) -> None:
    if not path.is_file():
        raise ResultsError(f"missing result frame {path}")
    try:
        with Image.open(path) as image, Image.open(frame) as source:
            if image.mode not in ("P", "L"):
                raise ResultsError(f"{path}: a {image.mode} image; submissions need indexed (P) PNGs of object ids")
            if image.size != source.size:
                raise ResultsError(f"{path}: {image.size[0]}x{image.size[1]}, but frame {frame} is "
                                   f"{source.size[0]}x{source.size[1]}")
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from None


def davis_zip_entries(results: Path, sequences: list[VideoSequence]) -> list[tuple[str, Path]]:
    """DAVIS (test-dev) submission: ``<sequence>/<frame>.png`` for every frame, at the zip root."""
    entries = []
    for sequence in sequences:
        for frame in sequence.frames:
            path = results / sequence.name / f"{frame.stem}.png"
            _check_png(path, frame)
            entries.append((f"{sequence.name}/{frame.stem}.png", path))
    return entries


def ytvos_zip_entries(results: Path, sequences: list[VideoSequence]) -> list[tuple[str, Path]]:
    """YouTube-VOS submission: ``Annotations/<video>/<frame>.png`` for exactly the frames meta.json lists.

    ``results`` holds ``<video>/`` folders, or an ``Annotations/`` folder with them.
    """
    base = results / "Annotations" if (results / "Annotations").is_dir() else results
    entries = []
    for sequence in sequences:
        frames = {p.stem: p for p in sequence.frames}
        for stem in sequence.required_frames:
            path = base / sequence.name / f"{stem}.png"
            _check_png(path, frames[stem])
            entries.append((f"Annotations/{sequence.name}/{stem}.png", path))
    return entries


def write_zip(path: Path, entries: list[tuple[str, Path]], overwrite: bool) -> Path:
    """Write the zip atomically, with folder entries like ``shutil.make_archive``; PNGs are stored as is."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"--zip {path} exists; pass --overwrite to replace it")
    if path.suffix.lower() != ".zip":
        raise OutputError(f"--zip {path}: the file name must end in .zip")
    path.parent.mkdir(parents=True, exist_ok=True)

    def save(tmp: Path) -> None:
        folders: set[str] = set()
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for arcname, source in entries:
                parts = arcname.split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    folder = "/".join(parts[:depth]) + "/"
                    if folder not in folders:
                        folders.add(folder)
                        info = zipfile.ZipInfo(folder)
                        info.external_attr = (0o40755 << 16) | 0x10  # a directory, as make_archive writes it
                        archive.writestr(info, b"")
                archive.write(source, arcname)

    atomic_save(path, save)
    return path
