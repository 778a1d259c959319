"""STM and FlowVOS on the CPU: time per frame, and how time and memory grow along a long video.

    python benchmarks/bench_stm.py speed --frames 12
    python benchmarks/bench_stm.py growth --size 240 --frames 300 --caps none 20 --plot growth.png

``speed``: median and mean seconds per frame after the first frame (which only stores its mask), for
``stm`` at 480p and ``flowvos`` at 240p (their default sizes; ``--configs`` to change), 1 and 3
objects, untrained weights (the computation does not depend on the weights' values). A throw-away
session warms up first. The memory holds frame 0, every 5th frame and the previous frame, so over
12 frames a read attends to 1-3 memory frames.

``growth``: one video of ``--frames`` frames per cap (``none`` = the authors' unlimited memory),
printing every ``--every`` frames: the time of that frame, the frames in memory, the bytes of the
keys and values read (and allocated) and the process's resident memory. ``--plot`` draws time and
memory per frame.
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


def plot(results: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 3.6))
    for cap, rows in results.items():
        label = "no cap (authors)" if cap is None else f"max_memory_frames={cap}"
        frames = [r["frame"] for r in rows[1:]]
        ax_t.plot(frames, [r["seconds"] for r in rows[1:]], label=label, lw=1)
        ax_m.plot(frames, [r["bank_mb"] for r in rows[1:]], label=label, lw=1)
    ax_t.set(xlabel="frame", ylabel="seconds", title="time per frame")
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
    else:
        caps = [None if c == "none" else int(c) for c in args.caps]
        print(f"{args.method} {args.size}p, {args.objects} object(s), {args.frames} frames, {threads} torch threads")
        print("| max_memory_frames | frame | frames in memory | time (s) | keys+values read (MB) | allocated (MB) | "
              "process resident (MB) |")
        print("|---|---|---|---|---|---|---|")
        results = {cap: growth(args.method, args.size, args.objects, args.frames, cap, args.every) for cap in caps}
        if args.plot:
            plot(results, args.plot, f"{args.method} {args.size}p, {args.objects} object(s), {threads} CPU threads")


if __name__ == "__main__":
    main()
