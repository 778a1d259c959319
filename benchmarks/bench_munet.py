"""MUNet on the CPU: time per frame at 480p (1 and 3 objects), the MU-Layer's share of it, and the
cost volume's implementation against an unfold-based one.

    python benchmarks/bench_munet.py --threads 1
    python benchmarks/bench_munet.py --size 480 --objects 1 3 --frames 8 --threads 2

Per configuration, ``stm`` and ``munet`` (untrained weights: the computation does not depend on the
weights' values) run the same frames back to back in one process, after a throw-away warm-up
session; seconds per frame are the median after the first frame (which only stores the masks).
The MU-Layer's time is measured inside the munet session by timing its calls (the 1x1 reduction
once per frame, cost volume, soft displacement, uncertainty, motion network, MSAM), so its share is
a ratio within one run. ``cost volume``: the batched-GEMM band correlation used by MUNet against an
elementwise product over an unfolded window (the straightforward loop-free alternative), same
inputs, median of 5.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stm import frames_and_mask  # noqa: E402

from vostool.loader import load_method  # noqa: E402
from vostool.methods.munet.mu_layer import cost_volume  # noqa: E402


class Stopwatch:
    """Wraps callables and sums the seconds spent in them."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
        return timed


def per_frame(method, images, mask, frames: int, watch: Stopwatch | None = None) -> tuple[float, float]:
    """Median seconds per frame after the first, and the median seconds inside ``watch`` per frame."""
    with torch.inference_mode():
        warm = method.new_session()
        for t in range(3):
            warm.step(images[t], mask if t == 0 else None)
        session = method.new_session()
        totals, inside = [], []
        for t in range(frames):
            before = watch.seconds if watch else 0.0
            start = time.perf_counter()
            session.step(images[t % len(images)], mask if t == 0 else None)
            totals.append(time.perf_counter() - start)
            inside.append((watch.seconds if watch else 0.0) - before)
    return statistics.median(totals[1:]), statistics.median(inside[1:])


def unfold_cost_volume(query: torch.Tensor, reference: torch.Tensor, radius: int) -> torch.Tensor:
    """The alternative: (B, C*(2r+1)^2, HW) unfold of the reference, elementwise product, channel sum."""
    b, c, h, w = query.shape
    k = 2 * radius + 1
    q = F.normalize(query, dim=1).reshape(b, c, 1, h * w)
    windows = F.unfold(F.normalize(reference, dim=1), k, padding=radius).reshape(b, c, k * k, h * w)
    return (q * windows).sum(1).reshape(b, k * k, h, w)


def cost_volume_ratio(size: int, repeats: int = 5) -> tuple[float, float, float]:
    height, width = -(-size // 16), -(-round(size * 854 / 480) // 16)
    g = torch.Generator().manual_seed(0)
    query, reference = torch.randn(1, 256, height, width, generator=g), torch.randn(1, 256, height, width, generator=g)
    times = {}
    with torch.inference_mode():
        for name, fn in (("gemm", cost_volume), ("unfold", unfold_cost_volume)):
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                out = fn(query, reference, 12) if name == "unfold" else fn(query, reference)
                runs.append(time.perf_counter() - start)
            times[name] = statistics.median(runs)
            times[name + "_out"] = out
    diff = (times["gemm_out"] - times["unfold_out"]).abs().max().item()
    return times["gemm"], times["unfold"], diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.size}p, {args.frames} frames")
    print("| objects | stm s/frame | munet s/frame | munet / stm | MU-Layer s/frame | MU-Layer share |")
    print("|---|---|---|---|---|---|")
    stm = load_method("stm", untrained=True)
    munet = load_method("munet", untrained=True)
    watch = Stopwatch()
    network = munet.network
    network.reduce = watch.wrap(network.reduce)  # the 1x1 reduction, once per frame
    network.enhance = watch.wrap(network.enhance)  # cost volume, displacement, uncertainty, motion net, MSAM
    for objects in args.objects:
        images, mask = frames_and_mask(args.size, objects)
        stm_s, _ = per_frame(stm, images, mask, args.frames)
        munet_s, mu_s = per_frame(munet, images, mask, args.frames, watch)
        print(f"| {objects} | {stm_s:.3f} | {munet_s:.3f} | {munet_s / stm_s:.2f} | {mu_s:.3f} | {mu_s / munet_s:.1%} |",
              flush=True)
    gemm, unfold, diff = cost_volume_ratio(args.size)
    print(f"\ncost volume at {args.size}p (256 ch, 25x25 window): GEMM bands {gemm:.4f} s, unfold {unfold:.4f} s "
          f"({unfold / gemm:.1f}x), max difference {diff:.1e}")


if __name__ == "__main__":
    main()
