"""`vostool evaluate` against the official DAVIS code and against the PNG-decoding floor, in one run.

    python benchmarks/bench_eval.py [--data DIR] [--sequences 24] [--frames 60] [--repeat 2]
                                    [--official PATH/TO/davis2017-evaluation [--official-python PY]]

Writes (once; kept in ``--data``, default a temporary folder) a DAVIS-layout set of 854x480
sequences with realistic masks (benchmarks/eval_data.py): the real annotations of ../shared/samples
moved over the frames, then generated objects with ragged outlines, holes, detached parts and thin
structures; the results err like methods do. Then, ``--repeat`` rounds, each in this order:

* official: ``evaluation_method.py`` of the checkout (semi-supervised, val), in its own process;
* vostool: ``python -m vostool evaluate`` with the defaults (workers from the load, plots), and
  with ``--no-plots``, each in its own process;
* floor: decoding the two PNGs of every scored frame, in this process, with vostool's reader (and
  with the standard library's zlib, as any PNG reader inflates);
* scoring: every sequence scored in this process (decoding included), no plots.

Wall time, and CPU time of the process and all its descendants (this process becomes their
subreaper, so the workers' and the forkserver's CPU is counted too). The load average is printed
with every run: on a busy machine prefer the CPU ratios. The official and vostool CSVs are
compared byte for byte.
"""

from __future__ import annotations

