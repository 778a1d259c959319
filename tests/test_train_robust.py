"""Training runs that end well: the curves inside their canvas, resume at the end, times across a
resume, interrupted runs (Ctrl-C, SIGTERM) that exit non-zero and list only files that exist."""

import json
import math

import numpy as np
from PIL import Image

from vostool.training.plot import INK, draw_curves


def _records(steps=400):
    records = [{"step": s, "loss": 1 / math.sqrt(s)} for s in range(1, steps + 1)]
    records += [{"step": s, "val": {"J&F": 30 + s / 20, "copy J&F": 32.5}} for s in range(0, steps + 1, 100)]
    return records


def test_curves_are_drawn_inside_the_canvas(tmp_path):
    draw_curves(_records(), tmp_path / "curves.png", "frtm: a run")
    image = np.array(Image.open(tmp_path / "curves.png").convert("RGB")).astype(int)
    white = (image == 255).all(axis=2)
    assert white[:, -8:].all() and white[-4:, :].all() and white[:4, :].all()  # nothing touches the edges
    # Each panel has two vertical frame lines (INK over most of the panel's height): four in all.
    ink = (np.abs(image - np.array(INK)).sum(axis=2) < 30)
    frame_columns = np.flatnonzero(ink.mean(axis=0) > 0.5)
    assert len(frame_columns) == 4, frame_columns
    # The "step" label under each panel: ink in the bottom band below the tick labels, in both halves.
    band = ink[-30:-4]
    half = image.shape[1] // 2
    assert band[:, :half].any() and band[:, half:].any()
