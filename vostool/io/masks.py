"""Label images: reading user masks (indexed, grayscale, clean RGB), palettes, atomic PNG writing.

A label map is an ``(H, W)`` uint8 array: 0 is background, 1..255 are object ids exactly as the user
gave them (ids need not be contiguous). Masks are read with PIL, never OpenCV, so palettes survive.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vostool.errors import MaskError, OutputError

# Up to this many distinct values an image is taken as a label image unless it is antialiased; with
# more (up to 255 objects are valid) it must also be made of flat regions with abrupt borders: at
# least MIN_FLAT_SHARE of its pixels equal to their four neighbours, and at most MAX_GRADUAL_SHARE of
# the value changes between neighbours by GRADUAL_STEP or less (photos and soft masks change gradually).
MAX_LABEL_VALUES = 64
MIN_FLAT_SHARE = 0.5
MAX_GRADUAL_SHARE = 0.8
GRADUAL_STEP = 2
# Two sizes have "the same aspect ratio" when scaling one to the other's height misses its width
# by at most this fraction (853x480 vs 854x480 is a rounding difference, 640x480 vs 854x480 is not).
ASPECT_TOLERANCE = 0.01


def davis_palette() -> np.ndarray:
    """The DAVIS / PASCAL VOC bit-interleaved colour map as a ``(256, 3)`` uint8 array."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        code, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((code >> 0) & 1) << (7 - bit)
            g |= ((code >> 1) & 1) << (7 - bit)
            b |= ((code >> 2) & 1) << (7 - bit)
            code >>= 3
        palette[index] = (r, g, b)
    return palette


@dataclass
class LabelMap:
    """A label image as read from disk."""

    labels: np.ndarray  # (H, W) uint8 object ids
    palette: np.ndarray | None  # (256, 3) uint8 when the file defines colours (mode P or RGB)
    mode: str  # the PIL mode of the file

    @property
    def object_ids(self) -> list[int]:
        return object_ids(self.labels)


def object_ids(labels: np.ndarray) -> list[int]:
    """Sorted non-zero ids present in a label map."""
    values = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    return [int(v) for v in values if v != 0]


def _interior_counts(codes: np.ndarray, num_codes: int) -> np.ndarray:
    """Per code, how many of its pixels have all four neighbours with the same code.

    Antialiasing and interpolation create values that live only along the borders between regions;
    a real object has at least one interior pixel.
    """
    same = np.ones(codes.shape, dtype=bool)
    same[1:, :] &= codes[1:, :] == codes[:-1, :]
    same[:-1, :] &= codes[:-1, :] == codes[1:, :]
    same[:, 1:] &= codes[:, 1:] == codes[:, :-1]
    same[:, :-1] &= codes[:, :-1] == codes[:, 1:]
    return np.bincount(codes[same].ravel(), minlength=num_codes)


def _gradual_share(values: np.ndarray) -> float:
    """Of the 4-neighbour pairs whose values differ, the share that differ by at most GRADUAL_STEP.

    Photos and soft (blurred) masks change gradually; label images jump between unrelated ids.
    """
    v = values.astype(np.int16).reshape(values.shape[0], values.shape[1], -1)  # (H, W, channels)
    steps = np.concatenate([np.abs(v[1:] - v[:-1]).max(axis=2).ravel(), np.abs(v[:, 1:] - v[:, :-1]).max(axis=2).ravel()])
    steps = steps[steps > 0]
    return float((steps <= GRADUAL_STEP).mean()) if steps.size else 0.0


def _looks_like_labels(codes: np.ndarray, interior: np.ndarray, values: np.ndarray) -> bool:
    """Flat regions with abrupt borders. ``codes``: (H, W) region codes, ``interior``: per code its
    interior pixel count (:func:`_interior_counts`), ``values``: (H, W) or (H, W, 3) pixel values."""
    flat = interior.sum() / codes.size
    return flat >= MIN_FLAT_SHARE and _gradual_share(values) <= MAX_GRADUAL_SHARE


