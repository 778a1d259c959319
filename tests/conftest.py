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


def shared_key_shapes(*parts: str) -> dict[str, tuple[int, ...]]:
    """A key listing in ../shared/specs/keys ("name (d0, d1, ...)" per line) as {name: shape}; skips when absent."""
    shapes = {}
    for line in shared_path("specs", "keys", *parts).read_text().splitlines():
        key, shape = line.split(" ", 1)
        shapes[key] = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
    return shapes


def fake_imagenet(tmp_path: Path, monkeypatch, arch: str) -> dict:
    """Place a (random) file where torchvision caches ImageNet weights, as a user would offline."""
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


def truncated_mp4(path: Path, frames: np.ndarray, keep: float = 0.5) -> Path:
    """An MP4 whose index (moov) comes first and whose frame data is cut after ``keep`` of its bytes,
    as a download or copy that stopped early leaves it: the container still announces every frame."""
    import av

    whole = path.with_name(f"whole_{path.name}")
    write_video(whole, frames)
    with av.open(str(whole)) as source, av.open(str(path), "w", options={"movflags": "faststart"}) as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def terminate_when(args: list, ready, env: dict | None = None, bound: float = 300) -> tuple[int, str]:
    """Run ``args`` (a vostool process) and send it SIGTERM once ``ready()`` holds; (exit status, output).

    ``bound`` only limits a hung process; it is not a speed requirement.
    """
    import os
    import signal
    import subprocess
    import time

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "COLUMNS": "200", **(env or {})}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        deadline = time.monotonic() + bound
        while not ready():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the process did not get ready within the bound"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=bound)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, output
