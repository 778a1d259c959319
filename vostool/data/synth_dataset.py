"""``vostool synth``: write procedural videos as a DAVIS-layout dataset that ``evaluate`` can score.

    OUT/JPEGImages/480p/<seq>/00000.jpg …   frames (JPEG, quality 95)
    OUT/Annotations/480p/<seq>/00000.png …  indexed PNG labels for every frame (DAVIS palette)
    OUT/ImageSets/2017/<split>.txt          the sequence names

Sequence ``synth-<seed>-<i>`` is ``SyntheticVideo((seed, i), config)``, the same video the
``synthetic:seed=S`` training and validation source streams, so numbers on the folder and on the
stream agree (up to JPEG compression of the frames).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PIL import Image

from vostool.data.synth_video import SynthConfig, SyntheticVideo
from vostool.errors import OutputError
from vostool.io.masks import atomic_save, write_label_png


def sequence_name(seed: int, index: int) -> str:
    return f"synth-{seed}-{index:04d}"


def write_dataset(out: str | Path, sequences: int, config: SynthConfig, seed: int = 0, split: str = "val",
                  overwrite: bool = False, progress: Callable[[int], None] | None = None) -> list[str]:
    """Write ``sequences`` videos under ``out``; returns their names. ``progress(1)`` after each video."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"--out {out} is not empty; pass --overwrite or choose another folder")
    names = []
    try:
        for i in range(sequences):
            name = sequence_name(seed, i)
            frames_dir = out / "JPEGImages" / "480p" / name
            labels_dir = out / "Annotations" / "480p" / name
            frames_dir.mkdir(parents=True, exist_ok=True)
            labels_dir.mkdir(parents=True, exist_ok=True)
            video = SyntheticVideo((seed, i), config)
            for t in range(config.frames):
                image, label = video.render(t)
                picture = Image.fromarray(image)
                atomic_save(frames_dir / f"{t:05d}.jpg", lambda tmp: picture.save(tmp, format="JPEG", quality=95))
                write_label_png(labels_dir / f"{t:05d}.png", label)
            names.append(name)
            if progress is not None:
                progress(1)
        sets = out / "ImageSets" / "2017"
        sets.mkdir(parents=True, exist_ok=True)
        atomic_save(sets / f"{split}.txt", lambda tmp: tmp.write_text("".join(n + "\n" for n in names)))
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return names
