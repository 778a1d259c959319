"""Realistic DAVIS-layout sets for benchmarks/bench_eval.py: masks with real-world boundaries.

Scoring time depends on the masks: F works on boundary pixels, PNG decoding on how well a mask
compresses. Smooth ellipses flatter both, so the ground truth here has what real annotations have:

* generated objects: a thresholded fractal noise field under an elliptic envelope, so outlines are
  ragged at every scale, with holes and detached small parts, plus thin structures (limbs, spokes,
  rings 2-8 px wide); they move, turn, scale and deform (two noise fields blended over time);
* real objects: every object of the real annotations in ../shared/samples (the Cutie examples:
  a bike with broken-up wheels, a rider, judo fighters), moved and turned over the frames.

Results err the way methods do: a smooth random displacement of the boundary (1-4 px), ragged edges
(pixels flipped in the boundary band), chunks cut off, spurious blobs, missed frames, id swaps.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vostool.io.masks import davis_palette

HEIGHT, WIDTH = 480, 854
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "cutie_examples" / "Annotations" / "480p"


def fractal(rng: np.random.Generator, height: int, width: int, cells: tuple[int, ...] = (3, 6, 12, 24, 48, 96),
            decay: float = 0.5) -> np.ndarray:
    """(height, width) float32 noise with detail at every scale (amplitude x ``decay`` per octave), about unit range."""
    out = np.zeros((height, width), np.float32)
    amplitude = 1.0
    for n in cells:
        grid = rng.standard_normal((n, max(2, round(n * width / height)))).astype(np.float32)
        out += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        amplitude *= decay
    return out / 2.0


def _generated_shape(rng: np.random.Generator, area: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two noise-bounded fields (deformation is a blend of them) and thin structures, in a square box."""
    side = int(math.sqrt(area * HEIGHT * WIDTH) * 2.2)
    yy, xx = np.mgrid[-1.6:1.6:side * 1j, -1.6:1.6:side * 1j].astype(np.float32)
    aspect = rng.uniform(0.5, 1.0)
    envelope = 1.0 - (xx / aspect) ** 2 - (yy * aspect) ** 2  # <= -1.6 on the box's edges: never cut off
    fields = [envelope + 1.2 * fractal(rng, side, side, decay=0.6) for _ in range(2)]
    thin = np.zeros((side, side), np.uint8)
    for _ in range(rng.integers(0, 5)):  # limbs, spokes, poles
        points = (rng.uniform(0.1, 0.9, (rng.integers(2, 5), 2)) * side).astype(np.int32)
        cv2.polylines(thin, [points], False, 1, int(rng.integers(2, 7)))
    if rng.random() < 0.3:  # a ring: a wheel, a hoop
        centre = tuple(int(v) for v in rng.uniform(0.3, 0.7, 2) * side)
        cv2.circle(thin, centre, int(rng.uniform(0.1, 0.3) * side), 1, int(rng.integers(3, 9)))
    return fields[0], fields[1], thin


def _affine(rng: np.random.Generator, box: tuple[int, int], scale0: float):
    """A per-frame affine motion (box -> frame): drift, turn, breathe."""
    centre = rng.uniform([0.2 * WIDTH, 0.2 * HEIGHT], [0.8 * WIDTH, 0.8 * HEIGHT])
    velocity, spin = rng.uniform(-3, 3, 2), rng.uniform(-1.5, 1.5)
    breathe, phase, angle0 = rng.uniform(0, 0.15), rng.uniform(0, 6.3), rng.uniform(-30, 30)

    def matrix(t: int) -> np.ndarray:
        c = np.clip(centre + velocity * t, [0, 0], [WIDTH, HEIGHT])
        s = scale0 * (1 + breathe * math.sin(0.1 * t + phase))
        m = cv2.getRotationMatrix2D((box[1] / 2, box[0] / 2), angle0 + spin * t, s)
        m[:, 2] += c - np.array([box[1] / 2, box[0] / 2])
        return m

    return matrix


