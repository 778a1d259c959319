"""How an STM-family network uses its memory: the attention of frame 1's query on frame 0's memory.

Used by ``bench_train_proof.py`` to report, next to a proof's J&F, whether a short training taught the
memory read to match (attention spread over, and peaked on, different memory positions for different
query positions) or collapsed onto one "hub" position that every query reads (the read is then a
constant and the network segments each frame from its own features alone).

    python benchmarks/memory_attention.py munet RUN/last.pt --size 96,176
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vostool.data.sources import Video  # noqa: E402
from vostool.methods.stm.memory import to_pixels_last  # noqa: E402
from vostool.methods.stm.network import pad_to_multiple  # noqa: E402


def _frames(video: Video, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first two frames (2, 3, H, W) in [0, 1] and labels (2, H, W) at ``size``, padded to 16."""
    from vostool.training.validate import _load

    frames, labels = _load(video, size)
    x = torch.from_numpy(frames[:2]).permute(0, 3, 1, 2).float() / 255
    x, _ = pad_to_multiple(x, 16)
    y, _ = pad_to_multiple(torch.from_numpy(labels[:2].astype(np.int64)), 16)
    return x, y


@torch.inference_mode()
def memory_attention(network: torch.nn.Module, videos: list[Video], size: tuple[int, int]) -> dict[str, float]:
    """Mean over videos of: the largest attention weight per query position (1/M = uniform, 1 = one
    position), the share of distinct attended positions (argmax) among the query positions, and the
    share of object queries whose argmax lands on the same object in frame 0 (0 when they read the
    background). ``network``: an :class:`STMNetwork` (or MUNet's, whose query key goes through MSAM)."""
    network.eval()
    peak, distinct, correct = [], [], []
    for video in videos:
        x, labels = _frames(video, size)
        norm = network.normalize(x)
        ids = torch.arange(1, int(labels[0].max()) + 1).view(-1, 1, 1)
        mem_keys, _ = network.memorize(norm[:1], (labels[0] == ids).float())
        r4, r3, r2 = network.encode_query_backbone(norm[1:2])
        if getattr(network, "motion", False):  # MUNet: MSAM from frame 0 -> frame 1's motion
            both = network.encode_query_backbone(norm)[0]
            reduced = network.reduce(both)
            r4 = network.enhance(r4, reduced[1:2], reduced[:1])
        query = network.query_features(r4, r3, r2).key  # (1, N, Ck)
        logits = query @ mem_keys[:1].transpose(1, 2) / math.sqrt(query.shape[-1])  # (1, N, M)
        attention = logits.softmax(-1)[0]
        peak.append(float(attention.amax(-1).mean()))
        target = attention.argmax(-1)
        distinct.append(len(target.unique()) / target.numel())
        h, w = r4.shape[-2:]
        cells = torch.nn.functional.interpolate(labels[:, None].float(), size=(h, w), mode="nearest").flatten(1).long()
        on_object = cells[1] > 0
        if on_object.any():
            correct.append(float((cells[0][target][on_object] == cells[1][on_object]).float().mean()))
    return {"peak attention": round(float(np.mean(peak)), 3), "distinct targets": round(float(np.mean(distinct)), 3),
            "object queries on their object": round(float(np.mean(correct)) if correct else float("nan"), 3),
            "memory positions": int(mem_keys.shape[1])}


def main() -> None:
    from vostool.data.sources import open_source
    from vostool.loader import load_method
    from vostool.training.validate import held_out_videos

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("method")
    parser.add_argument("weights")
    parser.add_argument("--size", default="96,176")
    parser.add_argument("--videos", type=int, default=10)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split(","))
    videos = held_out_videos([open_source(f"synthetic:videos={args.videos},seed=1", "val", size)])
    print(memory_attention(load_method(args.method, {}, weights=args.weights).network, videos, size))


if __name__ == "__main__":
    main()
