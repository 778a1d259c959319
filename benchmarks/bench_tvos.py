"""TVOS at 480p: vostool's session against a dense statement of the authors' code, side by side.

    python benchmarks/bench_tvos.py --objects 1 3 --frames 24
    python benchmarks/bench_tvos.py --objects 1 3 --steady-memory 60   # vostool alone, a full history

Both run in one process on the same frames, one frame of each in turn (so load on a shared machine
hits both alike), with the same weights (untrained ResNet-50: speed does not depend on their values,
except that very peaked affinities make the dense softmax slower; ``--feature-scale`` sharpens them).
The dense side is ``tests/tvos_dense.py``: the (9hw, hw) affinity, softmax over dim 0, prior matrices,
every frame's features concatenated, NCHW convolutions, as in the authors' inference.py.

Reported per frame with a full reference set (t >= 10): median wall time, median CPU time of the
process (less sensitive to other programs), the ratio vostool / dense, the memory each side needs
(its held history plus the peak RSS growth while it runs a frame), and whether the label maps agree.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tvos_dense import DenseTVOS  # noqa: E402

from vostool.data.synthetic import make_clip  # noqa: E402
from vostool.methods.tvos import TVOS  # noqa: E402

MB = 1 << 20


def rss_kib(field: str = "VmRSS") -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    """Reset the process's peak RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def timed(fn, *args):
    """(result, wall seconds, process CPU seconds, peak RSS growth in bytes during the call)."""
    before = rss_kib()
    reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return out, wall, cpu, max(0, rss_kib("VmHWM") - before) * 1024


class ScaledNetwork(torch.nn.Module):
    """The embedding times a constant (sharper affinities, as from a trained network)."""

    def __init__(self, network: torch.nn.Module, scale: float) -> None:
        super().__init__()
        self.network, self.scale = network, scale

    def forward(self, x):
        return self.network(x) * self.scale


def run(objects: int, frames: int, size: int, feature_scale: float, backbone: str) -> dict:
    width = round(size * 854 / 480)
    clip = make_clip(num_frames=frames, height=size, width=width, num_objects=objects, seed=30 + objects)
    images = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]
    first = torch.from_numpy(clip.labels[0])
    method = TVOS.build({"backbone": backbone})
    # The authors run NCHW convolutions; vostool's network is channels-last.
    dense_net = copy.deepcopy(method.network).to(memory_format=torch.contiguous_format)
    if feature_scale != 1:
        method.network = ScaledNetwork(method.network, feature_scale)
        dense_net = ScaledNetwork(dense_net, feature_scale)
    ours, dense = method.new_session(), DenseTVOS(dense_net)
    rows = []
    with torch.inference_mode():
        ours.step(images[0], first)
        dense.start(images[0], first.long())
        for t in range(1, frames):
            probs, o_wall, o_cpu, o_peak = timed(ours.step, images[t])
            labels, d_wall, d_cpu, d_peak = timed(dense.step, images[t])
            held_dense = dense.feats.numel() * 4 + dense.label_history.numel() * 4
            rows.append({"t": t, "ours_wall": o_wall, "ours_cpu": o_cpu, "dense_wall": d_wall, "dense_cpu": d_cpu,
                         "ours_mem": o_peak + ours.held_bytes(), "dense_mem": d_peak + held_dense,
                         "mismatch": (probs.argmax(0) != labels).float().mean().item()})
            print(f"  t={t:3d} vostool {o_wall:6.2f} s ({o_cpu:6.2f} cpu)   dense {d_wall:6.2f} s ({d_cpu:6.2f} cpu)   "
                  f"labels differ on {rows[-1]['mismatch']:.2e}", flush=True)
    full = [r for r in rows if r["t"] >= 10] or rows
    med = {k: statistics.median(r[k] for r in full) for k in ("ours_wall", "ours_cpu", "dense_wall", "dense_cpu")}
    return {
        "objects": objects, "frames": frames, "size": f"{size}x{width}", "threads": torch.get_num_threads(),
        **med,
        "ratio_wall": med["ours_wall"] / med["dense_wall"], "ratio_cpu": med["ours_cpu"] / med["dense_cpu"],
        "ours_mem_mb": max(r["ours_mem"] for r in rows) / MB, "dense_mem_mb": max(r["dense_mem"] for r in rows) / MB,
        "held_frames": len(ours.held_frames), "max_label_mismatch": max(r["mismatch"] for r in rows),
        "wall_spread": [min(r["ours_wall"] for r in full), max(r["ours_wall"] for r in full)],
        "peak_rss_mb": rss_kib("VmHWM") / 1024,
    }


def steady_memory(objects: int, frames: int, size: int, backbone: str) -> dict:
    """vostool alone over a long clip (the history window fills after 44 frames): peak RSS growth over
    the process after a warm-up, i.e. the history plus the largest transient of a frame."""
    width = round(size * 854 / 480)
    clip = make_clip(num_frames=frames, height=size, width=width, num_objects=objects, seed=30 + objects)
    method = TVOS.build({"backbone": backbone})
    images = (torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames)
    first = torch.from_numpy(clip.labels[0])
    with torch.inference_mode():
        # A throw-away session first: libraries paged in and oneDNN's kernels are one-off costs.
        warm = method.new_session()
        warm.step(torch.from_numpy(clip.frames[0]).permute(2, 0, 1).float() / 255, first)
        warm.step(torch.from_numpy(clip.frames[1]).permute(2, 0, 1).float() / 255)
        del warm
        session = method.new_session()
        baseline = rss_kib()
        reset_peak()
        for t, image in enumerate(images):
            session.step(image, first if t == 0 else None)
    return {"objects": objects, "frames": frames, "peak_growth_mb": (rss_kib("VmHWM") - baseline) / 1024,
            "held_mb": session.held_bytes() / MB, "held_frames": len(session.held_frames)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--frames", type=int, default=24, help="frames per clip (>= 11 for a full reference set)")
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet18", "resnet101"])
    parser.add_argument("--feature-scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--steady-memory", type=int, default=0, metavar="FRAMES",
                        help="instead: run vostool alone over FRAMES frames and report its peak memory")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steady_memory:
        for objects in args.objects:
            r = steady_memory(objects, args.steady_memory, args.size, args.backbone)
            print(f"{objects} object(s), {r['frames']} frames at {args.size}p: peak RSS growth {r['peak_growth_mb']:.0f} MB "
                  f"(history {r['held_mb']:.0f} MB, {r['held_frames']} frames)", flush=True)
        return
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    results = []
    for objects in args.objects:
        print(f"{objects} object(s), {args.frames} frames at {args.size}p, {torch.get_num_threads()} threads", flush=True)
        results.append(run(objects, args.frames, args.size, args.feature_scale, args.backbone))
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]
    print(f"\nload average before {' '.join(load_before)}, after {' '.join(load_after)} "
          f"(on {torch.get_num_threads()} threads)")
    print("| objects | vostool s/frame (cpu s) | dense s/frame (cpu s) | ratio wall (cpu) | vostool memory | "
          "dense memory | labels differ |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['objects']} | {r['ours_wall']:.2f} ({r['ours_cpu']:.2f}) | {r['dense_wall']:.2f} ({r['dense_cpu']:.2f}) "
              f"| {r['ratio_wall']:.2f} ({r['ratio_cpu']:.2f}) | {r['ours_mem_mb']:.0f} MB | {r['dense_mem_mb']:.0f} MB "
              f"| {r['max_label_mismatch']:.1e} |")
    if args.json:
        args.json.write_text(json.dumps({"load_before": load_before, "load_after": load_after, "results": results}, indent=2))


if __name__ == "__main__":
    main()
