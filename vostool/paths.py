"""Where vostool keeps files between runs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The weights cache: ``$VOSTOOL_CACHE`` or ``~/.cache/vostool`` (read at call time)."""
    root = os.environ.get("VOSTOOL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "vostool"
