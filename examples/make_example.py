"""Regenerate the bundled example: examples/two_objects.mp4 and its first-frame mask.

    python examples/make_example.py

The clip is produced by vostool's own synthetic generator (no third-party media): two textured
objects moving over a textured, panning background, 320x240, 24 frames at 12 fps.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vostool.data.synthetic import make_clip
from vostool.io.masks import write_label_png

HERE = Path(__file__).resolve().parent


def main() -> None:
    clip = make_clip(num_frames=24, height=240, width=320, num_objects=2, seed=7)
    video = HERE / "two_objects.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(12))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"crf": "16", "preset": "slow"}
        for image in clip.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    write_label_png(HERE / "two_objects_mask.png", clip.labels[0])
    print(f"wrote {video} ({len(clip.frames)} frames) and {HERE / 'two_objects_mask.png'}")


if __name__ == "__main__":
    main()
