"""Masks given for a video: read and check all of them before any work, at both sizes.

``--mask FILE`` gives the first frame; ``--masks DIR`` gives PNGs named after frames. Each later mask
introduces the objects it contains that were not seen before and corrects those already tracked
(the output there is exactly the mask, and the method re-anchors on it); tracked objects it leaves
out keep tracking. Every mask is checked (label image, size); an object too small to survive the
processing size is kept as its nearest pixel(s) (:func:`keep_small_objects`) with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vostool.errors import MaskError, OptionError
from vostool.io.masks import fit_to_frame, object_ids, read_label_image
from vostool.io.video import VideoInfo, natural_key


# Pixel value 255 is DAVIS's "void" in ground truth; in masks given to vostool it is an object id.
VOID_LIKE_ID = 255


@dataclass
class GivenMask:
    """A mask that introduces or corrects objects on one frame, at the original and the processing size."""

    frame_index: int
    path: Path
    labels: np.ndarray  # (H, W) uint8, original size, the given ids
    processing: np.ndarray  # (h, w) uint8, processing size
    new_ids: list[int]
    corrected_ids: list[int] = field(default_factory=list)  # ids already tracked, given again

    @property
    def ids(self) -> list[int]:
        """All ids this mask gives (new and corrected): the output is exactly the mask for them."""
        return sorted(self.new_ids + self.corrected_ids)


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) label map with pixel-centre sampling (ids stay exact)."""
    if labels.shape == tuple(size):
        return labels
    h, w = labels.shape
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def keep_small_objects(labels: np.ndarray, small: np.ndarray, lost: list[int]) -> np.ndarray:
    """Put objects that a resize rule lost back into the processing-size mask ``small`` (h, w).

    ``labels`` is the (H, W) original mask. Each lost object gets the pixels of its own nearest-neighbour
    resize (pixel centres), or, when that is empty too (the object falls between the sampling
    points), the one processing pixel whose footprint holds most of its original pixels (the first of
    equals in row-major order). Those pixels are the object's even where another object was, so that
    every given object starts (a few pixels of a large neighbour matter less than losing an object).
    """
    out = small.copy()
    big_h, big_w = labels.shape
    h, w = small.shape
    for object_id in lost:
        indicator = (labels == object_id).astype(np.uint8)
        kept = resize_labels(indicator, (h, w)) > 0
        if not kept.any():
            ys, xs = np.nonzero(indicator)
            # the processing pixel that holds each original pixel's centre
            rows = np.minimum(((ys + 0.5) * h / big_h).astype(np.int64), h - 1)
            cols = np.minimum(((xs + 0.5) * w / big_w).astype(np.int64), w - 1)
            best = int(np.argmax(np.bincount(rows * w + cols, minlength=h * w)))
            kept = np.zeros((h, w), bool)
            kept.flat[best] = True
        out[kept] = object_id
    return out


def match_mask_files(info: VideoInfo, masks_dir: Path) -> list[tuple[int, Path]]:
    """Pair each PNG in ``masks_dir`` with the frame of the same name (numeric names match numerically)."""
    if not masks_dir.is_dir():
        raise MaskError(f"--masks {masks_dir}: not a folder")
    files = sorted((p for p in masks_dir.iterdir() if p.suffix.lower() == ".png"), key=lambda p: natural_key(p.name))
    if not files:
        raise MaskError(f"--masks {masks_dir}: no PNG masks inside (name them after frames: 00000.png, 00013.png, …)")
    by_name: dict[str, int] = {}
    by_number: dict[int, int] = {}
    if info.kind == "folder":
        for i, f in enumerate(info.frame_files):
            by_name[f.stem] = i
            if f.stem.isdigit():
                by_number.setdefault(int(f.stem), i)
    pairs = []
    for path in files:
        stem = path.stem
        if info.kind == "folder":
            index = by_name.get(stem, by_number.get(int(stem)) if stem.isdigit() else None)
        else:
            index = int(stem) if stem.isdigit() else None
        if index is None or (info.num_frames is not None and info.kind == "folder" and index >= info.num_frames):
            raise MaskError(f"mask {path} matches no frame; name masks after frames (00000.png, 00013.png, …)")
        pairs.append((index, path))
    return sorted(pairs)


