"""STM and FlowVOS on the CPU: time per frame, and how time and memory grow along a long video.

    python benchmarks/bench_stm.py speed --frames 12
    python benchmarks/bench_stm.py growth --size 240 --frames 300 --caps none 20 --plot growth.png
    python benchmarks/bench_stm.py read --size 480 --objects 1 3

``speed``: median and mean seconds per frame after the first frame (which only stores its mask), for
``stm`` at 480p and ``flowvos`` at 240p (their default sizes; ``--configs`` to change), 1 and 3
objects, untrained weights (the computation does not depend on the weights' values). A throw-away
session warms up first. The memory holds frame 0, every 5th frame and the previous frame, so over
12 frames a read attends to 1-3 memory frames.

``growth``: one video of ``--frames`` frames per cap (``none`` = the authors' unlimited memory),
printing every ``--every`` frames: the time of that frame, the frames in memory, the bytes of the
keys and values read (and allocated) and the process's resident memory. ``--plot`` draws time and
memory per frame.

``read``: the only part of a frame whose cost grows with the video: the memory read (all objects)
with T memorised frames at a processing size, for the T a 300-frame video reaches (T = 2 … 61 with
the authors' schedule; a cap of 20 stops at 20). Random keys; seconds are the median of 3 reads.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from vostool.data.synthetic import make_clip
from vostool.loader import load_method

LOOP = 20  # distinct frames generated; longer videos cycle through them (content does not affect time)


def frames_and_mask(size: int, objects: int, count: int = LOOP):
    width = round(size * 854 / 480)
    clip = make_clip(num_frames=min(count, LOOP), height=size, width=width, num_objects=objects, seed=20 + objects)
    images = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]
    return images, torch.from_numpy(clip.labels[0])


def resident_mb() -> float:
    """Current resident memory of this process (MB), from /proc (Linux)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return float("nan")
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def speed(method_name: str, size: int, objects: int, frames: int) -> dict:
    method = load_method(method_name, untrained=True)
    images, mask = frames_and_mask(size, objects)
    with torch.inference_mode():
        warm = method.new_session()
        for t in range(3):
            warm.step(images[t], mask if t == 0 else None)
        session = method.new_session()
        times = []
        for t in range(frames):
            start = time.perf_counter()
            session.step(images[t % len(images)], mask if t == 0 else None)
            times.append(time.perf_counter() - start)
    later = times[1:]
    return {"median": statistics.median(later), "mean": statistics.mean(later)}


def growth(method_name: str, size: int, objects: int, frames: int, cap: int | None, every: int) -> list[dict]:
    method = load_method(method_name, {"max_memory_frames": cap}, untrained=True)
    images, mask = frames_and_mask(size, objects)
    rows = []
    with torch.inference_mode():
        session = method.new_session()
        for t in range(frames):
            start = time.perf_counter()
            session.step(images[t % len(images)], mask if t == 0 else None)
            elapsed = time.perf_counter() - start
            memory_frames = len(next(iter(session.memory_frames().values()), []))
            rows.append({"frame": t, "seconds": elapsed, "memory_frames": memory_frames,
                         "bank_mb": session.memory_used_bytes / 2**20, "allocated_mb": session.memory_bytes / 2**20, "rss_mb": resident_mb()})
            if t % every == 0 or t == frames - 1:
                r = rows[-1]
                print(f"| {'none' if cap is None else cap} | {t} | {r['memory_frames']} | {r['seconds']:.3f} | "
                      f"{r['bank_mb']:.1f} | {r['allocated_mb']:.1f} | {r['rss_mb']:.0f} |", flush=True)
    return rows


