"""``--weights demo``: the packaged demo weights, or those built with ``vostool weights build-demo``.

Nothing is trained when weights are resolved: a method that ships demo weights (see
:data:`~vostool.weights.table.PACKAGED_DEMO`) uses its packaged file, checked against its pinned
sha256; any other method uses the file ``vostool weights build-demo METHOD`` wrote into the cache.
"""

from __future__ import annotations

from pathlib import Path

from vostool.errors import WeightsError
from vostool.weights.download import sha256_file
from vostool.weights.table import PACKAGED_DEMO, demo_path, packaged_path


def packaged_demo(method: str) -> Path | None:
    """The packaged demo checkpoint of ``method`` after checking its sha256, or None if it ships none."""
    entry = PACKAGED_DEMO.get(method)
    if entry is None:
        return None
    path = packaged_path(entry)
    if not path.is_file():
        raise WeightsError(f"the packaged demo weights {path} are missing; reinstall vostool")
    digest = sha256_file(path)
    if digest != entry.sha256:
        raise WeightsError(f"the packaged demo weights {path} are damaged (sha256 {digest[:12]}…, expected "
                           f"{entry.sha256[:12]}…); reinstall vostool")
    return path


def demo_file(method: str) -> Path:
    """The file ``--weights demo`` means for ``method``: packaged, else built into the cache."""
    packaged = packaged_demo(method)
    if packaged is not None:
        return packaged
    built = demo_path(method)
    if built.is_file():
        return built
    raise WeightsError(f"{method} ships no demo weights and none were built; build them with "
                       f"`vostool weights build-demo {method}` (a fixed number of training steps on synthetic "
                       f"video), or pass --weights FILE")