def _check_plain_labels(labels: np.ndarray, path: Path) -> None:
    """Reject grayscale/indexed images that are clearly not label maps (photos, soft masks).

    Up to MAX_LABEL_VALUES values, only antialiasing is looked for. Beyond that (up to 255 objects
    are valid) the image must also look like a label image: most pixels inside flat regions and the
    value changes between regions mostly abrupt.
    """
    counts = np.bincount(labels.ravel(), minlength=256)
    present = np.flatnonzero(counts)
    nonzero = [v for v in present if v != 0]
    interior = _interior_counts(labels, 256) if len(nonzero) >= 3 else None
    if len(nonzero) > MAX_LABEL_VALUES and not _looks_like_labels(labels, interior, labels):
        raise MaskError(
            f"{path}: {len(nonzero)} distinct values that change gradually or vary from pixel to pixel, which is "
            "not a label image (a photo or soft mask?); save a mask whose pixel values are object ids "
            "(0 = background, 1..255 = objects)"
        )
    if interior is not None:
        edge_only = [v for v in nonzero if interior[v] == 0]
        if len(edge_only) * 2 > len(nonzero):
            raise MaskError(
                f"{path}: most values ({len(edge_only)} of {len(nonzero)}) appear only along region borders, "
                "so the mask is antialiased or was resized with interpolation; export it without "
                "antialiasing (nearest-neighbour) so every pixel holds an object id"
            )


