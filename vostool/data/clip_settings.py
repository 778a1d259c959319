"""How training clips are drawn and augmented: the data half of every method's training recipe.

These fields are inherited by :class:`vostool.training.recipe.Recipe` (and so by each method's recipe,
which sets its own defaults) and can be changed with ``--set key=value``. The sampler that reads them
is :mod:`vostool.data.clips`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


def setting(default, help: str):
    """A recipe field with a one-line help text (shown by ``vostool train METHOD --dry-run``)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ClipSettings:
    # Which frames form a clip.
    clip_mode: Literal["reference", "sequential"] = setting(
        "sequential", "reference: a frame where the object is visible, then the others drawn from the whole "
        "video in random order (FRTM); sequential: frames in temporal order with random skips")
    clip_frames: int = setting(3, "frames per clip")
    max_skip: int = setting(1, "sequential clips: each gap between sampled frames is drawn from 1..max_skip")
    ytvos_max_skip: int = setting(0, "YouTube-VOS sources' max_skip (0: the same as max_skip)")
    max_skip_growth: tuple[int, int] = setting(
        (0, 0), "added to max_skip (other sources, YouTube-VOS) every max_skip_every epochs (a curriculum)")
    max_skip_every: int = setting(5, "epochs between max_skip increases")
    max_skip_limit: int = setting(100, "max_skip never grows beyond this")
    objects: int = setting(1, "objects per clip (1: one object, relabelled 1; more: up to N objects, 1..N)")
    min_frames: int = setting(2, "skip sequences with fewer annotated frames")
    min_object_pixels: int = setting(100, "an object is visible on a frame with at least this many pixels")
    min_object_fraction: float = setting(
        0.0, "DAVIS-layout and synthetic sources: also at least this fraction of the object's largest size")
    # How many clips make an epoch.
    repeats: int = setting(1, "DAVIS-layout and synthetic sources: clips per (sequence, object) per epoch")
    clips_per_frame: bool = setting(
        False, "one clip per frame of every video per epoch, starting at that frame and moved back so that it "
        "fits in the video (TVOS: an epoch is every frame of the dataset); sequential clips only")
    ytvos_samples: int = setting(0, "YouTube-VOS: random (video, object) pairs per epoch (0: all, once)")
    ytvos_split: str = setting("", "YouTube-VOS: file listing the training videos (empty: all of train/meta.json)")
    # Geometry and colour, shared by all frames of a clip.
    size: tuple[int, int] | None = setting(None, "resize every frame to H,W (labels: nearest neighbour)")
    crop: tuple[int, int] | None = setting(None, "random H,W crop (after resizing and the affine transform)")
    crop_object_fraction: float = setting(0.0, "a crop must keep at least this fraction of the objects' pixels")
    hflip: float = setting(0.0, "probability of a horizontal flip")
    vflip: float = setting(0.0, "probability of a vertical flip")
    affine_rotate: float = setting(0.0, "random rotation up to this many degrees")
    affine_scale: tuple[float, float] = setting((1.0, 1.0), "random scale range")
    affine_shear: float = setting(0.0, "random shear up to this factor")
    colour_jitter: float = setting(0.0, "brightness, contrast and saturation factors drawn from 1 +- this")
    crop_percent: float = setting(
        0.0, "cut up to this fraction from each side (drawn per side), then resize back to the frame's size")
    contrast: float = setting(0.0, "multiply the clip's pixel values by one factor drawn from 1 +- this")
    noise: float = setting(0.0, "add one value drawn from +-this (0-255 scale) to the clip's pixels")
    workers: int = setting(2, "data loading processes (0: in the training process)")

    @property
    def augmented(self) -> bool:
        """True when clips are randomly transformed (so per-frame caches keyed by frame are invalid)."""
        return bool(self.crop or self.hflip or self.vflip or self.affine_rotate or self.affine_shear
                    or self.affine_scale != (1.0, 1.0) or self.colour_jitter or self.crop_percent
                    or self.contrast or self.noise)

    def max_skip_at(self, kind: str, epoch: int) -> int:
        """The sequential clips' max_skip of a source kind in ``epoch`` (0-based), curriculum included."""
        youtube = kind == "ytvos"
        start = (self.ytvos_max_skip or self.max_skip) if youtube else self.max_skip
        grown = start + self.max_skip_growth[int(youtube)] * (max(epoch, 0) // self.max_skip_every)
        return max(1, min(grown, max(start, self.max_skip_limit)))

    def validate_clips(self) -> None:
        from vostool.errors import OptionError

        if self.clip_frames < 1 or self.objects < 1 or self.max_skip < 1 or self.repeats < 1 or self.max_skip_every < 1:
            raise OptionError("--set clip_frames, objects, max_skip, max_skip_every and repeats must be at least 1")
        if not 0 <= self.crop_percent < 0.5 or self.contrast < 0 or self.noise < 0:
            raise OptionError("--set crop_percent must be in [0, 0.5), contrast and noise >= 0")
        if self.clips_per_frame and self.clip_mode != "sequential":
            raise OptionError("--set clips_per_frame=true needs clip_mode=sequential")
        for name in ("size", "crop"):
            value = getattr(self, name)
            if value is not None and min(value) < 8:
                raise OptionError(f"--set {name}={value[0]},{value[1]}: height and width must be at least 8")
        if not 0 < self.affine_scale[0] <= self.affine_scale[1]:
            raise OptionError("--set affine_scale=LOW,HIGH with 0 < LOW <= HIGH")
        for name in ("hflip", "vflip", "crop_object_fraction", "min_object_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise OptionError(f"--set {name}: must be in [0, 1]")
