"""FRTM time per frame at 480p: first frame, frames between updates, update frames.

    python benchmarks/bench_frtm.py --backbone resnet101 --objects 1 3 --frames 40
    python benchmarks/bench_frtm.py --backbone resnet18 --fast --objects 1 3 --frames 40

Speed does not depend on the weights' values, except through how many pixels are confident: the
target model learns from a frame (memory insert) only when more than 10 pixels exceed 0.5, and an
untrained refiner outputs ~0.5 everywhere. So the untrained refiner still runs in full, but its
output is replaced by ``100 * (upsampled target score - 0.5)`` — what trained weights produce: a
sharp mask where the target model fires, different for each object. Every frame is then learned
from and every 8th re-optimises the target model, as in real use.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vostool.data.synthetic import make_clip
from vostool.loader import load_method


def follow_target_scores(method) -> None:
    """Make the untrained refiner's output follow the target scores (see the module docstring)."""
    refiner = method.network.refiner
    full_forward = refiner.forward

    def forward(scores, features, image_size):
        logits = full_forward(scores, features, image_size)  # the full computation is kept
        up = torch.nn.functional.interpolate(scores, size=image_size, mode="bilinear", align_corners=False)
        return logits * 0 + 100 * (up - 0.5)

    refiner.forward = forward


def run(backbone: str, fast: bool, objects: int, frames: int, size: int) -> dict:
    torch.manual_seed(0)
    width = round(size * 854 / 480)
    clip = make_clip(num_frames=frames, height=size, width=width, num_objects=objects, seed=20 + objects)
    method = load_method("frtm", {"backbone": backbone, "fast": fast}, untrained=True)
    images = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]
    mask = torch.from_numpy(clip.labels[0])
    follow_target_scores(method)
    # Warm-up on a throw-away session so one-off start-up costs are not counted.
    warm = method.new_session()
    with torch.inference_mode():
        warm.step(images[0], mask)
        warm.step(images[1])
    session = method.new_session()
    times = []
    with torch.inference_mode():
        for t, image in enumerate(images):
            start = time.perf_counter()
            session.step(image, mask if t == 0 else None)
            times.append(time.perf_counter() - start)
    interval = method.options.update_interval
    between = [s for t, s in enumerate(times[1:], start=1) if t % interval != 0]
    updates = [s for t, s in enumerate(times[1:], start=1) if t % interval == 0]
    inserted = min(session.objects[i].target.memory.size for i in session.object_ids)
    return {
        "first": times[0],
        "between_median": statistics.median(between),
        "update_median": statistics.median(updates) if updates else float("nan"),
        "mean_later": statistics.mean(times[1:]),
        "memory": inserted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet101", choices=["resnet101", "resnet18"])
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", type=int, default=480)
    args = parser.parse_args()
    name = f"{args.backbone}{' fast' if args.fast else ''}"
    print(f"FRTM {name}, {args.size}p, {args.frames} frames, {torch.get_num_threads()} threads")
    print("| variant | objects | first frame (s) | median between updates (s/frame) | median update frame (s) | mean later frames (s) | memory after |")
    print("|---|---|---|---|---|---|---|")
    for k in args.objects:
        r = run(args.backbone, args.fast, k, args.frames, args.size)
        print(f"| {name} | {k} | {r['first']:.2f} | {r['between_median']:.3f} | {r['update_median']:.3f} | "
              f"{r['mean_later']:.3f} | {r['memory']} |", flush=True)


if __name__ == "__main__":
    main()
