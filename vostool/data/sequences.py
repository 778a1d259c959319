"""Datasets as lists of video sequences: DAVIS 2016/2017, YouTube-VOS, and any DAVIS-layout folder.

A :class:`VideoSequence` knows its frame files (in order), its annotation files (all frames for
DAVIS, sparse for YouTube-VOS valid) and, for YouTube-VOS, which frames each object must be
predicted on. Frames and masks are read on demand, so listing a dataset costs no image decoding.

Layouts::

    DAVIS:        ROOT/JPEGImages/480p/<seq>/00000.jpg   ROOT/Annotations/480p/<seq>/00000.png
                  ROOT/ImageSets/2017/{train,val,test-dev}.txt   (2016: ImageSets/2016/val.txt)
    YouTube-VOS:  ROOT/<split>/JPEGImages/<vid>/00000.jpg  ROOT/<split>/Annotations/<vid>/00000.png
                  ROOT/<split>/meta.json   (optional all frames: ROOT/<split>_all_frames/JPEGImages/<vid>/)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vostool.errors import DatasetError
from vostool.io.video import natural_key

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class VideoSequence:
    """One video of a dataset."""

    name: str
    frames: list[Path]  # image files in temporal order
    annotations: dict[str, Path] = field(default_factory=dict)  # frame stem -> label PNG
    # YouTube-VOS meta.json: object id -> stems of the frames it must be predicted on (first = its start)
    object_frames: dict[int, list[str]] = field(default_factory=dict)

    @property
    def frame_names(self) -> list[str]:
        return [p.stem for p in self.frames]

    @property
    def required_frames(self) -> list[str]:
        """YouTube-VOS: stems of the frames a submission must contain (any object listed), in order."""
        listed = {stem for stems in self.object_frames.values() for stem in stems}
        return sorted(listed, key=natural_key)

    def __len__(self) -> int:
        return len(self.frames)

    def read_frame(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        with Image.open(self.frames[index]) as image:
            return np.array(image.convert("RGB"), dtype=np.uint8)

    def read_annotation(self, stem: str) -> np.ndarray:
        """(H, W) uint8 label map of frame ``stem`` (values as stored: DAVIS uses 255 for void)."""
        path = self.annotations.get(stem)
        if path is None:
            raise DatasetError(f"sequence {self.name} has no annotation for frame {stem}")
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "1"):
                raise DatasetError(f"{path}: annotation mode {image.mode}; expected an indexed or grayscale PNG")
            return np.array(image, dtype=np.uint8)

    def first_annotated(self) -> str:
        """Stem of the first frame that has an annotation."""
        for stem in self.frame_names:
            if stem in self.annotations:
                return stem
        raise DatasetError(f"sequence {self.name} has no annotation")


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    # hidden files (macOS "._00000.jpg" forks) are skipped, as glob does
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def _pngs(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    files = (p for p in folder.glob("*.png") if not p.name.startswith("."))
    return {p.stem: p for p in sorted(files, key=lambda p: natural_key(p.name))}


def official_png_files(folder: str | Path) -> list[Path]:
    """The ``*.png`` files of a folder in the official DAVIS evaluator's order.

    It sorts the glob results as strings (``np.sort``), i.e. lexicographically by name, so unpadded
    names come out as 1, 10, 2. Hidden files are not matched, as with ``glob``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.endswith(".png") and not p.name.startswith(".") and p.is_file()),
                  key=lambda p: p.name)


def official_frame_id(path: str | Path) -> str:
    """The frame id the official evaluator derives from a file name: the name without its extension
    and without any other dot (``a.b.png`` -> ``ab``); results are read as ``<frame id>.png``."""
    return "".join(Path(path).name.split(".")[:-1])


def read_split(path: Path) -> list[str]:
    """Sequence names of an ImageSets file, one per line, in file order."""
    if not path.is_file():
        raise DatasetError(f"split file not found: {path}")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise DatasetError(f"split file {path} lists no sequence")
    return names


def davis_sequences(
    root: str | Path,
    split: str | None = "val",
    year: str = "2017",
    resolution: str = "480p",
    annotations: str = "Annotations",
) -> list[VideoSequence]:
    """Sequences of a DAVIS-layout root. ``split=None`` takes every sequence folder (any DAVIS-layout set)."""
    root = Path(root)
    images_root = root / "JPEGImages" / resolution
    labels_root = root / annotations / resolution
    if not images_root.is_dir():
        raise DatasetError(f"{root} is not a DAVIS-layout folder: {images_root} is missing")
    if split is None:
        names = sorted((p.name for p in images_root.iterdir() if p.is_dir()), key=natural_key)
    else:
        names = read_split(root / "ImageSets" / year / f"{split}.txt")
    sequences = []
    for name in names:
        frames = _images(images_root / name)
        if not frames:
            raise DatasetError(f"sequence {name}: no frames in {images_root / name}")
        sequences.append(VideoSequence(name, frames, _pngs(labels_root / name)))
    return sequences


def youtube_vos_sequences(root: str | Path, split: str = "valid", all_frames: bool = False) -> list[VideoSequence]:
    """YouTube-VOS sequences of ``split`` with meta.json's per-object frame lists.

    ``all_frames=True`` reads the frames from ``<split>_all_frames`` (30 fps) where it exists; the
    annotations and meta.json always come from ``<split>``.
    """
    root = Path(root)
    base = root / split
    meta_path = base / "meta.json"
    if not meta_path.is_file():
        raise DatasetError(f"{root} is not a YouTube-VOS folder: {meta_path} is missing")
    try:
        meta = json.loads(meta_path.read_text())["videos"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"{meta_path} is not a YouTube-VOS meta.json ({exc})") from None
    frames_root = root / f"{split}_all_frames" / "JPEGImages" if all_frames else base / "JPEGImages"
    if all_frames and not frames_root.is_dir():
        raise DatasetError(f"--all-frames: {frames_root} is missing")
    sequences = []
    for name in sorted(meta, key=natural_key):
        frames = _images(frames_root / name)
        if not frames:
            raise DatasetError(f"video {name}: no frames in {frames_root / name}")
        objects = {}
        for oid, info in meta[name].get("objects", {}).items():
            objects[int(oid)] = [str(f) for f in info.get("frames", [])]
        sequences.append(VideoSequence(name, frames, _pngs(base / "Annotations" / name), objects))
    return sequences
