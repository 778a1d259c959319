"""Procedural VOS videos for training and evaluation, deterministic by seed, rendered frame by frame.

Richer than :func:`vostool.data.synthetic.make_clip` (which stays as it is: the bundled example and
the tests depend on its exact output): textured objects of varied shapes (thin parts, holes, several
parts) on textured backgrounds, smooth and fast motion, rotation, scaling and non-rigid deformation,
occlusion between objects, objects leaving the frame and coming back, unlabelled look-alike
distractors and camera motion. ``vostool synth`` writes such videos as a DAVIS-layout dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vostool.data.synthetic import SHAPES, SyntheticClip, _background, _inside

EXTRA_SHAPES = ("crescent", "blob", "bar", "holes", "arc")
ALL_SHAPES = SHAPES + EXTRA_SHAPES
PATTERNS = ("stripes", "checker", "dots", "noise")


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of :class:`SyntheticVideo`; every field can be set with ``key=value`` (see options.py)."""

    method_name = "synthetic"

    height: int = 240
    width: int = 432
    frames: int = 24
    min_objects: int = 1
    max_objects: int = 3
    distractors: int = 1  # at most this many unlabelled look-alikes of the objects
    radius: tuple[float, float] = (0.12, 0.25)  # object radius range, as a fraction of the short side
    speed: float = 1.0  # scales every object's motion (some objects move 2.5x faster)
    camera_motion: float = 1.0  # background pan (objects follow it half-way, parallax)
    leave: float = 0.3  # probability that an object's path leaves the frame and comes back
    deform: float = 1.0  # strength of non-rigid deformation and zoom
    noise: float = 3.0  # sensor noise (standard deviation, 0..255 scale)

    def validate(self) -> None:
        from vostool.errors import OptionError

        if self.height < 16 or self.width < 16:
            raise OptionError("synthetic video: height and width must be at least 16")
        if self.frames < 1:
            raise OptionError("synthetic video: frames must be at least 1")
        if not 1 <= self.min_objects <= self.max_objects <= 255:
            raise OptionError("synthetic video: need 1 <= min_objects <= max_objects <= 255")
        if self.distractors < 0 or not 0 <= self.leave <= 1:
            raise OptionError("synthetic video: distractors >= 0 and 0 <= leave <= 1")
        if not 0 < self.radius[0] <= self.radius[1] < 0.5:
            raise OptionError("synthetic video: radius=LOW,HIGH with 0 < LOW <= HIGH < 0.5")