import argparse
import ctypes
import filecmp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_data  # noqa: E402
from vostool.errors import DatasetError  # noqa: E402
from vostool.evaluation import Protocol  # noqa: E402
from vostool.evaluation import pngread  # noqa: E402
from vostool.evaluation.protocol import build_jobs  # noqa: E402
from vostool.evaluation.scoring import read_labels, score_sequence  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def make_dataset(root: Path, sequences: int, frames: int, seed: int = 0) -> tuple[int, int]:
    """Write the set unless ``root`` holds it; returns (objects, sequences made from real masks)."""
    marker = root / "ImageSets" / "2017" / "val.txt"
    real = eval_data.real_shapes()
    rng = np.random.default_rng(seed)
    if not (marker.is_file() and len(marker.read_text().split()) == sequences):
        names = []
        for s in range(sequences):
            shapes = real[s] if s < len(real) else None
            objects = len(shapes) if shapes else int(rng.integers(1, 5))
            gt = eval_data.ground_truth(rng, frames, shapes, objects)
            while shapes is None and int(gt[0].max()) < objects:  # every object must be in the first frame
                gt = eval_data.ground_truth(rng, frames, shapes, objects)
            pred = eval_data.predictions(rng, gt, objects)
            name = f"{'real' if shapes else 'gen'}{s:03d}"
            for sub, data in (("Annotations/480p", gt), ("results/bench", pred)):
                folder = root / sub / name
                folder.mkdir(parents=True, exist_ok=True)
                for t in range(frames):
                    eval_data.save_labels(folder / f"{t:05d}.png", data[t])
            images = root / "JPEGImages/480p" / name
            images.mkdir(parents=True, exist_ok=True)
            for t in range(frames):
                (images / f"{t:05d}.jpg").write_bytes(b"")  # only counted, never read
            names.append(name)
            print(f"\rgenerated {s + 1}/{sequences} sequences", end="", flush=True)
        print()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("\n".join(names) + "\n")
    jobs = build_jobs(root, Protocol(), root / "results/bench")
    objects = sum(int(read_labels(job.gt_files[0], DatasetError, "annotation").max()) for job in jobs)
    return objects, sum(1 for job in jobs if job.name.startswith("real"))


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def run_timed(command: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of ``command`` and every process it starts."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    while True:  # reap the orphans (the forkserver and its workers) so that their CPU counts
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def decode_floor(jobs, inflate) -> float:
    """CPU seconds to read and inflate the two PNGs of every scored frame."""
    saved = pngread.ZLIB
    pngread.ZLIB = inflate
    try:
        started = time.process_time()
        for job in jobs:
            for index in job.scored:
                read_labels(job.gt_files[index], DatasetError, "annotation")
                read_labels(str(job.result_path(index)), DatasetError, "result")
        return time.process_time() - started
    finally:
        pngread.ZLIB = saved


def scoring_cpu(jobs) -> float:
    started = time.process_time()
    for job in jobs:
        score_sequence(job)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="keep the generated set here (reused when present)")
    parser.add_argument("--sequences", type=int, default=24)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--official", type=Path, help="a davis2017-evaluation checkout (with pandas, scikit-image)")
    parser.add_argument("--official-python", default=sys.executable)
    args = parser.parse_args()
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned descendants come to us
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory(prefix="vostool-bench-eval-")
        args.data = Path(tmp.name)
    root = args.data
    objects, real = make_dataset(root, args.sequences, args.frames)
    jobs = build_jobs(root, Protocol(), root / "results/bench")
    scored = sum(len(job.scored) for job in jobs)
    print(f"{len(jobs)} sequences ({real} from real masks) x {args.frames} frames at 854x480, {objects} objects, "
          f"{scored} scored frames; {len(os.sched_getaffinity(0))} usable CPUs; inflate: {pngread.ZLIB.__name__}")
    report = root / "reports" / "vostool"
    vostool = [sys.executable, "-m", "vostool", "evaluate", "--root", str(root), "--results", str(root / "results/bench"),
               "--report", str(report), "--overwrite", "--quiet"]
    runs: dict[str, list[tuple[float, float]]] = {}
    ms = lambda seconds: 1000 * seconds / scored  # noqa: E731

    def record(name: str, wall: float, cpu: float) -> None:
        runs.setdefault(name, []).append((wall, cpu))
        print(f"  {name:22s} wall {wall:7.2f} s  CPU {cpu:7.2f} s  ({ms(cpu):6.2f} ms CPU/frame)  {load()}")

    official_results = root / "results/official-run"
    for round_ in range(args.repeat):
        print(f"round {round_ + 1}  ({load()})")
        if args.official is not None:
            shutil.rmtree(official_results, ignore_errors=True)
            shutil.copytree(root / "results/bench", official_results)  # it writes its CSVs there, and reuses them
            record("official", *run_timed([args.official_python, str(args.official / "evaluation_method.py"),
                                           "--task", "semi-supervised", "--set", "val", "--davis_path", str(root),
                                           "--results_path", str(official_results)], cwd=args.official))
        record("vostool (defaults)", *run_timed(vostool))
        record("vostool --no-plots", *run_timed(vostool + ["--no-plots"]))
        record("floor: decode", 0.0, decode_floor(jobs, pngread.ZLIB))
        record("floor: decode (zlib)", 0.0, decode_floor(jobs, zlib))
        record("scoring (1 process)", 0.0, scoring_cpu(jobs))
    best = {name: (min(w for w, _ in values), min(c for _, c in values)) for name, values in runs.items()}
    print("best of the rounds:")
    for name, (wall, cpu) in best.items():
        print(f"  {name:22s} wall {wall:7.2f} s  CPU {cpu:7.2f} s  {ms(cpu):6.2f} ms CPU/frame")
    floor, floor_zlib, score = best["floor: decode"][1], best["floor: decode (zlib)"][1], best["scoring (1 process)"][1]
    print(f"scoring / decode floor: {score / floor:.2f}x (vostool's inflate), {score / floor_zlib:.2f}x (zlib's)")
    if args.official is not None:
        official_wall, official_cpu = best["official"]
        for name in ("vostool (defaults)", "vostool --no-plots"):
            wall, cpu = best[name]
            medians = [o[1] / v[1] for o, v in zip(runs["official"], runs[name])]
            print(f"official / {name}: {official_cpu / cpu:.1f}x CPU, {official_wall / wall:.1f}x wall "
                  f"(per round, CPU: {', '.join(f'{m:.1f}x' for m in medians)}; median {statistics.median(medians):.1f}x)")
        for name in ("global_results-val.csv", "per-sequence_results-val.csv"):
            same = filecmp.cmp(official_results / name, report / name, shallow=False)
            print(f"{name}: {'byte-identical' if same else 'DIFFERENT'} to the official file")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