def ground_truth(rng: np.random.Generator, frames: int, shapes: list[np.ndarray] | None, objects: int) -> np.ndarray:
    """(T, H, W) uint8 labels: ``shapes`` (real binary masks) or ``objects`` generated ones; later ids occlude earlier."""
    labels = np.zeros((frames, HEIGHT, WIDTH), np.uint8)
    movers = []
    for k in range(len(shapes) if shapes else objects):
        if shapes:
            mask = shapes[k]
            scale = rng.uniform(0.9, 1.3)
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32) * 2 - 1
            parts = (crop, crop, np.zeros(crop.shape, np.uint8))
        else:
            parts = _generated_shape(rng, float(np.exp(rng.uniform(np.log(0.01), np.log(0.25)))))
            scale = 1.0
        movers.append((parts, _affine(rng, parts[0].shape, scale), rng.uniform(20, 60)))
    for t in range(frames):
        for k, ((a, b, thin), matrix, period) in enumerate(movers):
            w = 0.5 - 0.5 * math.cos(2 * math.pi * t / period)
            m = matrix(t)
            field = cv2.warpAffine(a * (1 - w) + b * w if a is not b else a, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                                   borderValue=-1.0)
            inside = field > 0
            if thin.any():
                inside |= cv2.warpAffine(thin, m, (WIDTH, HEIGHT), flags=cv2.INTER_NEAREST) > 0
            labels[t][inside] = k + 1
    return labels


class _Errors:
    """Method-like errors, with the smooth fields drawn once per sequence and shifted over time."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.flow = [fractal(rng, HEIGHT + 64, WIDTH + 64, (4, 8, 16)) for _ in range(2)]
        self.grain = fractal(rng, HEIGHT + 64, WIDTH + 64, (60, 120))
        self.grid = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
        self.kernel = np.ones((5, 5), np.uint8)

    def apply(self, mask: np.ndarray, t: int, strength: float) -> np.ndarray:
        rng = self.rng
        o = (t * 3) % 64
        dy = self.flow[0][o:o + HEIGHT, o:o + WIDTH] * strength
        dx = self.flow[1][o:o + HEIGHT, o:o + WIDTH] * strength
        out = cv2.remap(mask, self.grid[1] + dx, self.grid[0] + dy, cv2.INTER_NEAREST)
        band = cv2.dilate(out, self.kernel) != cv2.erode(out, self.kernel)
        flip = band & (self.grain[o:o + HEIGHT, 64 - o:64 - o + WIDTH] > 0.35)
        out[flip] ^= 1
        if rng.random() < 0.1:  # a chunk cut off
            rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
            if rows.size:
                r, c = int(rng.choice(rows)), int(rng.choice(cols))
                out[r:r + int(rng.integers(10, 60)), c:c + int(rng.integers(10, 60))] = 0
        if rng.random() < 0.2:  # a spurious blob
            r, c = int(rng.integers(0, HEIGHT - 40)), int(rng.integers(0, WIDTH - 40))
            size = int(rng.integers(8, 40))
            out[r:r + size, c:c + size] |= (fractal(rng, size, size, (2, 4, 8)) > 0.2).view(np.uint8)
        return out


def predictions(rng: np.random.Generator, gt: np.ndarray, objects: int) -> np.ndarray:
    """(T, H, W) uint8 results made from ``gt`` with method-like errors."""
    errors = _Errors(rng)
    strength = rng.uniform(1, 4)
    out = np.zeros_like(gt)
    for t in range(gt.shape[0]):
        for k in range(1, objects + 1):
            if rng.random() < 0.03:
                continue  # missed on this frame
            mask = errors.apply((gt[t] == k).view(np.uint8), t, strength)
            label = k if objects == 1 or rng.random() > 0.02 else int(rng.integers(1, objects + 1))
            out[t][mask > 0] = label
    return out


def real_shapes() -> list[list[np.ndarray]]:
    """The real sample annotations as lists of binary object masks (one list per sequence); [] without ../shared."""
    sequences = []
    for folder in sorted(SAMPLES.glob("*")) if SAMPLES.is_dir() else []:
        masks = []
        for path in sorted(folder.glob("*.png")):
            labels = np.array(Image.open(path))
            labels = cv2.resize(labels, (WIDTH, HEIGHT), interpolation=cv2.INTER_NEAREST)
            masks += [(labels == k).astype(np.uint8) for k in np.unique(labels) if 0 < k < 255]
        if masks:
            sequences.append(masks)
    return sequences


def save_labels(path: Path, labels: np.ndarray) -> None:
    """An indexed PNG with the DAVIS palette, as PIL writes it (and as the official annotations are)."""
    image = Image.fromarray(labels, mode="P")
    image.putpalette(davis_palette().ravel().tolist())
    image.save(path)
