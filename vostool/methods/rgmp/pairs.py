"""RGMP's stage-1 training samples simulated from still images (paper section 3.2, Fig. 3).

A sample is a (reference, target, guidance) triplet made from one image with an object mask:

* strategy 1: two different random transforms (rotation, scaling, shift, colour) of the whole image;
* strategy 2: the object cut out and pasted, under two different random transforms, on another
  image (the background), behind that image's own object (the occlusion of Fig. 3);
* the guidance (the "previous frame's mask") is the target's mask under a further random affine;
* each image is cropped to a patch holding at least half of its object's pixels.

Everything random comes from the ``numpy`` generator passed in, so a sample is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vostool.data.clips import jitter_colour


@dataclass(frozen=True)
class PairSettings:
    """The ranges of the random transforms (RGMPRecipe's s1_* and guide_* fields)."""

    crop: tuple[int, int] = (256, 256)
    min_object: float = 0.5
    rotate: float = 20.0
    scale: tuple[float, float] = (0.8, 1.2)
    translate: float = 0.1
    colour: float = 0.15
    guide_rotate: float = 10.0
    guide_scale: tuple[float, float] = (0.9, 1.1)
    guide_translate: float = 0.1


@dataclass
class Pair:
    """One simulated sample, all (H, W) = the crop size.

    reference/target: (H, W, 3) uint8 RGB; reference_mask/target_mask/guidance: (H, W) bool;
    guide_affine: the 2x3 matrix (cv2.warpAffine convention, crop coordinates) that made the
    guidance from ``target_mask``; strategy: 1 or 2.
    """

    reference: np.ndarray
    reference_mask: np.ndarray
    target: np.ndarray
    target_mask: np.ndarray
    guidance: np.ndarray
    guide_affine: np.ndarray
    strategy: int


def _centre(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return mask.shape[1] / 2, mask.shape[0] / 2
    return float(xs.mean()), float(ys.mean())


def random_affine(rng: np.random.Generator, centre: tuple[float, float], rotate: float,
                  scale: tuple[float, float], shift: tuple[float, float]) -> np.ndarray:
    """A 2x3 matrix: rotation up to ``rotate`` degrees and a scale from ``scale`` about ``centre``,
    then a shift up to ``shift`` (x, y) pixels."""
    angle = rng.uniform(-rotate, rotate)
    factor = rng.uniform(*scale)
    m = cv2.getRotationMatrix2D(centre, angle, factor)
    m[0, 2] += rng.uniform(-shift[0], shift[0])
    m[1, 2] += rng.uniform(-shift[1], shift[1])
    return m


def warp_mask(mask: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(H, W) bool under the 2x3 affine ``m`` (nearest neighbour, outside = background)."""
    h, w = mask.shape
    return cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0


def _warp_image(image: np.ndarray, m: np.ndarray, border: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)


def _transform(rng: np.random.Generator, mask: np.ndarray, s: PairSettings) -> np.ndarray:
    """A random transform about the object's centre that keeps some of the object in the image."""
    h, w = mask.shape
    centre = _centre(mask)
    for _ in range(10):
        m = random_affine(rng, centre, s.rotate, s.scale, (s.translate * w, s.translate * h))
        if warp_mask(mask, m).any():
            return m
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # every draw pushed the object out


def strategy1(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray,
              s: PairSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two random transforms (rotation, scale, shift, colour) of one image: [(image, mask)] * 2."""
    out = []
    for _ in range(2):
        m = _transform(rng, mask, s)
        warped = _warp_image(image, m, cv2.BORDER_REFLECT)
        out.append((jitter_colour(warped, s.colour, rng) if s.colour else warped, warp_mask(mask, m)))
    return out


def strategy2(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, background: np.ndarray,
              occluder: np.ndarray, s: PairSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """The object of ``image`` pasted under two random transforms on ``background`` (resized to the
    image's size), hidden where the background's own object ``occluder`` (H, W) bool is."""
    h, w = mask.shape
    if background.shape[:2] != (h, w):
        background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
        occluder = cv2.resize(occluder.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    out = []
    for _ in range(2):
        m = _transform(rng, mask, s)
        fg = _warp_image(image, m, cv2.BORDER_CONSTANT)
        if s.colour:
            fg = jitter_colour(fg, s.colour, rng)
        shown = warp_mask(mask, m) & ~occluder
        composite = background.copy()
        composite[shown] = fg[shown]
        out.append((composite, shown))
    return out


def crop_with_object(image: np.ndarray, mask: np.ndarray, crop: tuple[int, int], min_fraction: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random ``crop`` of (image (H, W, 3), mask (H, W) bool) holding >= ``min_fraction`` of the object.

    The image is first scaled up when it is smaller than the crop, and scaled down by steps of 0.8
    while no crop can hold enough of the object (padded with black to the crop size if it gets
    smaller, so this always ends). The crop is drawn uniformly among all the positions that qualify
    (found exactly with a summed-area table). Returns (image patch, mask patch, the whole rescaled
    mask the fraction refers to).
    """
    ch, cw = crop
    h, w = mask.shape
    factor = max(ch / h, cw / w, 1.0)
    while True:
        img, msk = _rescale(image, mask, factor, crop)
        sat = np.pad(msk.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        kept = sat[ch:, cw:] - sat[:-ch, cw:] - sat[ch:, :-cw] + sat[:-ch, :-cw]  # (H-ch+1, W-cw+1)
        ok = np.argwhere(kept >= min_fraction * int(msk.sum()))
        if len(ok):
            break
        factor *= 0.8  # the object is too large for the crop: zoom out
    y, x = (int(v) for v in ok[rng.integers(len(ok))])
    return img[y : y + ch, x : x + cw], msk[y : y + ch, x : x + cw], msk


def _rescale(image: np.ndarray, mask: np.ndarray, factor: float, crop: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize by ``factor`` (bilinear image, nearest mask), then pad with zeros to at least ``crop``."""
    if factor != 1.0:
        size = (max(1, int(round(mask.shape[1] * factor))), max(1, int(round(mask.shape[0] * factor))))
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    pad_y, pad_x = max(crop[0] - mask.shape[0], 0), max(crop[1] - mask.shape[1], 0)
    if pad_y or pad_x:
        image = np.pad(image, ((0, pad_y), (0, pad_x), (0, 0)))
        mask = np.pad(mask, ((0, pad_y), (0, pad_x)))
    return image, mask


def deform_guidance(rng: np.random.Generator, mask: np.ndarray, s: PairSettings) -> tuple[np.ndarray, np.ndarray]:
    """The previous frame's mask, simulated: ``mask`` (H, W) bool under a random affine about the
    object's centre (shift relative to the object's size). Returns (guidance, the 2x3 matrix)."""
    ys, xs = np.nonzero(mask)
    size = (float(np.ptp(xs)) + 1, float(np.ptp(ys)) + 1) if len(xs) else (0.0, 0.0)
    m = random_affine(rng, _centre(mask), s.guide_rotate, s.guide_scale,
                      (s.guide_translate * size[0], s.guide_translate * size[1]))
    return warp_mask(mask, m), m


def simulate_pair(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, s: PairSettings,
                  background: tuple[np.ndarray, np.ndarray] | None = None) -> Pair:
    """A stage-1 sample from ``image`` (H, W, 3) uint8 and its object ``mask`` (H, W) bool: strategy 2
    when ``background`` = (image, occluding object mask) is given, strategy 1 otherwise."""
    if background is None:
        views, strategy = strategy1(rng, image, mask, s), 1
    else:
        views, strategy = strategy2(rng, image, mask, background[0], background[1], s), 2
    (ref, ref_mask), (target, target_mask) = (crop_with_object(v, m, s.crop, s.min_object, rng)[:2] for v, m in views)
    guidance, affine = deform_guidance(rng, target_mask, s)
    return Pair(ref, ref_mask, target, target_mask, guidance, affine, strategy)
