"""Scoring speed of `vostool evaluate` on a DAVIS-sized set, optionally against the official code.

    python benchmarks/bench_eval.py [--data DIR] [--sequences 30] [--frames 70] [--workers N] [--repeat 3]
                                    [--official PATH/TO/davis2017-evaluation [--official-python PY]]

Generates (once; kept in ``--data``, default a temporary folder) a DAVIS-layout set of 480x854
sequences with 1-4 objects each: ground truth of moving, deforming, occluding blobs of DAVIS-like
sizes (about 1-25% of the frame), and "results" made from it the way a method errs (shifted and
eroded/dilated masks, spurious blobs, missed frames, swapped ids). Then it scores the set with
vostool (semi-supervised protocol, all CPUs unless ``--workers``) ``--repeat`` times and prints
frames/s: scoring only (the comparable number: the official code writes only the CSVs) and with the
per-sequence plots. With ``--official`` it also runs that checkout's ``evaluation_method.py`` on the
same data (wall and CPU time), prints the speed ratio, and checks that both CSVs are byte-identical.
A scored frame = one ground-truth frame with all its objects (the first and last are not scored).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vostool.evaluation import Protocol, evaluate_results  # noqa: E402
from vostool.io.masks import davis_palette  # noqa: E402

HEIGHT, WIDTH = 480, 854


def _draw_objects(rng: np.random.Generator, frames: int, objects: int) -> np.ndarray:
    """(T, H, W) uint8 ground truth: each object a union of 1-3 ellipses that move, turn and breathe."""
    specs = []
    for _ in range(objects):
        radius = rng.uniform(30, 150)
        parts = [(rng.uniform(-0.6, 0.6, 2) * radius, radius * rng.uniform(0.5, 1.0, 2), rng.uniform(0, 180))
                 for _ in range(rng.integers(1, 4))]
        specs.append({"centre": rng.uniform([0.15 * WIDTH, 0.15 * HEIGHT], [0.85 * WIDTH, 0.85 * HEIGHT]),
                      "velocity": rng.uniform(-4, 4, 2), "spin": rng.uniform(-2, 2), "parts": parts,
                      "breathe": rng.uniform(0.0, 0.2), "phase": rng.uniform(0, 6.3)})
    labels = np.zeros((frames, HEIGHT, WIDTH), np.uint8)
    for t in range(frames):
        canvas = labels[t]
        for k, spec in enumerate(specs):  # later objects occlude earlier ones
            centre = spec["centre"] + spec["velocity"] * t
            centre = np.clip(centre, [-50, -50], [WIDTH + 50, HEIGHT + 50])
            scale = 1 + spec["breathe"] * np.sin(0.15 * t + spec["phase"])
            for offset, axes, angle in spec["parts"]:
                cx, cy = centre + offset * scale
                cv2.ellipse(canvas, (int(cx), int(cy)), (int(axes[0] * scale), int(axes[1] * scale)),
                            angle + spec["spin"] * t, 0, 360, k + 1, -1)
    return labels


def _predict(rng: np.random.Generator, gt: np.ndarray, objects: int) -> np.ndarray:
    """Results that err like a method: offsets, eroded/dilated masks, blobs, misses, id swaps."""
    out = np.zeros_like(gt)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    for t in range(gt.shape[0]):
        frame = np.zeros(gt.shape[1:], np.uint8)
        for k in range(1, objects + 1):
            mask = (gt[t] == k).astype(np.uint8)
            if rng.random() < 0.05:
                continue  # missed on this frame
            shift = np.float32([[1, 0, rng.normal(0, 3)], [0, 1, rng.normal(0, 3)]])
            mask = cv2.warpAffine(mask, shift, (WIDTH, HEIGHT), flags=cv2.INTER_NEAREST)
            mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
            if rng.random() < 0.2:
                cx, cy = int(rng.uniform(0, WIDTH)), int(rng.uniform(0, HEIGHT))
                cv2.circle(mask, (cx, cy), int(rng.uniform(5, 30)), 1, -1)
            label = k if rng.random() > 0.03 or objects == 1 else int(rng.integers(1, objects + 1))
            frame[mask > 0] = label
        out[t] = frame
    return out


def _save(path: Path, labels: np.ndarray) -> None:
    image = Image.fromarray(labels, mode="P")
    image.putpalette(davis_palette().ravel().tolist())
    image.save(path)


def make_dataset(root: Path, sequences: int, frames: int, seed: int = 0) -> int:
    """Write the set (unless ``root`` already holds it); returns the number of objects."""
    marker = root / "ImageSets" / "2017" / "val.txt"
    if marker.is_file() and len(marker.read_text().split()) == sequences:
        return sum(int(np.max(np.array(Image.open(p)))) for p in sorted((root / "Annotations/480p").glob("*/00000.png")))
    rng = np.random.default_rng(seed)
    jpeg = cv2.imencode(".jpg", np.full((HEIGHT, WIDTH, 3), 128, np.uint8))[1].tobytes()  # only counted
    names, total = [], 0
    for s in range(sequences):
        name = f"bench{s:03d}"
        objects = int(rng.integers(1, 5))
        gt = _draw_objects(rng, frames, objects)
        while int(gt[0].max()) < objects:  # every object must be in the first frame
            gt = _draw_objects(rng, frames, objects)
        pred = _predict(rng, gt, objects)
        for sub, data in (("Annotations/480p", gt), ("results/bench", pred)):
            folder = root / sub / name
            folder.mkdir(parents=True, exist_ok=True)
            for t in range(frames):
                _save(folder / f"{t:05d}.png", data[t])
        images = root / "JPEGImages/480p" / name
        images.mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            (images / f"{t:05d}.jpg").write_bytes(jpeg)
        names.append(name)
        total += objects
        print(f"\rgenerated {s + 1}/{sequences} sequences", end="", flush=True)
    print()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("\n".join(names) + "\n")
    return total


def time_vostool(root: Path, workers: int | None, plots: bool, report: Path) -> tuple[float, float]:
    """Wall time of the whole call, and CPU time: this process plus the scoring of every sequence
    (worker start-up and plotting CPU are not counted; the wall time includes them)."""
    cpu = time.process_time()
    started = time.perf_counter()
    evaluation = evaluate_results(root / "results/bench", root, Protocol(), report=report, overwrite=True,
                                  workers=workers, plots=plots)
    wall = time.perf_counter() - started
    return wall, time.process_time() - cpu + sum(s.cpu_seconds for s in evaluation.sequences)


def time_official(root: Path, checkout: Path, python: str) -> tuple[float, float, Path]:
    results = root / "results/official-run"
    if results.exists():
        shutil.rmtree(results)
    shutil.copytree(root / "results/bench", results)  # it writes its CSVs into the results folder
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([python, str(checkout / "evaluation_method.py"), "--task", "semi-supervised", "--set", "val",
                    "--davis_path", str(root), "--results_path", str(results)], check=True, cwd=checkout,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="keep the generated set here (reused when present)")
    parser.add_argument("--sequences", type=int, default=30)
    parser.add_argument("--frames", type=int, default=70)
    parser.add_argument("--workers", type=int, help="scoring processes (default: all CPUs)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--official", type=Path, help="a davis2017-evaluation checkout (with pandas, scikit-image)")
    parser.add_argument("--official-python", default=sys.executable)
    args = parser.parse_args()
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory(prefix="vostool-bench-eval-")
        args.data = Path(tmp.name)
    root = args.data
    objects = make_dataset(root, args.sequences, args.frames)
    scored = args.sequences * (args.frames - 2)
    workers = args.workers or len(os.sched_getaffinity(0))
    print(f"{args.sequences} sequences x {args.frames} frames at {WIDTH}x{HEIGHT}, {objects} objects, "
          f"{scored} scored frames; vostool with {workers} worker process(es), {os.cpu_count()} CPUs visible")
    report = root / "reports" / "vostool"
    runs = {"scoring": [], "with plots": []}
    for _ in range(args.repeat):
        runs["scoring"].append(time_vostool(root, args.workers, False, report))
        runs["with plots"].append(time_vostool(root, args.workers, True, report))
    for name, values in runs.items():
        walls = [w for w, _ in values]
        best = min(walls)
        print(f"vostool {name:10s}: wall {best:6.2f} s best, {statistics.median(walls):6.2f} s median of {len(walls)} "
              f"-> {scored / best:7.0f} frames/s; CPU {min(c for _, c in values):.2f} s")
    if args.official is not None:
        wall, cpu, results = time_official(root, args.official, args.official_python)
        best = min(w for w, _ in runs["scoring"])
        print(f"official          : wall {wall:6.2f} s -> {scored / wall:7.1f} frames/s; CPU {cpu:.2f} s")
        print(f"speed-up (wall, scoring only): {wall / best:.1f}x")
        time_vostool(root, args.workers, False, report)
        for name in ("global_results-val.csv", "per-sequence_results-val.csv"):
            same = filecmp.cmp(results / name, report / name, shallow=False)
            print(f"{name}: {'byte-identical' if same else 'DIFFERENT'} to the official file")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
