"""The run's picture: training loss and validation J&F against steps, drawn with Pillow (no plotting library).

``runs/NAME/curves.png``: left, the loss of every step (grey) and its moving average (blue); right,
validation J&F (green dots) with the copy-the-first-mask baseline (dashed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

# The layout, from the canvas edges inwards: room for the y tick labels on the left of each panel
# (MARGIN_LEFT, GAP), for the title and panel titles above, and for the x tick labels and the "step"
# label below (MARGIN_BOTTOM); both panels and every label lie inside WIDTH x HEIGHT.
WIDTH, HEIGHT = 1000, 440
MARGIN_LEFT, GAP, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 80, 30, 56, 50
PANEL_W = (WIDTH - MARGIN_LEFT - GAP - MARGIN_RIGHT) // 2
PANEL = (MARGIN_LEFT, MARGIN_TOP, PANEL_W, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)  # left, top, width, height
BLUE, GREY, GREEN, RED, INK = (31, 119, 180), (190, 190, 190), (44, 160, 44), (214, 39, 40), (40, 40, 40)


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * step:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:.3g}"


class _Panel:
    def __init__(self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], xr, yr, title: str, font) -> None:
        self.draw, self.box, self.font = draw, box, font
        self.x0, self.x1 = xr if xr[1] > xr[0] else (xr[0], xr[0] + 1)
        self.y0, self.y1 = yr if yr[1] > yr[0] else (yr[0] - 0.5, yr[0] + 0.5)
        left, top, w, h = box
        draw.rectangle([left, top, left + w, top + h], outline=INK)
        draw.text((left + w / 2, top - 14), title, fill=INK, font=font, anchor="mm")
        for v in _ticks(self.x0, self.x1):
            x, _ = self.xy(v, self.y0)
            draw.line([x, top + h, x, top + h + 4], fill=INK)
            draw.text((x, top + h + 14), _fmt(v), fill=INK, font=font, anchor="mm")
        for v in _ticks(self.y0, self.y1):
            _, y = self.xy(self.x0, v)
            draw.line([left - 4, y, left, y], fill=INK)
            if top + 1 < y < top + h - 1:  # a grid line on the frame would hide it
                draw.line([left + 1, y, left + w - 1, y], fill=(235, 235, 235))
            draw.text((left - 8, y), _fmt(v), fill=INK, font=font, anchor="rm")
        draw.text((left + w / 2, top + h + 32), "step", fill=INK, font=font, anchor="mm")

    def xy(self, x: float, y: float) -> tuple[float, float]:
        left, top, w, h = self.box
        return (left + (x - self.x0) / (self.x1 - self.x0) * w,
                top + h - (min(max(y, self.y0), self.y1) - self.y0) / (self.y1 - self.y0) * h)

    def line(self, xs: Sequence[float], ys: Sequence[float], colour, width: int = 2, dashed: bool = False) -> None:
        pts = [self.xy(x, y) for x, y in zip(xs, ys)]
        if len(pts) == 1:
            pts = pts * 2
        if not dashed:
            self.draw.line(pts, fill=colour, width=width)
            return
        for a, b in zip(pts, pts[1:]):
            length = math.dist(a, b)
            for s in range(0, int(length), 12):
                t0, t1 = s / max(length, 1), min(s + 6, length) / max(length, 1)
                self.draw.line([(a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                                (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)], fill=colour, width=width)

    def dots(self, xs: Sequence[float], ys: Sequence[float], colour) -> None:
        for x, y in zip(xs, ys):
            px, py = self.xy(x, y)
            self.draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)


def _ema(values: Sequence[float], alpha: float) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else alpha * v + (1 - alpha) * acc
        out.append(acc)
    return out


def draw_curves(records: Sequence[dict], path: Path, title: str = "") -> None:
    """Draw ``log.jsonl`` records (``{"step", "loss"}`` and ``{"step", "val": {...}}``) to ``path`` (PNG)."""
    from vostool.io.masks import atomic_save

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.load_default(size=13)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    if title:
        draw.text((WIDTH / 2, 16), title, fill=INK, font=font, anchor="mm")
    steps = [r for r in records if "loss" in r]
    vals = [r for r in records if "val" in r]
    x_max = max([r["step"] for r in records] or [1])
    xs = [r["step"] for r in steps]
    ys = [r["loss"] for r in steps]
    left, top, w, h = PANEL
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    loss = _Panel(draw, PANEL, (0, x_max), (0.0 if lo >= 0 else lo, hi * 1.05 if hi > 0 else 1.0), "training loss", font)
    if xs:
        loss.line(xs, ys, GREY, width=1)
        loss.line(xs, _ema(ys, 2 / (min(len(ys), 50) + 1)), BLUE)
    right = (left + w + GAP, top, w, h)
    scores = [r["val"]["J&F"] for r in vals]
    base = [r["val"]["copy J&F"] for r in vals if "copy J&F" in r["val"]]
    ylo = min(scores + base) - 5 if scores or base else 0.0  # no validation: the whole 0..100 scale
    yhi = max(scores + base) + 5 if scores or base else 100.0
    val = _Panel(draw, right, (0, x_max), (max(0.0, ylo), min(100.0, yhi)), "validation J&F", font)
    if vals:
        val.line([r["step"] for r in vals], scores, GREEN)
        val.dots([r["step"] for r in vals], scores, GREEN)
    if base:
        val.line([0, x_max], [base[-1], base[-1]], RED, dashed=True)
        draw.text((right[0] + 8, right[1] + 8), f"copy first mask: {base[-1]:.1f}", fill=RED, font=font)
    if not vals:
        draw.text((right[0] + w / 2, right[1] + h / 2), "no validation data (--val)", fill=INK, font=font, anchor="mm")
    path = Path(path)
    atomic_save(path, lambda tmp: image.save(tmp, format="PNG"))