@dataclass
class _Actor:
    """A labelled object or an unlabelled distractor; all motion is a closed-form function of time."""

    label: int  # 0 for distractors
    shape: str
    pattern: str
    colour: np.ndarray  # (3,)
    period: float  # pattern period in object units
    texture: np.ndarray  # (8, 8) smooth-noise grid for the "noise" pattern
    harmonics: np.ndarray  # (3, 2) amplitude and phase of the "blob" outline
    radius: float
    start: np.ndarray  # (2,) x, y centre at t = 0 (screen)
    velocity: np.ndarray
    wobble: np.ndarray  # (2,) amplitude of a sinusoidal path
    wobble_freq: float
    wobble_phase: float
    box: tuple[float, float, float, float]  # x_lo, x_hi, y_lo, y_hi of the reflecting box
    angle: float
    spin: float
    breathe: float
    zoom: float
    warp: float
    warp_freq: float

    def pose(self, t: int, camera: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Centre (x, y), scale (pixels per object unit) and angle at time t."""
        path = self.start + self.velocity * t + self.wobble * (np.sin(self.wobble_freq * t + self.wobble_phase)
                                                               - np.sin(self.wobble_phase))
        path = path - 0.5 * camera
        centre = np.array([_reflect(path[0], self.box[0], self.box[1]), _reflect(path[1], self.box[2], self.box[3])])
        scale = self.radius * (1 + self.breathe * np.sin(t / 4.0 + self.wobble_phase)) * (1 + self.zoom * t)
        return centre, max(scale, 1.5), self.angle + self.spin * t

    def inside(self, u: np.ndarray, v: np.ndarray, t: int) -> np.ndarray:
        if self.warp:
            u, v = (u + self.warp * np.sin(2.5 * v + self.warp_freq * t),
                    v + self.warp * np.sin(2.5 * u + self.warp_freq * t + 1.0))
        if self.shape in SHAPES:
            return _inside(self.shape, u, v)
        r = np.hypot(u, v)
        theta = np.arctan2(v, u)
        if self.shape == "crescent":
            return (r <= 1) & (np.hypot(u - 0.45, v) > 0.75)
        if self.shape == "blob":
            edge = 0.7 + sum(a * np.cos((k + 2) * theta + p) for k, (a, p) in enumerate(self.harmonics))
            return r <= edge
        if self.shape == "bar":  # thin and long
            return (np.abs(u) <= 1) & (np.abs(v) <= 0.12)
        if self.shape == "holes":  # a disc with three holes
            holes = np.zeros_like(r, dtype=bool)
            for k in range(3):
                a = 2 * np.pi * k / 3
                holes |= np.hypot(u - 0.5 * np.cos(a), v - 0.5 * np.sin(a)) < 0.22
            return (r <= 1) & ~holes
        if self.shape == "arc":  # a thin open ring
            return (r >= 0.78) & (r <= 1) & (np.abs(theta) <= 2.1)
        raise ValueError(self.shape)

    def shade(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Texture colours (N, 3) at object coordinates (N,): the texture moves with the object."""
        if self.pattern == "stripes":
            pattern = 0.75 + 0.25 * np.sign(np.sin(u / self.period * np.pi))
        elif self.pattern == "checker":
            pattern = 0.7 + 0.3 * ((np.floor(u / self.period) + np.floor(v / self.period)) % 2)
        elif self.pattern == "dots":
            pattern = np.where(np.hypot((u / self.period) % 1 - 0.5, (v / self.period) % 1 - 0.5) < 0.3, 0.55, 1.0)
        else:
            gu = np.clip((u + 1.2) / 2.4 * 7, 0, 6.999)
            gv = np.clip((v + 1.2) / 2.4 * 7, 0, 6.999)
            iu, iv = gu.astype(int), gv.astype(int)
            fu, fv = gu - iu, gv - iv
            g = self.texture
            pattern = 0.6 + 0.4 * (g[iv, iu] * (1 - fu) * (1 - fv) + g[iv, iu + 1] * fu * (1 - fv)
                                   + g[iv + 1, iu] * (1 - fu) * fv + g[iv + 1, iu + 1] * fu * fv)
        return self.colour[None, :] * pattern[:, None]


def _reflect(x: float, lo: float, hi: float) -> float:
    """Bounce ``x`` into [lo, hi] (a triangle wave), so paths stay continuous."""
    span = hi - lo
    if span <= 0:
        return (lo + hi) / 2
    c = (x - lo) % (2 * span)
    return lo + (c if c < span else 2 * span - c)


def _seed_list(seed: int | tuple[int, ...] | list[int]) -> list[int]:
    return [int(s) for s in seed] if isinstance(seed, (tuple, list)) else [int(seed)]


def object_count(seed: int | tuple[int, ...], config: SynthConfig) -> int:
    """How many labelled objects video ``seed`` has, without building it (its own random stream)."""
    rng = np.random.default_rng(_seed_list(seed) + [2])
    return int(rng.integers(config.min_objects, config.max_objects + 1))


class SyntheticVideo:
    """A procedural video, deterministic by ``seed`` (an int or a tuple of ints); frames render on demand.

    Textured objects of varied shapes (thin parts, holes, several parts) on a textured, panning
    background; smooth and fast motion with rotation, scaling and non-rigid deformation; objects
    occluding each other, leaving the frame and coming back; unlabelled look-alike distractors.
    Every object is visible on frame 0, so frame 0's labels are a valid first mask.
    """

    def __init__(self, seed: int | tuple[int, ...], config: SynthConfig | None = None) -> None:
        self.config = config or SynthConfig()
        self.seed = _seed_list(seed)
        cfg = self.config
        h, w = cfg.height, cfg.width
        rng = np.random.default_rng(self.seed + [0])
        self.margin = int(max(h, w) * 0.25)
        self.canvas = _background(rng, h + 2 * self.margin, w + 2 * self.margin)
        self.pan = rng.uniform(-1, 1, size=2) * cfg.camera_motion * min(h, w) / 60
        self.num_objects = object_count(self.seed, cfg)
        num_distractors = int(rng.integers(0, cfg.distractors + 1))
        shapes = list(rng.permutation(ALL_SHAPES))
        targets = [self._actor(rng, k + 1, str(shapes[k % len(shapes)])) for k in range(self.num_objects)]
        distractors = []
        for _ in range(num_distractors):
            twin = targets[int(rng.integers(len(targets)))]
            d = self._actor(rng, 0, twin.shape)
            # Look-alike: the twin's appearance with a slightly shifted colour, its own motion.
            d.pattern, d.period, d.texture, d.harmonics = twin.pattern, twin.period, twin.texture, twin.harmonics
            d.colour = np.clip(twin.colour + rng.uniform(-12, 12, size=3), 0, 255)
            d.radius = twin.radius * rng.uniform(0.8, 1.2)
            distractors.append(d)
        actors = targets + distractors
        self.actors = [actors[i] for i in rng.permutation(len(actors))]  # drawing order = depth order
        self._place_visibly(rng, targets)

    def _actor(self, rng: np.random.Generator, label: int, shape: str) -> _Actor:
        cfg = self.config
        h, w = cfg.height, cfg.width
        side = min(h, w)
        radius = max(4.0, rng.uniform(*cfg.radius) * side)
        leaves = rng.random() < cfg.leave
        pad = -1.6 * radius if leaves else radius
        fast = rng.choice([0.6, 1.0, 1.0, 2.5])
        return _Actor(
            label=label, shape=shape, pattern=str(rng.choice(PATTERNS)), colour=rng.uniform(30, 230, size=3),
            period=rng.uniform(0.15, 0.4), texture=rng.random((8, 8)),
            harmonics=np.stack([rng.uniform(0, 0.12, 3), rng.uniform(0, 2 * np.pi, 3)], axis=1),
            radius=radius, start=np.array([rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h]),
            velocity=rng.uniform(-1, 1, size=2) * side / 60 * cfg.speed * fast,
            wobble=rng.uniform(-1, 1, size=2) * side / 12 * cfg.speed, wobble_freq=rng.uniform(0.1, 0.35),
            wobble_phase=rng.uniform(0, 2 * np.pi), box=(pad, w - pad, pad, h - pad),
            angle=rng.uniform(0, 2 * np.pi), spin=rng.uniform(-0.1, 0.1) * cfg.speed,
            breathe=rng.uniform(0.0, 0.15) * cfg.deform, zoom=rng.uniform(-0.01, 0.01) * cfg.deform,
            warp=rng.uniform(0.0, 0.12) * cfg.deform, warp_freq=rng.uniform(0.1, 0.4),
        )

    def _place_visibly(self, rng: np.random.Generator, targets: list[_Actor]) -> None:
        """Move objects until each shows at least 40% of itself on frame 0 (other objects occlude)."""
        for _ in range(30):
            labels = self.label(0)
            counts = np.bincount(labels.ravel(), minlength=256)
            hidden = [a for a in targets if counts[a.label] < 0.4 * max(self._alone(a, 0), 1)]
            if not hidden:
                return
            for a in hidden:
                a.start = np.array([rng.uniform(0.15, 0.85) * self.config.width, rng.uniform(0.15, 0.85) * self.config.height])

    def _camera(self, t: int) -> np.ndarray:
        m = self.margin
        return np.array([_reflect(m + self.pan[0] * t, 0, 2 * m), _reflect(m + self.pan[1] * t, 0, 2 * m)]) - m

    def _rasterise(self, actor: _Actor, t: int):
        """(y slice, x slice, inside mask, u, v) of ``actor`` on frame t, or None when it is off-screen."""
        h, w = self.config.height, self.config.width
        centre, scale, angle = actor.pose(t, self._camera(t))
        reach = scale * 1.3 + 2
        x0, x1 = int(max(0, np.floor(centre[0] - reach))), int(min(w, np.ceil(centre[0] + reach)))
        y0, y1 = int(max(0, np.floor(centre[1] - reach))), int(min(h, np.ceil(centre[1] + reach)))
        if x0 >= x1 or y0 >= y1:
            return None
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        dx, dy = xx - centre[0], yy - centre[1]
        u = (np.cos(angle) * dx + np.sin(angle) * dy) / scale
        v = (-np.sin(angle) * dx + np.cos(angle) * dy) / scale
        return slice(y0, y1), slice(x0, x1), actor.inside(u, v, t), u, v

    def _alone(self, actor: _Actor, t: int) -> int:
        r = self._rasterise(actor, t)
        return 0 if r is None else int(r[2].sum())

    def label(self, t: int) -> np.ndarray:
        """(H, W) uint8 labels of frame t: 0 background (and distractors), objects 1..num_objects."""
        label = np.zeros((self.config.height, self.config.width), dtype=np.uint8)
        for actor in self.actors:
            r = self._rasterise(actor, t)
            if r is not None:
                ys, xs, inside = r[:3]
                label[ys, xs][inside] = actor.label
        return label

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame t: ((H, W, 3) uint8 RGB, (H, W) uint8 labels)."""
        cfg = self.config
        h, w = cfg.height, cfg.width
        cam = self._camera(t)
        oy, ox = int(round(self.margin + cam[1])), int(round(self.margin + cam[0]))
        image = self.canvas[oy : oy + h, ox : ox + w].copy()
        label = np.zeros((h, w), dtype=np.uint8)
        for actor in self.actors:
            r = self._rasterise(actor, t)
            if r is None:
                continue
            ys, xs, inside, u, v = r
            patch = image[ys, xs]
            patch[inside] = actor.shade(u[inside], v[inside])
            label[ys, xs][inside] = actor.label
        if cfg.noise > 0:
            image = image + np.random.default_rng(self.seed + [1, t]).normal(0, cfg.noise, size=image.shape)
        return np.clip(image, 0, 255).astype(np.uint8), label

    def clip(self) -> SyntheticClip:
        """All frames at once."""
        rendered = [self.render(t) for t in range(self.config.frames)]
        return SyntheticClip(np.stack([f for f, _ in rendered]), np.stack([lb for _, lb in rendered]))


def make_video(seed: int | tuple[int, ...], config: SynthConfig | None = None) -> SyntheticClip:
    """Render a whole :class:`SyntheticVideo` (frames (T, H, W, 3) uint8, labels (T, H, W) uint8)."""
    return SyntheticVideo(seed, config).clip()