def read_cost(size: int, objects: int, memory_frames: int) -> tuple[float, float]:
    """Seconds of one memory read (median of 3) and MB of keys and values, T = ``memory_frames``."""
    from vostool.methods.stm.memory import MemoryBank

    height, width = size, round(size * 854 / 480)
    positions = -(-height // 16) * -(-width // 16)  # STM pads to a multiple of 16
    bank = MemoryBank(0, every=1)
    g = torch.Generator().manual_seed(0)
    for frame in range(memory_frames):
        bank.add(frame, torch.randn(objects, positions, 128, generator=g), torch.randn(objects, positions, 512, generator=g))
    query = torch.randn(1, positions, 128, generator=g)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            start = time.perf_counter()
            bank.read(query)
            times.append(time.perf_counter() - start)
    return statistics.median(times), bank.used_nbytes / 2**20


def plot(results: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 3.6))
    for cap, rows in results.items():
        label = "no cap (authors)" if cap is None else f"max_memory_frames={cap}"
        frames = [r["frame"] for r in rows[1:]]
        seconds = [r["seconds"] for r in rows[1:]]
        # a rolling median hides the spikes of a shared machine
        smooth = [statistics.median(seconds[max(0, i - 7):i + 8]) for i in range(len(seconds))]
        ax_t.plot(frames, smooth, label=label, lw=1.2)
        ax_m.plot(frames, [r["bank_mb"] for r in rows[1:]], label=label, lw=1.2)
    ax_t.set(xlabel="frame", ylabel="seconds", title="time per frame (rolling median of 15)")
    ax_m.set(xlabel="frame", ylabel="MB", title="memorised keys and values")
    for ax in (ax_t, ax_m):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_speed = sub.add_parser("speed")
    p_speed.add_argument("--configs", nargs="+", default=["stm:480", "flowvos:240"], help="method:size")
    p_speed.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    p_speed.add_argument("--frames", type=int, default=12)
    p_growth = sub.add_parser("growth")
    p_growth.add_argument("--method", default="stm")
    p_growth.add_argument("--size", type=int, default=480)
    p_growth.add_argument("--objects", type=int, default=1)
    p_growth.add_argument("--frames", type=int, default=300)
    p_growth.add_argument("--caps", nargs="+", default=["none", "20"])
    p_growth.add_argument("--every", type=int, default=25)
    p_growth.add_argument("--plot", type=Path)
    p_growth.add_argument("--save", type=Path, help="write the per-frame rows as JSON")
    p_read = sub.add_parser("read")
    p_read.add_argument("--size", type=int, default=480)
    p_read.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    p_read.add_argument("--memory-frames", type=int, nargs="+", default=[2, 11, 21, 31, 41, 51, 61])
    args = parser.parse_args()
    threads = torch.get_num_threads()
    if args.command == "speed":
        print(f"{args.frames} frames after a warm-up, {threads} torch threads, untrained weights")
        print("| method | size | objects | median (s/frame) | mean (s/frame) |")
        print("|---|---|---|---|---|")
        for config in args.configs:
            name, size = config.split(":")
            for k in args.objects:
                r = speed(name, int(size), k, args.frames)
                print(f"| {name} | {size}p | {k} | {r['median']:.3f} | {r['mean']:.3f} |", flush=True)
    elif args.command == "read":
        print(f"memory read at {args.size}p, {threads} torch threads")
        print("| objects | frames in memory | reached at frame | read (s) | keys+values (MB) |")
        print("|---|---|---|---|---|")
        for k in args.objects:
            for t in args.memory_frames:
                seconds, mb = read_cost(args.size, k, t)
                print(f"| {k} | {t} | {max(1, 5 * (t - 2) + 2)} | {seconds:.3f} | {mb:.0f} |", flush=True)
    else:
        caps = [None if c == "none" else int(c) for c in args.caps]
        print(f"{args.method} {args.size}p, {args.objects} object(s), {args.frames} frames, {threads} torch threads")
        print("| max_memory_frames | frame | frames in memory | time (s) | keys+values read (MB) | allocated (MB) | "
              "process resident (MB) |")
        print("|---|---|---|---|---|---|---|")
        results = {cap: growth(args.method, args.size, args.objects, args.frames, cap, args.every) for cap in caps}
        if args.save:
            import json

            args.save.write_text(json.dumps({str(cap): rows for cap, rows in results.items()}))
        if args.plot:
            plot(results, args.plot, f"{args.method} {args.size}p, {args.objects} object(s), {threads} CPU threads")


if __name__ == "__main__":
    main()
