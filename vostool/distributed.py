"""Many processes under ``torchrun``: the process group, this process's place in it, a few collectives.

``torchrun --nproc_per_node N [--nnodes M …] -m vostool …`` starts processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their environment; each joins
one torch.distributed process group (NCCL between GPUs, gloo on CPUs) and takes ``cuda:LOCAL_RANK``
where there is a GPU. Used by the trainer (vostool.training.distributed adds its collectives), by
``vostool segment`` over many videos (vostool.batch) and by ``vostool evaluate --method``.
"""

from __future__ import annotations

import datetime
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence, TypeVar

from vostool.errors import OptionError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


def _dist():
    # torch is imported on first use, so that modules which only ask `launched()` stay light to import.
    import torch.distributed

    return torch.distributed


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def share(self, items: Sequence[T]) -> list[T]:
        """This process's part of ``items``: every ``world``-th item from position ``rank``.

        Round robin rather than contiguous blocks, so that a list sorted by name (and often by
        length within a dataset) spreads long and short items over the processes alike.
        """
        return list(items[self.rank::self.world])


def launched() -> bool:
    """True when torchrun (or a launcher that sets the same variables) started several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> Processes:
    """This process's place in the process group already joined (one process when none is)."""
    dist = _dist()
    if not (dist.is_available() and dist.is_initialized()):
        return Processes()
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def setup(device_spec: str) -> tuple[Processes, torch.device]:
    """Join the process group when started by torchrun; returns this process's place and device."""
    import torch

    from vostool.devices import resolve_device

    dist = _dist()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes(), resolve_device(device_spec)
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    procs = Processes(rank, world, local_rank)
    if device_spec not in ("auto", "cpu", "cuda"):
        raise OptionError(f"--device {device_spec}: under torchrun use auto, cuda or cpu (each process takes cuda:LOCAL_RANK)")
    use_cuda = device_spec != "cpu" and torch.cuda.is_available()
    if device_spec == "cuda" and not use_cuda:
        raise OptionError("--device cuda: CUDA is not available on this machine")
    if use_cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        # Rank 0 may work alone while the others wait in a collective (validation, scoring): allow long waits.
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(hours=3))
    return procs, device


def teardown(procs: Processes) -> None:
    """Leave the process group, all processes together: gloo aborts a process ("terminate called
    without an active exception") whose peer tears the group down while it still talks to it."""
    if procs.distributed and _dist().is_initialized():
        _dist().barrier()
        _dist().destroy_process_group()


@contextmanager
def joined(device_spec: str) -> Iterator[tuple[Processes, torch.device]]:
    """:func:`setup` for the block; leaves the group afterwards unless the caller had joined it already."""
    owner = not (_dist().is_available() and _dist().is_initialized())
    procs, device = setup(device_spec)
    try:
        yield procs, device
    finally:
        if owner:
            teardown(procs)


def barrier(procs: Processes) -> None:
    if procs.distributed:
        _dist().barrier()


def gather(procs: Processes, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not procs.distributed:
        return [obj]
    out: list[Any] = [None] * procs.world
    _dist().all_gather_object(out, obj)
    return out


def broadcast(procs: Processes, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not procs.distributed:
        return obj
    box = [obj]
    _dist().broadcast_object_list(box, src=0)
    return box[0]
