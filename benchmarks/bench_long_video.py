"""Memory and time per frame along a long video, for every method (do they stay flat?).

    python benchmarks/bench_long_video.py                               # frames 10 100 1000 3000, all methods
    python benchmarks/bench_long_video.py --frames 10 100 300 --methods stm tvos
    python benchmarks/bench_long_video.py --set max_memory_frames=none --methods stm   # the authors' memory

One video of ``max(--frames)`` frames per method, each method in a fresh process (so that resident
memory is the method's own, and methods never alternate), untrained weights (time and memory do not
depend on the weights' values), ``--height`` x ``--width`` frames, ``--objects`` objects given on
frame 0. The frames are a synthetic clip of ``LOOP`` frames played forwards and backwards.

At every checkpoint N of ``--frames`` it reports, after N frames:

* ``state MB``: the bytes of the tensors the session holds (memory bank, history, target models,
  previous masks), each storage counted once, the network's weights excluded;
* ``memory frames``: frames the last memory read attended to (STM family), frames held (TVOS);
* ``RSS MB``: the process's resident memory;
* ``ms/frame``: the median step time of the ``--window`` frames before N (frame 0 excluded).

``--json`` writes all rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from bench_stm import resident_mb  # this folder is on sys.path when the script runs
from torch import nn

LOOP = 24
METHODS = ("rgmp", "frtm", "tvos", "stm", "flowvos", "munet")


def held_bytes(obj, seen_objects: set[int] | None = None, seen_storages: set[int] | None = None) -> int:
    """Bytes of the tensors reachable from ``obj``'s attributes, containers included, each storage once.

    Modules (the network) and the Method (weights, options) are not the video's state and are skipped.
    """
    from vostool.methods.base import Method

    seen_objects = set() if seen_objects is None else seen_objects
    seen_storages = set() if seen_storages is None else seen_storages
    if id(obj) in seen_objects or isinstance(obj, (nn.Module, Method)):
        return 0
    seen_objects.add(id(obj))
    if isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        if storage.data_ptr() in seen_storages:
            return 0
        seen_storages.add(storage.data_ptr())
        return storage.nbytes()
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, (list, tuple, set)):
        children = list(obj)
    elif type(obj).__module__.startswith("vostool") and hasattr(obj, "__dict__"):
        children = list(vars(obj).values())
    else:
        return 0
    return sum(held_bytes(child, seen_objects, seen_storages) for child in children)


def memory_frames(session) -> int | None:
    if hasattr(session, "memory_frames"):
        return max((len(v) for v in session.memory_frames().values()), default=0)
    if hasattr(session, "held_frames"):
        return len(session.held_frames)
    return None


def video(height: int, width: int, objects: int):
    from vostool.data.synthetic import make_clip

    clip = make_clip(num_frames=LOOP, height=height, width=width, num_objects=objects, seed=21)
    frames = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]
    return frames + frames[-2:0:-1], torch.from_numpy(clip.labels[0])


def run_one(method_name: str, checkpoints: list[int], args) -> list[dict]:
    """One method, one video; a row per checkpoint."""
    from vostool.loader import load_method
    from vostool.options import parse_assignments

    torch.set_num_threads(args.threads)
    options = parse_assignments(args.set) if args.set else None
    method = load_method(method_name, options, untrained=True)
    loop, mask = video(args.height, args.width, args.objects)
    rows, times = [], []
    rss_start = resident_mb()
    with torch.inference_mode():
        session = method.new_session()
        for t in range(max(checkpoints)):
            start = time.perf_counter()
            session.step(loop[t % len(loop)], mask if t == 0 else None)
            times.append(time.perf_counter() - start)
            if t + 1 in checkpoints:
                window = times[max(1, t + 1 - args.window):]
                rows.append({
                    "method": method_name, "frame": t + 1, "ms_per_frame": 1000 * statistics.median(window),
                    "state_mb": held_bytes(session) / 2**20, "memory_frames": memory_frames(session),
                    "rss_mb": resident_mb(), "rss_start_mb": rss_start,
                })
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--frames", nargs="+", type=int, default=[10, 100, 1000, 3000], help="checkpoints")
    parser.add_argument("--height", type=int, default=160)
    parser.add_argument("--width", type=int, default=288)
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--window", type=int, default=9, help="frames per ms/frame median")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="method options (all methods)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # run one method in this process
    args = parser.parse_args(argv)
    checkpoints = sorted(set(args.frames))
    if min(checkpoints) < 2:
        parser.error("--frames: every checkpoint must be at least 2")
    if args.json and not args.json.parent.is_dir():
        parser.error(f"--json: folder {args.json.parent} does not exist")
    if args.child:
        print(json.dumps(run_one(args.child, checkpoints, args)))
        return 0
    rows = []
    print("| method | frame | ms/frame | state (MB) | memory frames | RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for name in args.methods:
        # A fresh process per method: its RSS is the method's own, and nothing runs alongside it.
        argv_child = [sys.executable, __file__, "--child", name, *[a for a in (argv or sys.argv[1:])]]
        done = subprocess.run(argv_child, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            print(f"| {name} | failed (exit {done.returncode}) | | | | |", flush=True)
            continue
        for r in json.loads(done.stdout.strip().splitlines()[-1]):
            rows.append(r)
            frames = "" if r["memory_frames"] is None else r["memory_frames"]
            print(f"| {name} | {r['frame']} | {r['ms_per_frame']:.0f} | {r['state_mb']:.1f} | {frames} | "
                  f"{r['rss_mb']:.0f} |", flush=True)
    if args.json:
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(rows, indent=1))
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
