"""vostool: semi-supervised video object segmentation with faithful re-implementations of published methods.

The public API is small and imported lazily, so ``import vostool`` stays fast and does not import
torch::

    from vostool import segment_video, load_method, list_methods
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "segment_video", "load_method", "list_methods"]


def __getattr__(name: str) -> Any:
    if name == "segment_video":
        from vostool.engine import segment_video

        return segment_video
    if name == "load_method":
        from vostool.loader import load_method

        return load_method
    if name == "list_methods":
        from vostool.registry import method_names

        return method_names
    raise AttributeError(f"module 'vostool' has no attribute {name!r}")
