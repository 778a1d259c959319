"""MUNet on the CPU: time per frame at 480p (1 and 3 objects), the MU-Layer's share of it, and the
cost volume's implementation against an unfold-based one.

    python benchmarks/bench_munet.py --threads 1
    python benchmarks/bench_munet.py --size 480 --objects 1 3 --frames 8 --threads 2

Per configuration, ``stm`` and ``munet`` (untrained weights: the computation does not depend on the
weights' values) run the same frames in one process, their sessions taking turns frame by frame
(after a throw-away warm-up session each), so changing load from other processes hits both alike;
seconds per frame are the median after the first frame (which only stores the masks).
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


def per_frame(methods: dict, images, mask, frames: int) -> dict[str, tuple[float, float]]:
    """``methods``: name -> (method, Stopwatch or None). The sessions advance in turn, frame by frame,
    so load from other processes hits all of them alike. Returns name -> (median seconds per frame
    after the first, median seconds inside the stopwatch per frame)."""
    with torch.inference_mode():
        sessions = {}
        for name, (method, _) in methods.items():
            warm = method.new_session()
            for t in range(3):
                warm.step(images[t], mask if t == 0 else None)
            sessions[name] = method.new_session()
        totals = {name: [] for name in methods}
        inside = {name: [] for name in methods}
        for t in range(frames):
            for name, (_, watch) in methods.items():
                before = watch.seconds if watch else 0.0
                start = time.perf_counter()
                sessions[name].step(images[t % len(images)], mask if t == 0 else None)
                totals[name].append(time.perf_counter() - start)
                inside[name].append((watch.seconds if watch else 0.0) - before)
    return {name: (statistics.median(totals[name][1:]), statistics.median(inside[name][1:])) for name in methods}


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
        times = per_frame({"stm": (stm, None), "munet": (munet, watch)}, images, mask, args.frames)
        (stm_s, _), (munet_s, mu_s) = times["stm"], times["munet"]
        print(f"| {objects} | {stm_s:.3f} | {munet_s:.3f} | {munet_s / stm_s:.2f} | {mu_s:.3f} | {mu_s / munet_s:.1%} |",
              flush=True)
    gemm, unfold, diff = cost_volume_ratio(args.size)
    print(f"\ncost volume at {args.size}p (256 ch, 25x25 window): GEMM bands {gemm:.4f} s, unfold {unfold:.4f} s "
          f"({unfold / gemm:.1f}x), max difference {diff:.1e}")


if __name__ == "__main__":
    main()
