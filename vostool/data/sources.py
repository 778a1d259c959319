"""Training and validation data sources: DAVIS 2017, YouTube-VOS, any DAVIS-layout folder, synthetic video.

A source is a list of videos whose frames and labels are read on demand, plus per-frame pixel counts
of every object (which frames show an object). ``--data`` / ``--val`` name sources as

* ``davis:ROOT``     DAVIS 2017 (ImageSets/2017/train.txt for training, val.txt for validation)
* ``ytvos:ROOT``     YouTube-VOS train (ROOT/train/meta.json; objects may appear after frame 0)
* ``folder:ROOT``    every sequence of a DAVIS-layout folder (e.g. written by ``vostool synth``)
* ``ROOT``           one of the above, recognised by its layout
* ``synthetic[:key=value,...]``  procedural videos streamed from :mod:`vostool.data.synth_video`
  (keys: ``videos``, ``seed`` and the fields of :class:`~vostool.data.synth_video.SynthConfig`; a
  tuple field's values are joined with ``/``, e.g. ``radius=0.2/0.35``)

Label pixel counts of real datasets are computed once and cached in ``$VOSTOOL_CACHE/datasets``.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np

from vostool.data.sequences import VideoSequence, davis_sequences, read_split, youtube_vos_sequences
from vostool.data.synth_video import SynthConfig, SyntheticVideo, object_count
from vostool.errors import DatasetError
from vostool.progress import TqdmProgress

SOURCE_KINDS = ("davis", "ytvos", "folder", "synthetic")


class Video(abc.ABC):
    """One video of a source: ``len(video)`` frames, each with an RGB image and a label map."""

    name: str

    @abc.abstractmethod
    def __len__(self) -> int:
        ...

    @abc.abstractmethod
    def frame(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        ...

    @abc.abstractmethod
    def label(self, index: int) -> np.ndarray:
        """(H, W) uint8 ids (0 background)."""
        ...


class SequenceVideo(Video):
    """A dataset sequence restricted to its annotated frames (YouTube-VOS train: every 5th frame)."""

    def __init__(self, sequence: VideoSequence) -> None:
        self.sequence = sequence
        self.name = sequence.name
        stems = sequence.frame_names
        self.indices = [i for i, stem in enumerate(stems) if stem in sequence.annotations]
        self.stems = [stems[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def frame(self, index: int) -> np.ndarray:
        return self.sequence.read_frame(self.indices[index])

    def label(self, index: int) -> np.ndarray:
        return self.sequence.read_annotation(self.stems[index])


class SynthVideo(Video):
    def __init__(self, name: str, video: SyntheticVideo) -> None:
        self.name = name
        self.video = video

    def __len__(self) -> int:
        return self.video.config.frames

    def frame(self, index: int) -> np.ndarray:
        return self.video.render(index)[0]

    def label(self, index: int) -> np.ndarray:
        return self.video.label(index)


class Source(abc.ABC):
    """Videos of one dataset; ``counts(i)`` is a (T, 256) array of label pixel counts of video i.

    Sources are plain picklable objects, so data-loading worker processes can use them.
    """

    kind: str = ""  # davis | ytvos | folder | synthetic
    key: str = ""  # distinguishes sources in cache keys and logs
    description: str = ""

    @abc.abstractmethod
    def __len__(self) -> int:
        ...

    @abc.abstractmethod
    def video(self, index: int) -> Video:
        ...

    @abc.abstractmethod
    def counts(self, index: int) -> np.ndarray:
        ...

    def object_ids(self, index: int) -> list[int]:
        """Ids of the objects of video ``index`` that appear on some frame."""
        c = self.counts(index)
        return [int(k) for k in np.flatnonzero(c.max(axis=0)) if 0 < k < 255]


def _pixel_counts(video: Video) -> np.ndarray:
    return np.stack([np.bincount(video.label(t).ravel(), minlength=256)[:256] for t in range(len(video))])


def _counts_cache(kind: str, root: Path, videos: list[SequenceVideo]) -> dict[str, np.ndarray]:
    """Label pixel counts of every video, cached in $VOSTOOL_CACHE/datasets (keyed by the files)."""
    from vostool.io.masks import atomic_save
    from vostool.paths import cache_dir

    digest = hashlib.sha1()
    for v in videos:
        for stem in v.stems:
            stat = v.sequence.annotations[stem].stat()
            digest.update(f"{v.name}/{stem}/{stat.st_size}/{int(stat.st_mtime)}\n".encode())
    path = cache_dir() / "datasets" / f"{kind}-{hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]}.json"
    try:
        cached = json.loads(path.read_text())
        if cached.get("digest") == digest.hexdigest():
            return {name: np.asarray(c, dtype=np.int64) for name, c in cached["counts"].items()}
    except (OSError, ValueError, KeyError):
        pass
    bar = TqdmProgress(leave=False)  # a one-off pass, then cached: the bar is cleared when done
    bar.start(len(videos), f"counting labels of {root}", unit="videos")
    try:
        counts = {}
        for v in videos:
            counts[v.name] = _pixel_counts(v)
            bar.advance()
    finally:
        bar.stop()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"digest": digest.hexdigest(), "counts": {k: c.tolist() for k, c in counts.items()}})
        atomic_save(path, lambda tmp: tmp.write_text(text))
    except Exception:  # the cache is an optimisation; an unwritable cache folder is not an error
        pass
    return counts


class SequenceSource(Source):
    """DAVIS, YouTube-VOS or a DAVIS-layout folder: sequences with at least ``min_frames`` annotated frames."""

    def __init__(self, kind: str, root: Path, sequences: list[VideoSequence], min_frames: int, description: str) -> None:
        videos = [SequenceVideo(s) for s in sequences]
        self.videos = [v for v in videos if len(v) >= max(min_frames, 1)]
        if not self.videos:
            raise DatasetError(f"{root}: no sequence with at least {min_frames} annotated frames")
        self.kind, self.key, self.description = kind, f"{kind}:{root.name}", description
        self._counts = _counts_cache(kind, root, self.videos)

    def __len__(self) -> int:
        return len(self.videos)

    def video(self, index: int) -> Video:
        return self.videos[index]

    def counts(self, index: int) -> np.ndarray:
        return self._counts[self.videos[index].name]


class SyntheticSource(Source):
    """``videos`` procedural videos; video i is ``SyntheticVideo((seed, i), config)``."""

    def __init__(self, config: SynthConfig, videos: int, seed: int) -> None:
        self.config, self.videos, self.seed = config, videos, seed
        tag = hashlib.sha1(repr(config).encode()).hexdigest()[:6]
        self.kind, self.key = "synthetic", f"synthetic-{tag}-s{seed}"
        self.description = (f"synthetic ({videos} videos of {config.frames} frames at {config.height}x{config.width}, "
                            f"seed {seed})")
        self._open: "OrderedDict[int, SynthVideo]" = OrderedDict()
        self._counts: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.videos

    def video(self, index: int) -> Video:
        # A few videos stay open: building one draws its background texture.
        if index not in self._open:
            self._open[index] = SynthVideo(f"{self.key}-{index:05d}", SyntheticVideo((self.seed, index), self.config))
            if len(self._open) > 8:
                self._open.popitem(last=False)
        return self._open[index]

    def counts(self, index: int) -> np.ndarray:
        if index not in self._counts:
            self._counts[index] = _pixel_counts(self.video(index))
        return self._counts[index]

    def object_ids(self, index: int) -> list[int]:
        return list(range(1, object_count((self.seed, index), self.config) + 1))


def davis_source(root: str | Path, split: str | None = "train", min_frames: int = 1) -> Source:
    root = Path(root)
    seqs = davis_sequences(root, split, "2017")
    for s in seqs:
        missing = [stem for stem in s.frame_names if stem not in s.annotations]
        if missing:
            raise DatasetError(f"{root}: sequence {s.name} has no annotation for frame {missing[0]}")
    kind = "folder" if split is None else "davis"
    return SequenceSource(kind, root, seqs, min_frames, f"{root} ({split or 'all sequences'}, {len(seqs)} sequences)")


def ytvos_source(root: str | Path, split_file: str = "", min_frames: int = 1) -> Source:
    root = Path(root)
    seqs = youtube_vos_sequences(root, "train")
    if split_file:
        keep = set(read_split(Path(split_file)))
        unknown = keep - {s.name for s in seqs}
        if unknown:
            raise DatasetError(f"{split_file}: {len(unknown)} video(s) not in {root}/train (e.g. {sorted(unknown)[0]})")
        seqs = [s for s in seqs if s.name in keep]
    return SequenceSource("ytvos", root, seqs, min_frames, f"{root} (YouTube-VOS train, {len(seqs)} videos)")


def _parse_synthetic(text: str, size: tuple[int, int] | None, default_videos: int) -> Source:
    from vostool.options import make_options, parse_assignments

    _, _, rest = text.partition(":")
    items = [p for p in rest.split(",") if p.strip()] if rest else []
    # Commas separate the items, so a tuple field's values are joined with "/" (radius=0.2/0.35).
    values = {k: v.replace("/", ",") for k, v in parse_assignments(items).items()}
    try:
        videos = int(values.pop("videos", default_videos))
        seed = int(values.pop("seed", 0))
    except ValueError:
        raise DatasetError(f"{text}: videos and seed must be integers") from None
    if videos < 1:
        raise DatasetError(f"{text}: videos must be at least 1")
    if size is not None:
        values.setdefault("height", str(size[0]))
        values.setdefault("width", str(size[1]))
    config = make_options(SynthConfig, values)
    return SyntheticSource(config, videos, seed)


def detect_kind(root: Path) -> str:
    """davis, ytvos or folder, from the layout of ``root``; a DatasetError naming what is missing."""
    if not root.exists():
        raise DatasetError(f"dataset folder not found: {root}")
    if (root / "train" / "meta.json").is_file():
        return "ytvos"
    if (root / "ImageSets" / "2017").is_dir() and (root / "JPEGImages" / "480p").is_dir():
        return "davis"
    if (root / "JPEGImages" / "480p").is_dir():
        return "folder"
    raise DatasetError(
        f"{root} is not a dataset: expected JPEGImages/480p and Annotations/480p (DAVIS layout) or "
        "train/meta.json (YouTube-VOS)"
    )


def open_source(spec: str, role: str = "train", size: tuple[int, int] | None = None, min_frames: int = 1,
                ytvos_split: str = "", default_videos: int = 200) -> Source:
    """A source from a ``--data`` / ``--val`` spec (see the module docstring). ``role``: train or val."""
    text = spec.strip()
    if text == "synthetic" or text.startswith("synthetic:"):
        return _parse_synthetic(text, size, default_videos)
    kind, sep, rest = text.partition(":")
    if sep and kind in ("davis", "ytvos", "folder") and rest:
        root = Path(rest).expanduser()
        if not root.exists():
            raise DatasetError(f"dataset folder not found: {root}")
    else:
        root = Path(text).expanduser()
        kind = detect_kind(root)
    if kind == "ytvos":
        if role != "train":
            raise DatasetError(f"{root}: YouTube-VOS has no full ground truth to validate on; use DAVIS, a folder or synthetic")
        return ytvos_source(root, ytvos_split, min_frames)
    if kind == "davis":
        return davis_source(root, "train" if role == "train" else "val", min_frames)
    return davis_source(root, None, min_frames)
