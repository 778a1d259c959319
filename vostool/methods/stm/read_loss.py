"""An auxiliary training loss on the STM memory read (not in any of the papers; off by default).

Trained from random weights, an STM-family memory read collapses: every query position attends to
one and the same memory position, the read becomes a constant and the network segments each frame
from its own features (docs/benchmarks.md, "The memory read collapses"). The decoder's
direct path from the query makes that collapse cheap, so nothing pushes the keys back to matching.

This loss supervises the read's attention itself, the way a label-propagation method (TVOS) learns
its affinity: the memory frames' ground-truth masks, pooled onto the key grid, are carried to the
query positions by the read's own softmax weights and compared with the query frame's pooled ground
truth. The network and its inference are unchanged (checkpoints stay the authors' layout); only the
recipe field ``read_loss`` (its weight) turns it on.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EPS = 1e-6


def grid_masks(masks: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Object masks pooled onto the key grid: masks (T, K, H, W) in [0, 1] -> (T, K, h*w), the share of
    each cell covered by each object (area average, any H/h ratio)."""
    return F.interpolate(masks.float(), size=grid, mode="area").flatten(2)


def read_attention(mem_keys: torch.Tensor, query_key: torch.Tensor) -> torch.Tensor:
    """The memory read's weights, as :func:`vostool.methods.stm.memory.memory_read` uses them.

    mem_keys: (K, M, Ck); query_key: (1 or K, N, Ck) -> (K, N, M), each row summing to 1.
    """
    logits = torch.matmul(query_key, mem_keys.transpose(1, 2)) / math.sqrt(mem_keys.shape[-1])
    return torch.softmax(logits.float(), dim=-1)


def propagation_loss(mem_keys: torch.Tensor, query_key: torch.Tensor, mem_masks: torch.Tensor,
                     query_masks: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy between the memory masks carried by the read and the query's masks.

    mem_keys: (K, M, Ck) keys of the memory (one set per object, as STM memorises per object);
    query_key: (1 or K, N, Ck); mem_masks: (K, M) each object's pooled mask on the memory positions,
    in the keys' order; query_masks: (K, N) on the query positions -> scalar.
    """
    carried = torch.bmm(read_attention(mem_keys, query_key), mem_masks.float().unsqueeze(-1)).squeeze(-1)
    carried = carried.clamp(EPS, 1 - EPS)
    return F.binary_cross_entropy(carried, query_masks.float())
