"""Small DAVIS and YouTube-VOS layouts written by the evaluation tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from vostool.io.masks import davis_palette


def save_png(path: Path, labels: np.ndarray, mode: str = "P") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="L")
    if mode == "P":
        image = image.convert("P")
        image.putpalette(davis_palette().ravel().tolist())
    image.save(path)
    return path


def save_jpg(path: Path, height: int, width: int, value: int = 120) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(path)


def write_davis(
    root: Path,
    sequences: dict[str, np.ndarray],
    results: dict[str, np.ndarray] | None = None,
    names: list[str] | None = None,
    split: str = "val",
    year: str = "2017",
    annotations: str = "Annotations",
    skip_results: tuple[int, ...] = (),
) -> Path:
    """Ground truth (T, H, W) per sequence (+ JPEGs, + the split file) and results under root/results.

    ``names``: frame file stems (default 00000, 00001, ...); ``skip_results``: frame positions
    (in ``names`` order) whose result file is not written. Returns the results folder.
    """
    for seq, gt in sequences.items():
        stems = names or [f"{t:05d}" for t in range(len(gt))]
        for t, stem in enumerate(stems):
            save_jpg(root / "JPEGImages/480p" / seq / f"{stem}.jpg", *gt.shape[1:])
            save_png(root / annotations / "480p" / seq / f"{stem}.png", gt[t])
            if results is not None and seq in results and t not in skip_results:
                save_png(root / "results" / seq / f"{stem}.png", results[seq][t])
    split_file = root / "ImageSets" / year / f"{split}.txt"
    split_file.parent.mkdir(parents=True, exist_ok=True)
    split_file.write_text("\n".join(sequences) + "\n")
    return root / "results"


def write_ytvos(root: Path, videos: dict[str, np.ndarray], step: int = 5, first: dict[str, dict[int, int]] | None = None) -> None:
    """YouTube-VOS valid layout from full-rate label stacks (T, H, W): JPEGs every ``step`` frames in
    valid/, every frame in valid_all_frames/, annotations where an object first appears (only that
    object's pixels), meta.json listing each object's frames from its first appearance."""
    meta = {"videos": {}}
    for vid, labels in videos.items():
        objects = {}
        for t in range(len(labels)):
            save_jpg(root / "valid_all_frames/JPEGImages" / vid / f"{t:05d}.jpg", *labels.shape[1:], value=10 * t % 250)
            if t % step == 0:
                save_jpg(root / "valid/JPEGImages" / vid / f"{t:05d}.jpg", *labels.shape[1:], value=10 * t % 250)
        sampled = list(range(0, len(labels), step))
        starts = {}
        for t in sampled:
            for k in np.unique(labels[t]):
                if k and int(k) not in starts:
                    starts[int(k)] = t
        for k, t0 in starts.items():
            path = root / "valid/Annotations" / vid / f"{t0:05d}.png"
            previous = np.array(Image.open(path)) if path.exists() else np.zeros(labels.shape[1:], np.uint8)
            save_png(path, np.where(labels[t0] == k, k, previous))
            objects[str(k)] = {"category": "thing", "frames": [f"{t:05d}" for t in sampled if t >= t0]}
        meta["videos"][vid] = {"objects": objects}
    (root / "valid").mkdir(parents=True, exist_ok=True)
    (root / "valid/meta.json").write_text(json.dumps(meta))


def box(shape: tuple[int, int], rows: tuple[int, int], cols: tuple[int, int], value: int = 1) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    out[rows[0]:rows[1], cols[0]:cols[1]] = value
    return out
