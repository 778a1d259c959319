"""Many processes under ``torchrun``: process-group set-up and the few collectives the trainer needs.

``torchrun --nproc_per_node N -m vostool train …`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in their environment. Each process trains on its own part of every batch; gradients
are averaged by DistributedDataParallel (NCCL between GPUs, gloo on CPUs). Only rank 0 writes files.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

# The process group itself is shared with segment and evaluate; re-exported for the trainer.
from vostool.distributed import Processes, barrier, broadcast, gather, setup, teardown  # noqa: F401


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