def _labels_from_rgb(rgb: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Map a clean RGB drawing to ids. DAVIS-palette colours keep their DAVIS ids; other colours get
    ids 1..N in order of first appearance (raster order) and become the output palette."""
    codes24 = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    colours, first_index, inverse = np.unique(codes24.ravel(), return_index=True, return_inverse=True)
    inverse = inverse.reshape(codes24.shape)
    black = np.flatnonzero(colours == 0)
    num_objects = len(colours) - len(black)
    interior = _interior_counts(inverse.astype(np.int64), len(colours))
    if num_objects > 255 or (num_objects > MAX_LABEL_VALUES and not _looks_like_labels(inverse, interior, rgb)):
        raise MaskError(
            f"{path}: RGB image with {len(colours)} colours is not a label image (a photo, a JPEG, or an "
            "antialiased drawing?); save it as an indexed PNG (mode P) or a grayscale PNG whose values are "
            "object ids, or draw objects in a few flat colours without antialiasing"
        )
    for idx, code in enumerate(colours):
        if code != 0 and interior[idx] == 0:
            r, g, b = int(code >> 16), int((code >> 8) & 255), int(code & 255)
            raise MaskError(
                f"{path}: colour ({r},{g},{b}) appears only along the borders of other regions, so the mask "
                "is antialiased or was resized with interpolation; export it without antialiasing, or save "
                "it as an indexed/grayscale PNG of object ids (objects must be at least 3 pixels wide)"
            )
    davis = davis_palette()
    davis_codes = (davis[:, 0].astype(np.uint32) << 16) | (davis[:, 1].astype(np.uint32) << 8) | davis[:, 2]
    lookup = {int(c): i for i, c in enumerate(davis_codes)}
    ids = np.zeros(len(colours), dtype=np.uint8)
    if all(int(c) in lookup for c in colours):
        for idx, code in enumerate(colours):
            ids[idx] = lookup[int(code)]
        return ids[inverse], davis
    palette = davis.copy()
    order = [i for i in np.argsort(first_index, kind="stable") if colours[i] != 0]
    for new_id, idx in enumerate(order, start=1):
        code = int(colours[idx])
        ids[idx] = new_id
        palette[new_id] = (code >> 16, (code >> 8) & 255, code & 255)
    return ids[inverse], palette


def _full_palette(raw: list[int]) -> np.ndarray:
    """A file's palette as ``(256, 3)`` uint8; entries the file does not define take the DAVIS colours.

    A PNG palette may be shorter than the largest id in the image (PIL then reports only the entries
    the file has); padding with black would draw those objects black in the outputs.
    """
    palette = davis_palette()
    defined = min(len(raw) // 3, 256)
    if defined:
        palette[:defined] = np.asarray(raw[: 3 * defined], dtype=np.uint8).reshape(defined, 3)
    return palette


def read_label_image(path: str | os.PathLike) -> LabelMap:
    """Read a mask file into a :class:`LabelMap`, or raise a MaskError that says how to fix it.

    Accepted: indexed PNG (mode P, palette kept), grayscale (L, 1, I;16 with values <= 255), and RGB/RGBA
    drawings in a few flat colours (no antialiasing; alpha must be 0 or 255).
    """
    path = Path(path)
    if not path.exists():
        raise MaskError(f"mask not found: {path}")
    if path.is_dir():
        raise MaskError(f"{path} is a folder; use --masks DIR for a folder of per-frame masks")
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode == "P":
                labels = np.array(image, dtype=np.uint8)
                palette = _full_palette(image.getpalette() or [])
                _check_plain_labels(labels, path)
                return LabelMap(labels, palette, mode)
            if mode in ("L", "1", "LA"):
                labels = np.array(image.convert("L") if mode != "L" else image, dtype=np.uint8)
                if mode == "1":
                    labels = (labels > 0).astype(np.uint8)
                _check_plain_labels(labels, path)
                return LabelMap(labels, None, mode)
            if mode.startswith("I"):
                values = np.array(image)
                if values.min() < 0 or values.max() > 255:
                    raise MaskError(
                        f"{path}: values range {values.min()}..{values.max()}; object ids must be 0..255"
                    )
                labels = values.astype(np.uint8)
                _check_plain_labels(labels, path)
                return LabelMap(labels, None, mode)
            if mode in ("RGB", "RGBA"):
                array = np.array(image.convert("RGBA"), dtype=np.uint8)
                alpha = array[..., 3]
                if not np.all((alpha == 0) | (alpha == 255)):
                    raise MaskError(
                        f"{path}: partially transparent pixels (antialiased edges?); use alpha 0 or 255 only, "
                        "or save an indexed/grayscale PNG of object ids"
                    )
                rgb = array[..., :3].copy()
                rgb[alpha == 0] = 0
                labels, palette = _labels_from_rgb(rgb, path)
                return LabelMap(labels, palette, mode)
    except UnidentifiedImageError:
        raise MaskError(f"{path} is not an image file PIL can read; masks must be PNG label images") from None
    except OSError as exc:
        raise MaskError(f"cannot read mask {path}: {exc}") from None
    raise MaskError(
        f"{path}: image mode {mode} is not supported for masks; save an indexed (P) or grayscale (L) PNG"
    )


def same_aspect(size_a: tuple[int, int], size_b: tuple[int, int]) -> bool:
    """Whether two (height, width) sizes have the same aspect ratio up to rounding."""
    (ha, wa), (hb, wb) = size_a, size_b
    return abs(wa * hb / ha - wb) <= max(1.0, ASPECT_TOLERANCE * wb)


def fit_to_frame(labels: np.ndarray, frame_hw: tuple[int, int], path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """Return labels of the frame's size and a warning text when they had to be resized.

    Same aspect ratio: nearest-neighbour resize (ids stay exact). Different aspect: MaskError.
    """
    h, w = labels.shape
    fh, fw = frame_hw
    if (h, w) == (fh, fw):
        return labels, None
    if not same_aspect((h, w), (fh, fw)):
        raise MaskError(
            f"mask {path} is {w}x{h} but the video frames are {fw}x{fh} (a different aspect ratio); "
            "draw the mask on a frame of this video"
        )
    resized = np.array(Image.fromarray(labels).resize((fw, fh), Image.NEAREST), dtype=np.uint8)
    return resized, f"mask {path} is {w}x{h}, frames are {fw}x{fh}: resized with nearest-neighbour"


def _palette_list(palette: np.ndarray | None) -> list[int]:
    pal = davis_palette() if palette is None else np.asarray(palette, dtype=np.uint8).reshape(256, 3)
    return pal.ravel().tolist()


def write_label_png(path: str | os.PathLike, labels: np.ndarray, palette: np.ndarray | None = None) -> None:
    """Write an indexed PNG atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    image = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="P")
    image.putpalette(_palette_list(palette))
    atomic_save(path, lambda tmp: image.save(tmp, format="PNG"))


def atomic_save(path: Path, save) -> None:
    """Call ``save(tmp_path)`` and move the result to ``path`` only if it succeeded.

    The temporary file sits in the destination folder (so the rename is atomic) and is created by
    ``save`` itself, so it gets the usual permissions.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        save(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
