"""Engine overhead at 480p: decode + resize + labels + PNG (+ overlay) time against model time.

    python benchmarks/bench_engine_overhead.py [--frames 40] [--backbone resnet18] [--overlay]

Generates a 480x854 clip with two objects (h264) and runs FRTM (untrained weights: speed does not
depend on their values) twice: once as a bare loop of ``Session.step`` over frames already in memory
(model time, no I/O), once through ``segment_video`` (decoding, resizing, labels and PNG writing on
their threads). Overhead = engine loop time / bare model time - 1; it includes the CPU the
background threads take from the model. The issue's target: under 10%.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import write_video  # noqa: E402
from vostool.data.synthetic import make_clip  # noqa: E402
from vostool.engine import segment_video  # noqa: E402
from vostool.io.masks import write_label_png  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--backbone", default="resnet18", choices=["resnet18", "resnet101"])
    parser.add_argument("--overlay", action="store_true", help="also encode the overlay video")
    args = parser.parse_args()
    clip = make_clip(num_frames=args.frames, height=480, width=854, num_objects=2, seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = write_video(tmp / "clip.mp4", clip.frames, fps=24)
        write_label_png(tmp / "mask.png", clip.labels[0])
        options = {"backbone": args.backbone, "fast": "true" if args.backbone == "resnet18" else "false"}
        result = segment_video(video, mask=tmp / "mask.png", method="frtm", untrained=True, options=options,
                               out_dir=tmp / "out", overlay=tmp / "o.mp4" if args.overlay else None, size=480,
                               device="cpu", progress=False)
    bare = bare_model_seconds(clip, options)
    overhead = result.loop_seconds - bare
    print(f"FRTM {args.backbone} at 480x854, {result.frames} frames, 2 objects, overlay={'yes' if args.overlay else 'no'}")
    print(f"bare Session.step loop {bare:.2f} s; segment_video loop {result.loop_seconds:.2f} s "
          f"(of which inside step {result.model_seconds:.2f} s)")
    print(f"engine overhead {overhead:.2f} s = {100 * overhead / bare:.1f}% of model time "
          f"({1000 * overhead / result.frames:.1f} ms/frame)")


def bare_model_seconds(clip, options) -> float:
    """Session.step over frames already decoded and in memory: the model's own time."""
    import time

    import torch

    from vostool.loader import load_method

    method = load_method("frtm", options, untrained=True)
    frames = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]
    mask = torch.from_numpy(clip.labels[0])
    session = method.new_session()
    start = time.perf_counter()
    with torch.inference_mode():
        for t, frame in enumerate(frames):
            session.step(frame, mask if t == 0 else None)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
