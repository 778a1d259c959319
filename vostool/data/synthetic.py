"""Procedural VOS videos: textured objects moving over a textured, panning background.

Deterministic by seed. Objects have varied shapes (ellipses, rings with holes, stars, thin crosses,
two-part blobs), their own textures that move with them, and smooth motion with rotation and scale
changes; later objects occlude earlier ones. Used for the bundled example and the tests, where small
sizes keep everything fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("ellipse", "ring", "star", "cross", "pair")


@dataclass
class SyntheticClip:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    labels: np.ndarray  # (T, H, W) uint8, 0 background, objects 1..K (drawing order = occlusion order)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Bilinearly upsampled random grid: a smooth field in [0, 1]."""
    gh, gw = max(2, h // cells + 2), max(2, w // cells + 2)
    grid = rng.random((gh, gw))
    ys = np.linspace(0, gh - 1.001, h)
    xs = np.linspace(0, gw - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.uniform(40, 200, size=3)
    field = np.stack([_smooth_noise(rng, h, w, cells) for cells in (64, 16, 4)])
    tint = rng.uniform(-60, 60, size=(3, 3))
    image = base[None, None, :] + np.einsum("khw,kc->hwc", field - 0.5, tint)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = 12 * np.sin(xx / rng.uniform(6, 20) + yy / rng.uniform(10, 40))
    return np.clip(image + stripes[..., None], 0, 255)


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Canonical shapes of radius about 1 in object coordinates (u, v)."""
    r = np.hypot(u, v)
    if shape == "ellipse":
        return (u / 1.0) ** 2 + (v / 0.6) ** 2 <= 1
    if shape == "ring":
        return (r <= 1) & (r >= 0.5)
    if shape == "star":
        theta = np.arctan2(v, u)
        return r <= 0.55 + 0.45 * np.cos(5 * theta)
    if shape == "cross":
        return ((np.abs(u) < 0.18) | (np.abs(v) < 0.18)) & (r <= 1)
    if shape == "pair":
        return (np.hypot(u - 0.55, v) <= 0.45) | (np.hypot(u + 0.55, v + 0.2) <= 0.4)
    raise ValueError(shape)


@dataclass
class _Object:
    shape: str
    colour: np.ndarray
    stripe: float
    radius: float
    position: np.ndarray
    velocity: np.ndarray
    wobble: np.ndarray
    angle: float
    spin: float
    breathe: float


def make_clip(
    num_frames: int = 12,
    height: int = 120,
    width: int = 160,
    num_objects: int = 2,
    seed: int = 0,
    camera_motion: float = 1.0,
) -> SyntheticClip:
    """Generate one clip. Objects stay (mostly) inside the frame; sizes scale with the frame."""
    rng = np.random.default_rng(seed)
    margin = int(max(height, width) * 0.25)
    canvas = _background(rng, height + 2 * margin, width + 2 * margin)
    pan = rng.uniform(-1, 1, size=2) * camera_motion * min(height, width) / 60
    objects = []
    shapes = list(rng.permutation(SHAPES))
    for k in range(num_objects):
        radius = rng.uniform(0.14, 0.22) * min(height, width)
        objects.append(
            _Object(
                shape=str(shapes[k % len(shapes)]),
                colour=rng.uniform(30, 230, size=3),
                stripe=rng.uniform(0.15, 0.4),
                radius=radius,
                position=np.array([rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height]),
                velocity=rng.uniform(-1, 1, size=2) * min(height, width) / 80,
                wobble=rng.uniform(-1, 1, size=2) * min(height, width) / 20,
                angle=rng.uniform(0, 2 * np.pi),
                spin=rng.uniform(-0.08, 0.08),
                breathe=rng.uniform(0.0, 0.15),
            )
        )
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    labels = np.zeros((num_frames, height, width), dtype=np.uint8)
    for t in range(num_frames):
        oy = int(np.clip(margin + pan[1] * t, 0, 2 * margin))
        ox = int(np.clip(margin + pan[0] * t, 0, 2 * margin))
        image = canvas[oy : oy + height, ox : ox + width].copy()
        label = np.zeros((height, width), dtype=np.uint8)
        for k, obj in enumerate(objects, start=1):
            centre = obj.position + obj.velocity * t + obj.wobble * np.sin(t / 5.0 + k)
            # Bounce off the borders so the object stays in view.
            for axis, limit in ((0, width), (1, height)):
                span = limit - 2 * obj.radius
                c = (centre[axis] - obj.radius) % (2 * span)
                centre[axis] = obj.radius + (c if c < span else 2 * span - c)
            scale = obj.radius * (1 + obj.breathe * np.sin(t / 4.0 + k))
            angle = obj.angle + obj.spin * t
            dx, dy = xx - centre[0], yy - centre[1]
            u = (np.cos(angle) * dx + np.sin(angle) * dy) / scale
            v = (-np.sin(angle) * dx + np.cos(angle) * dy) / scale
            inside = _inside(obj.shape, u, v)
            pattern = 0.75 + 0.25 * np.sign(np.sin(u / obj.stripe * np.pi))
            shade = obj.colour[None, :] * pattern[inside][:, None]
            image[inside] = shade
            label[inside] = k
        noise = rng.normal(0, 3, size=image.shape)
        frames[t] = np.clip(image + noise, 0, 255).astype(np.uint8)
        labels[t] = label
    return SyntheticClip(frames, labels)
