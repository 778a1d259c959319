"""The run record (vostool-run.json): what a segment run did, with what, and how long it took."""

from __future__ import annotations

import datetime
import platform
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vostool import __version__
from vostool.devices import device_name
from vostool.io.video import VideoInfo
from vostool.methods.base import Method

RUN_FILE = "vostool-run.json"


def build_run_record(
    *,
    status: str,
    started_at: datetime.datetime,
    model: Method,
    video: str | Path,
    info: VideoInfo,
    mask_files: list[str],
    proc: tuple[int, int],
    device: torch.device,
    precision: str,
    size_note: str | None,
    out_path: Path | None,
    overlay_path: Path | None,
    palette_from_input: bool,
    exports: list[dict[str, Any]],
    object_ids: Sequence[int],
    frames: int,
    seconds: dict[str, float],
    warnings: list[str],
) -> dict[str, Any]:
    """The content of vostool-run.json; ``seconds`` (total, loop, model, first_frame) are rounded to 0.1 ms."""
    return {
        "vostool_version": __version__,
        "status": status,
        "started": started_at.isoformat(timespec="seconds"),
        "method": {
            "name": model.name,
            "options": _options_dict(model.options),
            "weights": model.weights_source,
            "weights_sha256": model.weights_sha256,
        },
        "input": {
            "video": str(video),
            "kind": info.kind,
            "width": info.width,
            "height": info.height,
            "fps": float(info.fps) if info.fps else None,
            "masks": mask_files,
        },
        "processing": {"height": proc[0], "width": proc[1], "device": device_name(device), "precision": precision,
                       "size_note": size_note},
        "output": {
            "dir": str(out_path) if out_path else None,
            "overlay": str(overlay_path) if overlay_path else None,
            "palette": "input" if palette_from_input else "davis",
            "exports": exports,  # issue 19 outputs
        },
        "object_ids": list(object_ids),
        "frames": frames,
        "seconds": {key: round(value, 4) for key, value in seconds.items()},
        "versions": _versions(),
        "warnings": warnings,
    }


def _versions() -> dict[str, str]:
    import av
    import PIL
    import torchvision

    versions = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
                "av": av.__version__, "numpy": np.__version__, "pillow": PIL.__version__}
    try:
        import cv2

        versions["opencv"] = cv2.__version__
    except ImportError:
        pass
    return versions


def _options_dict(options: Any) -> dict[str, Any]:
    from vostool.options import options_to_dict

    try:
        return options_to_dict(options)
    except TypeError:
        return {}
