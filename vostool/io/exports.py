"""The optional outputs of ``vostool segment`` besides --out and --overlay: which, checked, opened.

:meth:`ExportOptions.check` validates every path without side effects (before the model loads);
:meth:`ExportOptions.open` creates the folders and returns the writers the engine feeds per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vostool.errors import OptionError, OutputError
from vostool.io.frame_outputs import FrameOutput, PerObjectMaskWriter, SoftNpzWriter, SoftPngWriter
from vostool.io.matte import MATTE_MODES, MatteVideoWriter, matte_codec
from vostool.io.outputs import _check_writable
from vostool.io.rle_json import RleJsonWriter

SOFT_FORMATS = ("png", "npz")


@dataclass
class ExportOptions:
    """Where to write each optional output (None = not written).

    soft: folder of soft probability maps (``soft_format`` png: ``<id>/<frame>.png`` 8-bit; npz:
    ``<frame>.npz`` float16); per_object: folder of ``<id>/<frame>.png`` 0/255 masks; matte: video
    file (.mov or .mkv), one for all objects or one per object (``matte_mode``); rle: JSON file of
    COCO RLE masks.
    """

    soft: Path | None = None
    soft_format: str = "png"
    per_object: Path | None = None
    matte: Path | None = None
    matte_mode: str = "all"
    rle: Path | None = None

    def __post_init__(self) -> None:
        for name in ("soft", "per_object", "matte", "rle"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))

    def any(self) -> bool:
        return any(p is not None for p in (self.soft, self.per_object, self.matte, self.rle))

    def check(self, overwrite: bool) -> None:
        """Validate options and paths; creates nothing."""
        if self.soft_format not in SOFT_FORMATS:
            raise OptionError(f"--soft-format {self.soft_format}: use one of {', '.join(SOFT_FORMATS)}")
        if self.matte_mode not in MATTE_MODES:
            raise OptionError(f"--matte-mode {self.matte_mode}: use one of {', '.join(MATTE_MODES)}")
        if (self.soft is not None and self.per_object is not None and self.soft_format == "png"
                and self.soft.absolute() == self.per_object.absolute()):
            raise OptionError("--soft and --per-object name the same folder; their files would collide")
        for folder, flag in ((self.soft, "--soft"), (self.per_object, "--per-object")):
            if folder is not None:
                _check_folder(folder, flag, overwrite)
        if self.matte is not None:
            matte_codec(self.matte)
            if self.matte.is_dir():
                raise OutputError(f"--matte {self.matte} is a folder; give a video file name")
            if not overwrite:
                taken = ([self.matte] if self.matte_mode == "all" else
                         [p for p in self.matte.parent.glob(f"{self.matte.stem}_*{self.matte.suffix}")
                          if p.stem[len(self.matte.stem) + 1:].isdigit()])
                if any(p.exists() for p in taken):
                    raise OutputError(f"--matte {self.matte}: {taken[0]} exists; pass --overwrite to replace it")
            _check_writable(self.matte.parent, "--matte")
        if self.rle is not None:
            if self.rle.is_dir():
                raise OutputError(f"--rle {self.rle} is a folder; give a file name (.json)")
            if self.rle.exists() and not overwrite:
                raise OutputError(f"--rle {self.rle} exists; pass --overwrite to replace it")
            _check_writable(self.rle.parent, "--rle")

    def open(self, width: int, height: int, fps: Fraction | float | None, time_base: Fraction | None,
             overwrite: bool) -> list[FrameOutput]:
        """Create the folders and start the writers for (width x height) output frames."""
        for folder in (self.soft, self.per_object, self.matte.parent if self.matte else None,
                       self.rle.parent if self.rle else None):
            if folder is not None:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise OutputError(f"cannot write to {folder}: {exc.strerror or exc}") from None
        writers: list[FrameOutput] = []
        try:
            if self.soft is not None:
                soft_class = SoftPngWriter if self.soft_format == "png" else SoftNpzWriter
                writers.append(soft_class(self.soft, overwrite))
            if self.per_object is not None:
                writers.append(PerObjectMaskWriter(self.per_object, overwrite))
            if self.matte is not None:
                writers.append(MatteVideoWriter(self.matte, width, height, fps, time_base, self.matte_mode))
            if self.rle is not None:
                writers.append(RleJsonWriter(self.rle, width, height))
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        return writers


def _check_folder(folder: Path, flag: str, overwrite: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{flag} {folder} is a file; give a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise OutputError(f"{flag} {folder} is not empty; pass --overwrite to replace its files or choose another folder")
    _check_writable(folder, flag)
