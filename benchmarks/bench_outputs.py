"""Size and write time per frame of every output format at 480p (854x480, 3 objects).

    python benchmarks/bench_outputs.py [--frames 30]

Drives the writers directly with a generated clip (vostool.data.synthetic.make_clip, seed 0): the
labels are the clip's ground truth. Soft maps depend on the model, so two stand-ins bracket them:
"sharp" = the one-hot masks blurred with a Gaussian (sigma 2 px) and renormalised (exact zeros away
from the objects, the best case for compression); "noisy" = a softmax of logits 12 (blurred - 0.5)
plus unit Gaussian noise (small non-zero tails everywhere, as a network's softmax has). Also
measured, as the alternatives considered: compressed npz, and a ProRes 4444 matte (the usual editing
interchange codec), whose largest deviation from the mask shows it is not lossless.
Times are single-threaded wall time on this machine (compare them as ratios, not absolutes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from vostool.data.synthetic import make_clip
from vostool.io.frame_outputs import PerObjectMaskWriter, SoftNpzWriter, SoftPngWriter
from vostool.io.matte import MatteVideoWriter
from vostool.io.rle_json import RleJsonWriter
from vostool.io.writers import OverlayVideoWriter, PngSequenceWriter

H, W, IDS = 480, 854, (1, 2, 3)


def soft_maps(labels: np.ndarray, noise: np.random.Generator | None = None) -> np.ndarray:
    """(H, W) labels -> (K, H, W) float32 object probabilities (see the module docstring)."""
    onehot = np.stack([labels == i for i in (0, *IDS)]).astype(np.float32)
    blurred = np.stack([gaussian_filter(c, 2.0) for c in onehot])
    if noise is None:
        return (blurred / blurred.sum(0, keepdims=True))[1:]
    logits = 12 * (blurred - 0.5) + noise.normal(0, 1.0, blurred.shape).astype(np.float32)
    odds = np.exp(logits - logits.max(0))
    return (odds / odds.sum(0, keepdims=True))[1:]


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def run(name: str, make, feed, frames, root: Path) -> tuple[str, float, Path]:
    target = root / name
    started = time.perf_counter()
    writer = make(target)
    for index, (image, labels, probs) in enumerate(frames):
        feed(writer, index, image, labels, probs)
    writer.close()
    seconds = time.perf_counter() - started
    return name, seconds, target


def prores_matte(path: Path, masks: list[np.ndarray]) -> int:
    """Largest |decoded - mask| of a ProRes 4444 matte (0 would be lossless)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("prores_ks", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv444p10le"
        stream.options = {"profile": "4444"}
        for i, mask in enumerate(masks):
            frame = av.VideoFrame.from_ndarray(mask, format="gray").reformat(format="yuv444p10le")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    return max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(decoded, masks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    clip = make_clip(num_frames=args.frames, height=H, width=W, num_objects=len(IDS), seed=0)
    frames = [(clip.frames[t], clip.labels[t], soft_maps(clip.labels[t])) for t in range(args.frames)]
    rng = np.random.default_rng(0)
    noisy = [(image, labels, soft_maps(labels, rng)) for image, labels, _ in frames]
    n = len(frames)

    def extra(writer, index, image, labels, probs):
        writer.write(index, f"{index:05d}", labels, probs if writer.needs_probs else None, IDS, None)

    cases = [
        ("indexed PNG (--out)", lambda p: p.mkdir() or PngSequenceWriter(p, None),
         lambda w, i, image, labels, probs: w.write(f"{i:05d}", labels)),
        ("overlay h264 (--overlay)", lambda p: OverlayVideoWriter(p.with_suffix(".mp4"), W, H, Fraction(25), None),
         lambda w, i, image, labels, probs: w.write(image, labels)),
        ("per-object PNG 0/255", lambda p: PerObjectMaskWriter(p), extra),
        ("soft PNG 8-bit, sharp", lambda p: SoftPngWriter(p), extra),
        ("soft PNG 8-bit, noisy", lambda p: SoftPngWriter(p), extra),
        ("soft npz float16 (either)", lambda p: SoftNpzWriter(p), extra),
        ("matte .mov PNG rgb24, all", lambda p: MatteVideoWriter(p.with_suffix(".mov"), W, H, 25), extra),
        ("matte .mkv FFV1 gray, all", lambda p: MatteVideoWriter(p.with_suffix(".mkv"), W, H, 25), extra),
        ("matte .mov PNG rgb24, per object", lambda p: MatteVideoWriter(p.with_suffix(".mov"), W, H, 25,
                                                                         mode="per-object"), extra),
        ("COCO RLE JSON", lambda p: RleJsonWriter(p.with_suffix(".json"), W, H), extra),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = []
        for index, (name, make, feed) in enumerate(cases):
            label, seconds, target = run(f"case{index}", make, feed, noisy if "noisy" in name else frames, root)
            files = [p for p in root.glob(f"{label}*")]
            size = sum(folder_bytes(p) for p in files)
            rows.append((name, size / n, seconds / n))
        # alternatives considered
        for kind, maps in (("sharp", frames), ("noisy", noisy)):
            started = time.perf_counter()
            compressed = 0
            for t, (_, _, probs) in enumerate(maps):
                path = root / f"z{kind}{t}.npz"
                np.savez_compressed(path, probs=probs.astype(np.float16), object_ids=np.asarray(IDS, np.uint8))
                compressed += path.stat().st_size
            rows.append((f"(considered) soft npz float16 zlib, {kind}", compressed / n,
                         (time.perf_counter() - started) / n))
        masks = [np.where(labels > 0, 255, 0).astype(np.uint8) for _, labels, _ in frames]
        started = time.perf_counter()
        deviation = prores_matte(root / "prores.mov", masks)
        rows.append((f"(considered) matte ProRes 4444, max error {deviation}/255",
                     (root / "prores.mov").stat().st_size / n, (time.perf_counter() - started) / n))
    base = rows[0][2]
    print(f"{n} frames, {W}x{H}, {len(IDS)} objects\n")
    print("| output | KB/frame | write time vs indexed PNG |\n|---|---|---|")
    for name, size, seconds in rows:
        print(f"| {name} | {size / 1024:.1f} | {seconds / base:.2f}x |")
    print(f"\n(indexed PNG: {base * 1000:.1f} ms/frame on this machine)")


if __name__ == "__main__":
    main()
