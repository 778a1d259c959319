"""``vostool evaluate --method`` under torchrun: each process segments its share of the sequences.

Every process checks the inputs and outputs, then they meet at a barrier (so no process writes while
another still checks that the output folder is empty), each segments every ``world``-th sequence
from its rank on its own device, and the runs of all are gathered (the collective is the barrier
after the last sequence). Rank 0 then zips and scores the whole set, exactly as one process would.
A process that fails tells the others in the same collective, so none waits for it forever.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from vostool.distributed import barrier, current, gather
from vostool.errors import VostoolError

T = TypeVar("T")


class ProcessFailed(VostoolError):
    """Another torchrun process failed while segmenting its share."""


def segment_shared(items: Sequence[T], segment: Callable[[list[T]], list[dict]]) -> list[dict]:
    """``segment`` this process's share of ``items`` (one run each); all processes' runs, in the order of ``items``."""
    procs = current()
    if not procs.distributed:
        return segment(list(items))
    barrier(procs)
    runs: list[dict] = []
    error: BaseException | None = None
    try:
        runs = segment(procs.share(items))
    except Exception as exc:  # told to the others below, then raised here
        error = exc
    parts = gather(procs, (runs, f"{type(error).__name__}: {error}" if error is not None else None))
    if error is not None:
        raise error
    for rank, (_, message) in enumerate(parts):
        if message is not None:
            raise ProcessFailed(f"process {rank} failed: {message}")
    # back in the order of ``items``: rank r's k-th run is item r + k * world (Processes.share)
    ordered: list[tuple[int, dict]] = [(rank + k * procs.world, run) for rank, (part, _) in enumerate(parts)
                                       for k, run in enumerate(part)]
    return [run for _, run in sorted(ordered, key=lambda pair: pair[0])]
