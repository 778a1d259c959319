"""FRTM's first-frame augmentation (augmenter.py in the authors' code), reproduced draw for draw.

The object is cut out, the hole is inpainted (OpenCV Telea), and augmented frames are made by warping
the background (scale, blur) and pasting the object back with a random affine transform (location,
rotation, flip, scale, skew) and an oriented blur. The original frame comes first, then K-1 samples.

Random draws use a ``numpy.random.RandomState`` seeded per object, consumed in the authors' order:
target-centre jitter (``normal``), the centre shuffle, then per retry one shuffle per parameter list
(foreground, then background). A faithful detail: ``AugmentationParams2`` is built without
``num_aug`` and so defaults to 20, so every retry draws **19** candidate specs; the valid ones are kept
and, as there are more than K-1, a final shuffle picks K-1. We check validity on the warped label
(cheap) for all candidates and render images only for the chosen ones: the same result, a fraction
of the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

SPECS_PER_DRAW = 19  # AugmentationParams2's default num_aug (20) minus the original frame
MIN_SIZE = 10  # AugmentationSpec.min_size: smallest side of the scaled object, in pixels
MAX_RETRIES = 100

FG_LISTS = {
    "rotation": [5, -5, 10, -10, 20, -20, 30, -30, 45, -45],
    "fliplr": [False, False, False, False, True],
    "scale": [0.5, 0.7, 1.0, 1.5, 2.0, 2.5],
    "skew": [(0.0, 0.0), (0.0, 0.0), (0.1, 0.1)],
    "blur_size": [0.0, 0.0, 0.0, 2.0],
    "blur_angle": [0, 45, 90, 135],
}
BG_LISTS = {
    "location": [(0.5, 0.5)],  # the class default; the authors' "tcenter" key is ignored
    "rotation": [0, 0, 0],
    "fliplr": [False],
    "scale": [1.0, 1.0, 1.2],
    "skew": [(0.0, 0.0)],
    "blur_size": [0.0, 0.0, 1.0, 2.0, 5.0],
    "blur_angle": [0, 45, 90, 135],
    "tcenter": [(0.5, 0.5)],
}


@dataclass
class Spec:
    location: tuple[float, float]
    rotation: float
    fliplr: bool
    scale: float
    skew: tuple[float, float]
    blur_size: float
    blur_angle: float


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], dtype=np.float64)


def _rotate(a: float) -> np.ndarray:
    ca, sa = np.cos(a), np.sin(a)
    return np.array([[ca, sa, 0], [-sa, ca, 0], [0, 0, 1]])


def _scale(sx: float, sy: float) -> np.ndarray:
    return np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], dtype=np.float64)


def _skew(kx: float, ky: float) -> np.ndarray:
    return np.array([[1, kx, 0], [ky, 1, 0], [0, 0, 1]], dtype=np.float64)


def blur_kernel(size: float, angle_deg: float) -> np.ndarray:
    """Oriented Gaussian with covariance R diag(size, 0.1) Rᵀ; (2s+1)² taps, s = odd(int(size/2 + 0.5))."""
    r = _rotate(angle_deg * np.pi / 180)[:2, :2]
    cov = r @ np.diag((size, 0.1)) @ r.T
    s = int(max(size, 0.1) / 2 + 0.5)
    s = s + (s + 1) % 2
    grid = np.arange(-s, s + 1)
    x = np.stack(np.meshgrid(grid, grid))
    q = (x * np.tensordot(np.linalg.inv(cov), x, axes=[1, 0])).sum(0)
    g = np.exp(-0.5 * q)
    return (g / g.sum()).astype(np.float32)


def target_locations(n: int, size: tuple[int, int], rng: np.random.RandomState) -> list[tuple[float, float]]:
    """A jittered grid of object centres (fractions of width, height), shuffled, first n."""
    h, w = size
    aspect = w / h
    nrows = int(np.ceil(np.sqrt(n / aspect)))
    ncols = int(np.ceil(aspect * nrows))
    centres = []
    for row in range(nrows):
        for col in range(ncols):
            x = (col + 0.5) / ncols + rng.normal(0, 0.5 / ncols / 4)
            y = (row + 0.5) / nrows + rng.normal(0, 0.5 / nrows / 4)
            centres.append((np.round(x, 3), np.round(y, 3)))
    rng.shuffle(centres)
    return centres[:n]


def _draw_specs(lists: dict[str, list], n: int, rng: np.random.RandomState) -> list[Spec]:
    """Repeat each list to at least n entries, shuffle, take n (the authors' generate_specs2)."""
    chosen = {}
    for key, values in lists.items():
        values = list(values) * ((n + len(values) - 1) // len(values))
        rng.shuffle(values)
        chosen[key] = values[:n]
    return [
        Spec(chosen["location"][i], chosen["rotation"][i], chosen["fliplr"][i], chosen["scale"][i],
             chosen["skew"][i], chosen["blur_size"][i], chosen["blur_angle"][i])
        for i in range(n)
    ]


def object_box(mask: np.ndarray) -> tuple[float, float, int, int]:
    """(centre x, centre y, width, height) as the authors compute it: first index + size / 2."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    w = int(xs[-1] - xs[0] + 1)
    h = int(ys[-1] - ys[0] + 1)
    return xs[0] + w / 2, ys[0] + h / 2, w, h


def transform(spec: Spec, box: tuple[float, float, int, int], size: tuple[int, int], limit_scale: bool) -> np.ndarray:
    """T = translate(location) · skew · rotate · scale(±s, s) · translate(-box centre), 3x3 float32."""
    tx, ty, tw, th = box
    h, w = size
    s = spec.scale
    if limit_scale:
        if s * tw > w or s * th > h:
            s = min(w / tw, h / th)
        if s * tw < MIN_SIZE or s * th < MIN_SIZE:
            s = max(MIN_SIZE / tw, MIN_SIZE / th)
    mirror = -1 if spec.fliplr else 1
    t = spec.location
    m = (_translate(t[0] * w, t[1] * h) @ _skew(*spec.skew) @ _rotate(spec.rotation * np.pi / 180)
         @ _scale(mirror * s, s) @ _translate(-tx, -ty))
    return m.astype(np.float32)


def _warp(image: np.ndarray, m: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    return cv2.warpAffine(image, m[:2, :], (size[1], size[0]), flags=interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _blur(image: np.ndarray, spec: Spec) -> np.ndarray:
    """Per-channel zero-padded convolution with the spec's kernel (torch conv2d, as the authors)."""
    if spec.blur_size <= 0:
        return image
    kernel = torch.from_numpy(blur_kernel(spec.blur_size, spec.blur_angle))
    kh, kw = kernel.shape
    channels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).unsqueeze(1)
    with torch.autocast("cpu", enabled=False):  # the authors blur in float32; a caller's autocast must not leak in
        out = F.conv2d(channels, kernel.view(1, 1, kh, kw), padding=(kh // 2, kw // 2))
    return out.squeeze(1).numpy().transpose(1, 2, 0)


def cut_and_inpaint(image: np.ndarray, mask: np.ndarray, method: str = "telea") -> tuple[np.ndarray, np.ndarray]:
    """RGBA cut-out of the object (alpha = mask * 255) and the frame with the object area filled.

    image: (H, W, 3) uint8; mask: (H, W) bool. The fill area is the mask dilated by a 2x2 ellipse.
    ``method='gray'`` fills it with 128 instead of Telea inpainting (the authors' YouTube-VOS variant).
    """
    m = mask.astype(np.uint8)
    rgba = np.concatenate([image * m[..., None], (m * 255)[..., None]], axis=-1)
    hole = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2, 2)))
    if method == "telea":
        filled = cv2.inpaint(np.ascontiguousarray(image), hole, 1, cv2.INPAINT_TELEA)
    else:
        filled = np.where(hole[..., None] > 0, np.uint8(128), image).astype(np.uint8)
    return rgba, filled


