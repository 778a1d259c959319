"""Many processes under ``torchrun``: process-group set-up and the few collectives the trainer needs.

``torchrun --nproc_per_node N -m vostool train …`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in their environment. Each process trains on its own part of every batch; gradients
are averaged by DistributedDataParallel (NCCL between GPUs, gloo on CPUs). Only rank 0 writes files.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from vostool.devices import resolve_device
from vostool.errors import OptionError


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


def setup(device_spec: str) -> tuple[Processes, torch.device]:
    """Join the process group when started by torchrun; returns this process's place and device."""
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
        # Rank 0 validates while the others wait in a collective: allow long validations.
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(hours=3))
    return procs, device


def teardown(procs: Processes) -> None:
    if procs.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(procs: Processes) -> None:
    if procs.distributed:
        dist.barrier()


def gather(procs: Processes, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not procs.distributed:
        return [obj]
    out: list[Any] = [None] * procs.world
    dist.all_gather_object(out, obj)
    return out


def any_rank(procs: Processes, flag: bool, device: torch.device) -> bool:
    """True on all ranks when ``flag`` is true on any (so all ranks stop at the same step)."""
    if not procs.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_metrics(procs: Processes, metrics: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average logged scalars over ranks (same keys on every rank)."""
    if not procs.distributed or not metrics:
        return metrics
    keys = sorted(metrics)
    t = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / procs.world for k, v in zip(keys, t.tolist())}


def broadcast(procs: Processes, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not procs.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
