"""Tiny videos with first-frame masks beside them, for the many-videos tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from conftest import write_video
from vostool.data.synthetic import make_clip

# The fast settings of the other CLI tests: random ResNet-18 FRTM at the videos' native size.
FAST = ("--untrained", "--set", "backbone=resnet18", "--set", "fast=true", "--size", "0", "--device", "cpu")
FAST_OPTIONS = {"backbone": "resnet18", "fast": "true"}


def write_videos(folder: Path, count: int, frames: int = 4, height: int = 32, width: int = 48) -> list[Path]:
    """``count`` videos ``v0.mp4``… in ``folder``, each with its first-frame mask ``v<i>.png`` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    videos = []
    for i in range(count):
        clip = make_clip(num_frames=frames, height=height, width=width, num_objects=2, seed=i)
        videos.append(write_video(folder / f"v{i}.mp4", clip.frames))
        Image.fromarray(clip.labels[0], mode="L").save(folder / f"v{i}.png")
    return videos


def png_bytes(root: Path) -> dict[str, bytes]:
    """Every PNG under ``root`` by its relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}
