"""Shared test helpers: small synthetic videos written with PyAV, and the optional ../shared folder."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path inside ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared is only present in the developers' and CI checkouts)")
    return path


def shared_key_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """A checkpoint key listing ``../shared/specs/keys/NAME`` ("key (d0, d1, ...)" per line), or skip."""
    shapes = {}
    for line in shared_path("specs", "keys", name).read_text().splitlines():
        key, shape = line.split(" ", 1)
        shapes[key] = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
    return shapes


def write_video(path: Path, frames: np.ndarray, fps: int = 10, codec: str | None = None) -> Path:
    """Encode (T, H, W, 3) uint8 frames with PyAV; the container follows the extension."""
    import av

    fmt = {".mp4": "mp4", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".mov": "mov"}[path.suffix]
    codec = codec or {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(path.suffix, "libx264")
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def fake_imagenet(tmp_path: Path, monkeypatch, arch: str) -> dict:
    """Place a random torchvision ``arch`` state dict where torchvision caches ImageNet weights, as a
    user would offline; returns it."""
    import torch
    import torchvision

    from vostool.methods.backbones import imagenet_weights_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = imagenet_weights_file(arch)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(3)
    state = getattr(torchvision.models, arch)(weights=None).state_dict()
    torch.save(state, target)
    return state


@pytest.fixture(scope="session")
def small_clip():
    """A 6-frame 64x96 clip with two objects (frames, labels)."""
    from vostool.data.synthetic import make_clip

    return make_clip(num_frames=6, height=64, width=96, num_objects=2, seed=1)


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """Never touch the user's weight caches; never reach the network for ImageNet weights."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VOSTOOL_CACHE", str(cache / "vostool"))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
