"""A folder of small tensor files for per-sample caches (FRTM's pre-learned target models).

Writes are atomic (several processes may fill one cache), reads never run code from a file, and a
damaged entry reads as missing, so it is simply computed and written again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch


class TensorCache:
    """``load(key)`` / ``save(key, tensors)`` of ``{name: tensor}`` dicts under ``root/key``."""

    def __init__(self, root: str | Path, read_only: bool = False) -> None:
        self.root = Path(root)
        self.read_only = read_only
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> dict[str, torch.Tensor] | None:
        path = self.path(key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            value = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # truncated or foreign file: recompute it
            self.misses += 1
            return None
        if not isinstance(value, dict) or not all(isinstance(v, torch.Tensor) for v in value.values()):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def save(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        if self.read_only:
            return
        from vostool.io.masks import atomic_save

        from vostool.errors import OutputError

        path = self.path(key)
        payload = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_save(path, lambda tmp: torch.save(payload, tmp))
        except (OSError, OutputError, RuntimeError) as exc:
            # A cache only saves time: a full disk or a read-only folder stops caching, not the run.
            logging.getLogger("vostool").warning(f"{exc}; continuing without writing to the cache {self.root}")
            self.read_only = True