class FirstFrameAugmenter:
    """Produces the K first-frame training samples of one object."""

    def __init__(self, num_samples: int = 5, inpaint: str = "telea") -> None:
        self.num_samples = num_samples
        self.inpaint = inpaint

    def _valid(self, label: np.ndarray, fills_frame: bool) -> bool:
        count = int(label.sum())
        return count >= 1 and (count < label.size - 1 or fills_frame)

    def __call__(self, image: np.ndarray, mask: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """image: (H, W, 3) uint8 RGB; mask: (H, W) bool.

        Returns images (K, H, W, 3) uint8 and labels (K, H, W) uint8 in {0, 1}; index 0 is the input.
        """
        rng = np.random.RandomState(seed)
        size = image.shape[:2]
        n = self.num_samples - 1
        if n <= 0:
            return image[None], mask.astype(np.uint8)[None]
        box = object_box(mask)
        rgba, background = cut_and_inpaint(image, mask, self.inpaint)
        fg_lists = {"location": target_locations(self.num_samples, size, rng), **FG_LISTS}
        label = mask.astype(np.uint8)
        fills_frame = bool(mask.all())
        chosen: list[tuple[Spec, Spec, np.ndarray]] = []
        for _ in range(MAX_RETRIES + 1):
            fg_specs = _draw_specs(fg_lists, SPECS_PER_DRAW, rng)
            bg_specs = _draw_specs(BG_LISTS, SPECS_PER_DRAW, rng)
            for fg, bg in zip(fg_specs, bg_specs):
                m = transform(fg, box, size, limit_scale=True)
                warped = _warp(label, m, size, cv2.INTER_NEAREST)
                if self._valid(warped, fills_frame):
                    chosen.append((fg, bg, warped))
            if len(chosen) >= n:
                break
        if len(chosen) > n:
            order = list(range(len(chosen)))
            rng.shuffle(order)
            chosen = [chosen[i] for i in order[:n]]
        images = [image]
        labels = [label]
        for fg, bg, warped in chosen:
            images.append(self._render(background, rgba, fg, bg, box, size))
            labels.append(warped)
        # The authors' loop retries forever when no placement is valid (an object covering all but one
        # pixel); we stop after MAX_RETRIES draws and repeat the original frame instead.
        while len(images) < self.num_samples:
            images.append(image)
            labels.append(label)
        return np.stack(images), np.stack(labels)

    def _render(self, background: np.ndarray, rgba: np.ndarray, fg: Spec, bg: Spec, box, size) -> np.ndarray:
        h, w = size
        bg_matrix = transform(bg, (w / 2, h / 2, w, h), size, limit_scale=False)
        scene = np.clip(_warp(background.astype(np.float32), bg_matrix, size, cv2.INTER_CUBIC), 0, 255)
        scene = _blur(scene, bg)
        fg_matrix = transform(fg, box, size, limit_scale=True)
        obj = np.clip(_warp(rgba.astype(np.float32), fg_matrix, size, cv2.INTER_CUBIC), 0, 255)
        obj = _blur(obj, fg)
        alpha = obj[..., 3:4] / np.float32(255)
        out = obj[..., :3] * alpha + scene * (np.float32(1) - alpha)
        return out.astype(np.uint8)
