"""RGMP time per frame at 480p: vostool's batched session against the authors' per-stream procedure.

    python benchmarks/bench_rgmp.py                       # 3 scales and 1 scale, 1 and 3 objects
    python benchmarks/bench_rgmp.py --scales 1.0 --objects 3 --frames 5

Both run in this process on the same (untrained) weights, frame by frame in alternation so that
load from other programs hits both alike. "authors" is vostool.methods.rgmp.reference: run.py's
procedure (every stream and scale on its own, the full decoder, resizes per stream) on the network in
PyTorch's default memory layout, under ``torch.inference_mode``. ``--authors-grad`` runs it with
autograd on, as the authors' code does on PyTorch >= 0.4 (``Variable(volatile=True)`` no longer
disables it). Speed does not depend on the weights' values.

The work per frame does not depend on the frame's content, so the best of the timed frames is the
estimate least disturbed by other programs (the median is printed too). Wall time is what counts on
a quiet machine; the ratio of process CPU times (user + system) is printed beside it because it is
less disturbed on a shared one.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch

from vostool.data.synthetic import make_clip
from vostool.loader import load_method
from vostool.methods.rgmp.reference import AuthorsProcedure


def _timed(fn):
    t0, c0 = time.perf_counter(), os.times()
    out = fn()
    c1 = os.times()
    return out, time.perf_counter() - t0, (c1.user - c0.user) + (c1.system - c0.system)


def run(scales: tuple[float, ...], objects: int, frames: int, height: int, width: int, authors_grad: bool,
        max_batch: int = 0) -> dict:
    clip = make_clip(num_frames=frames + 2, height=height, width=width, num_objects=objects, seed=30 + objects)
    images = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]
    labels = torch.from_numpy(clip.labels[0])
    ids = tuple(int(i) for i in labels.unique().tolist() if i)
    method = load_method("rgmp", {"scales": ",".join(map(str, scales)), "max_batch": str(max_batch)}, untrained=True)
    plain = copy.deepcopy(method.network).to(memory_format=torch.contiguous_format)
    authors = AuthorsProcedure(plain, scales)
    session = method.new_session()
    grad = torch.enable_grad if authors_grad else torch.inference_mode
    with torch.inference_mode():
        session.step(images[0], labels)
        session.step(images[1])  # warm-up
    with grad():
        authors.start(images[0], labels, ids)
        authors.step(images[1])
    ours_wall, ours_cpu, theirs_wall, theirs_cpu, diffs = [], [], [], [], []
    for image in images[2:]:
        with torch.inference_mode():
            a, wall, cpu = _timed(lambda: session.step(image))
        ours_wall.append(wall)
        ours_cpu.append(cpu)
        with grad():
            b, wall, cpu = _timed(lambda: authors.step(image))
        theirs_wall.append(wall)
        theirs_cpu.append(cpu)
        diffs.append(float((a - b.detach()).abs().max()))
    return {
        "ours": min(ours_wall), "authors": min(theirs_wall),
        "ours_median": statistics.median(ours_wall), "authors_median": statistics.median(theirs_wall),
        "ours_cpu": min(ours_cpu), "authors_cpu": min(theirs_cpu),
        "max_diff": max(diffs), "objects": len(ids),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["0.5,0.75,1.0", "1.0"], help="scale sets, comma-separated")
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--frames", type=int, default=4, help="timed frames per configuration (after one warm-up)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--max-batch", type=int, default=0, help="vostool's max_batch option (0 = automatic)")
    parser.add_argument("--authors-grad", action="store_true", help="run the authors' procedure with autograd on")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"RGMP {args.height}x{args.width}, {args.frames} frames, {torch.get_num_threads()} threads, "
          f"authors {'with autograd' if args.authors_grad else 'under inference_mode'}; load average {load:.2f} "
          f"on {os.cpu_count()} CPUs")
    print("| scales | objects | authors (s/frame, best / median) | vostool (s/frame, best / median) | ratio | "
          "CPU-time ratio | max prob diff |")
    print("|---|---|---|---|---|---|---|")
    for scale_text in args.scales:
        scales = tuple(float(s) for s in scale_text.split(","))
        for k in args.objects:
            r = run(scales, k, args.frames, args.height, args.width, args.authors_grad, args.max_batch)
            print(f"| {scale_text} | {r['objects']} | {r['authors']:.2f} / {r['authors_median']:.2f} | "
                  f"{r['ours']:.2f} / {r['ours_median']:.2f} | {r['ours'] / r['authors']:.2f} | "
                  f"{r['ours_cpu'] / r['authors_cpu']:.2f} | {r['max_diff']:.1e} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
