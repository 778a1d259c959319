"""The table of named weights (``--weights rn101_all``) and where the cache keeps them.

Each entry says which method the weights are for, where the authors published them, and the
architecture options they imply (e.g. FRTM's backbone). Files are cached as
``cache_dir()/<method>/<filename>`` (see :mod:`vostool.weights.download`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vostool.paths import cache_dir


@dataclass(frozen=True)
class NamedWeights:
    name: str
    method: str
    url: str
    filename: str
    description: str
    sha256: str | None = None  # None until someone has verified the published file
    arch: dict[str, Any] = field(default_factory=dict)


def _gdrive(file_id: str) -> str:
    # The usercontent endpoint with confirm=t skips Drive's "file too large to scan" page.
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


NAMED_WEIGHTS: dict[str, NamedWeights] = {
    w.name: w
    for w in [
        NamedWeights("rn101_all", "frtm", _gdrive("1GqaB80sznVkonprCdYhURwGwqiPRhP-v"), "rn101_all.pth",
                     "FRTM ResNet-101, YouTube-VOS + DAVIS (paper's DAVIS results)", arch={"backbone": "resnet101"}),
        NamedWeights("rn101_ytvos", "frtm", _gdrive("1KFg7ZjdJyhLE58WzEBlznOrDpKmQqviC"), "rn101_ytvos.pth",
                     "FRTM ResNet-101, YouTube-VOS (paper's YouTube-VOS results)", arch={"backbone": "resnet101"}),
        NamedWeights("rn101_dv", "frtm", _gdrive("1gRFn2NojH47BjURSws2XIyuTjzFkmuSV"), "rn101_dv.pth",
                     "FRTM ResNet-101, DAVIS only", arch={"backbone": "resnet101"}),
        NamedWeights("rn18_all", "frtm", _gdrive("1t21DG1ts-2NQXDVvuQjW9LY9VVkYuXU5"), "rn18_all.pth",
                     "FRTM ResNet-18 (run with fast=true), YouTube-VOS + DAVIS", arch={"backbone": "resnet18"}),
        NamedWeights("rn18_ytvos", "frtm", _gdrive("1anOEzUMxXR4ff2qaUJNojAABWuAmaGvw"), "rn18_ytvos.pth",
                     "FRTM ResNet-18 (run with fast=true), YouTube-VOS", arch={"backbone": "resnet18"}),
        NamedWeights("tvos_davis_train", "tvos", _gdrive("1N5lanFvdRf4CgjjZX4uQU1MMiRinANz9"), "tvos_davis_train.pth.tar",
                     "TVOS ResNet-50, DAVIS-2017 train (paper's DAVIS val results)", arch={"backbone": "resnet50"}),
        NamedWeights("tvos_davis_trainval", "tvos", _gdrive("1Zw7FOMXVcoOTczvLiyQ49ABEZRpIlfkR"),
                     "tvos_davis_trainval.pth.tar", "TVOS ResNet-50, DAVIS-2017 train+val (for test-dev)",
                     arch={"backbone": "resnet50"}),
        NamedWeights("tvos_youtube_train", "tvos", _gdrive("1U6sX9EUpOvDRFyaqDVpsi3plTnI2Witp"),
                     "tvos_youtube_train.pth.tar", "TVOS ResNet-50, YouTube-VOS train", arch={"backbone": "resnet50"}),
        NamedWeights("stm", "stm", "https://www.dropbox.com/s/mtfxdr93xc3q55i/STM_weights.pth?dl=1", "STM_weights.pth",
                     "STM (Oh et al.), the authors' released model (their DAVIS 2016/2017 evaluation)",
                     arch={"third_channel": "others"}),
    ]
}


def named_for_method(method: str) -> list[NamedWeights]:
    return [w for w in NAMED_WEIGHTS.values() if w.method == method]


def cached_path(entry: NamedWeights) -> Path:
    """Where ``entry`` lives in the cache (whether or not it was downloaded)."""
    return cache_dir() / entry.method / entry.filename


def demo_path(method: str) -> Path:
    """Where ``vostool weights build-demo METHOD`` writes its demo weights by default."""
    return cache_dir() / method / "demo.pt"


@dataclass(frozen=True)
class PackagedWeights:
    """Weights shipped inside the package (``vostool/weights/packaged/``), pinned by their sha256."""

    method: str
    filename: str
    sha256: str
    description: str


# `--weights demo` of the methods that ship demo weights. The file is written by
# `vostool weights build-demo tvos --out vostool/weights/packaged/tvos_demo.pt` (docs/benchmarks.md,
# "Demo weights"); its hash is checked at every load.
PACKAGED_DEMO: dict[str, PackagedWeights] = {
    "tvos": PackagedWeights(
        "tvos", "tvos_demo.pt", "c033c5854f8dfb64dec0101be1a86fd6e0186afee9f783cd852ab3093fabd6e5",
        "TVOS ResNet-18 trained from random weights on synthetic video (1000 steps), float16; for the "
        "bundled example and synthetic-looking video, not for real footage",
    ),
}


def packaged_path(entry: PackagedWeights) -> Path:
    return Path(__file__).resolve().parent / "packaged" / entry.filename