def _check_frames(info: VideoInfo, schedule: dict[int, GivenMask], masks_dir) -> list[str]:
    """Masks past the announced end of a video: an error when none falls on a frame, else warnings.

    Frame folders are matched by name in :func:`match_mask_files`. A container's frame count can be
    short of the truth, so masks after it only draw a warning while some mask falls on a frame; when
    the count is missing, :func:`unused_masks_error` checks at the end of the video instead.
    """
    if info.num_frames is None or info.kind == "folder":
        return []
    late = [m for m in schedule.values() if m.frame_index >= info.num_frames]
    if len(late) == len(schedule):
        names = ", ".join(m.path.name for m in late[:3]) + (", …" if len(late) > 3 else "")
        raise MaskError(f"--masks {masks_dir}: no mask falls on a frame of {info.path.name}, which has "
                        f"{info.num_frames} frames ({names}); name masks after frames (00000.png is the first)")
    return [f"mask {m.path} is after the {info.num_frames} frames the container announces; it is used only if "
            f"the video has frame {m.frame_index}" for m in late]


def unused_masks_error(remaining: dict[int, GivenMask], frames_read: int, objects_given: int) -> MaskError | None:
    """After the last frame: the error to raise when no given mask fell on a frame that was read.

    ``remaining``: the schedule's masks not yet used; ``objects_given``: how many objects the session
    received. Needed when the frame count was unknown (or too high) before decoding.
    """
    if objects_given or not remaining:
        return None
    names = ", ".join(m.path.name for m in list(remaining.values())[:3]) + (", …" if len(remaining) > 3 else "")
    return MaskError(f"no mask falls on a frame of the video: it had {frames_read} frames and the masks are {names}; "
                     "name masks after frames (00000.png is the first)")


def prepare_masks(
    info: VideoInfo, mask: str | Path | None, masks_dir: str | Path | None, proc: tuple[int, int],
    resize: Callable[[np.ndarray, tuple[int, int]], np.ndarray] = resize_labels,
    corrections: bool = True,
) -> tuple[dict[int, GivenMask], np.ndarray | None, list[str]]:
    """Read and check all masks before any work: returns {frame index: GivenMask}, palette, warnings.

    ``resize`` brings a mask to the processing size (the method's rule, vostool.resize_rules).
    ``corrections=False`` keeps only the ids a mask introduces (the YouTube-VOS protocol, whose later
    annotations may show objects already given; they must not become corrections).
    """
    if (mask is None) == (masks_dir is None):
        raise OptionError("give exactly one of --mask FILE (first frame) or --masks DIR (masks named after frames)")
    pairs = [(0, Path(mask))] if mask is not None else match_mask_files(info, Path(masks_dir))
    schedule: dict[int, GivenMask] = {}
    palette = None
    warnings: list[str] = []
    known: set[int] = set()
    empty = ignored = 0
    for index, path in pairs:
        label_map = read_label_image(path)
        if palette is None and label_map.palette is not None:
            palette = label_map.palette
        labels, warning = fit_to_frame(label_map.labels, info.size, path)
        if warning:
            warnings.append(warning)
        given = object_ids(labels)
        if not given:
            if mask is not None:
                raise MaskError(f"mask {path} has no object (all pixels are 0); draw at least one object with an id 1..255")
            empty += 1
            continue
        new = [i for i in given if i not in known]
        corrected = [i for i in given if i in known] if corrections else []
        if not new and not corrected:
            ignored += 1
            continue
        if not corrections:
            given = new
            labels = np.where(np.isin(labels, new), labels, 0)
        small = resize(labels.astype(np.uint8), proc)
        lost = [i for i in given if not (small == i).any()]
        if lost:
            small = keep_small_objects(labels, small, lost)
            warnings.append(
                f"object(s) {', '.join(map(str, lost))} in {path} would vanish at the processing size "
                f"{proc[1]}x{proc[0]}; each is kept as its nearest pixel(s) there (README: masks); "
                "a larger --size or --size 0 (native) keeps its shape"
            )
        known.update(new)
        schedule[index] = GivenMask(index, path, labels.astype(np.uint8), small, new, corrected)
    if not schedule:
        raise MaskError(f"--masks {masks_dir}: no mask contains an object")
    warnings += _check_frames(info, schedule, masks_dir)
    if sorted(known) == [VOID_LIKE_ID]:
        first = next(iter(schedule.values())).path
        warnings.append(f"mask {first}: its only object value is 255, read as object 255 (vostool never reads 255 "
                        "as DAVIS void); the outputs label it 255")
    if empty:
        warnings.append(f"{empty} mask(s) contain no object (all pixels 0) and were ignored")
    if ignored:
        warnings.append(f"{ignored} mask(s) add no new object and were ignored (corrections are off)")
    return schedule, palette, warnings
