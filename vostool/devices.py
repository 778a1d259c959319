"""Device and precision choices: ``--device auto|cpu|cuda[:N]``, ``--precision fp32|bf16|fp16``."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from vostool.errors import OptionError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``auto`` picks the first CUDA device when there is one, else the CPU."""
    text = str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise OptionError(f"--device {spec}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise OptionError(f"--device {spec}: CUDA is not available on this machine; use --device cpu")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise OptionError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise OptionError(f"--device {spec}: only cpu and cuda devices are supported")
    return device


def check_precision(precision: str, device: torch.device | None = None) -> str:
    if precision not in PRECISIONS:
        raise OptionError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device is not None and device.type == "cpu":
        raise OptionError("--precision fp16 is only supported on CUDA; use bf16 or fp32 on the CPU")
    return precision


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Autocast for bf16/fp16; a no-op for fp32. Code that must stay fp32 disables it locally."""
    if precision == "fp32":
        yield
        return
    check_precision(precision, device)
    dtype = PRECISIONS[precision]
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def device_name(device: torch.device) -> str:
    """A human-readable name, e.g. 'NVIDIA H200' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
