"""From per-frame scores to per-object statistics and the global row, as the official code aggregates."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vostool.evaluation.protocol import Protocol
from vostool.evaluation.scoring import SequenceScore
from vostool.metrics import Statistics, statistics

GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


@dataclass
class ObjectResult:
    """One reported object (a row of the per-sequence CSV)."""

    name: str  # "<sequence>_<k>", k = 1..N
    sequence: str
    index: int
    frames: list[str]
    J: np.ndarray  # (n,) per-frame values
    F: np.ndarray
    j: Statistics
    f: Statistics
    match: tuple[int, int]  # (result id, ground-truth id)


@dataclass
class Evaluation:
    """Everything a report shows."""

    protocol: Protocol
    sequences: list[SequenceScore]
    objects: list[ObjectResult]
    scores: dict[str, float]  # GLOBAL_COLUMNS -> value (mean over all objects)
    official_scores: dict[str, float]  # what the official code would report (differs only by its Decay bug)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    report_dir: Path | None = None

    @property
    def frames(self) -> int:
        return sum(len(s.frame_ids) for s in self.sequences)

    def sizes(self) -> str:
        """The frame sizes met and their F tolerance, e.g. "854x480 (28 sequences, F radius 8 px)"."""
        counts: dict[tuple[int, int, int], int] = {}
        for s in self.sequences:
            key = (s.width, s.height, s.radius)
            counts[key] = counts.get(key, 0) + 1
        return ", ".join(f"{w}x{h} ({n} sequence{'s' if n > 1 else ''}, F radius {r} px)"
                         for (w, h, r), n in sorted(counts.items(), key=lambda item: -item[1]))


def _global(objects: list[ObjectResult], official: bool) -> dict[str, float]:
    def mean(values: list[float]) -> float:
        if not values:
            return float("nan")
        return float(np.mean(np.array(values, dtype=np.float64)))

    def decay(stats: Statistics) -> float:
        return stats.official_decay if official else stats.decay

    j_mean = mean([o.j.mean for o in objects])
    f_mean = mean([o.f.mean for o in objects])
    return {
        "J&F-Mean": (j_mean + f_mean) / 2.0,
        "J-Mean": j_mean,
        "J-Recall": mean([o.j.recall for o in objects]),
        "J-Decay": mean([decay(o.j) for o in objects]),
        "F-Mean": f_mean,
        "F-Recall": mean([o.f.recall for o in objects]),
        "F-Decay": mean([decay(o.f) for o in objects]),
    }


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def summarize(protocol: Protocol, sequences: list[SequenceScore], seconds: float = 0.0) -> Evaluation:
    """Per-object Mean/Recall/Decay and the global means, plus notes where the official code differs."""
    objects = []
    notes = []
    for score in sequences:
        if score.num_objects == 0:
            notes.append(f"sequence {score.name} has no object in its first annotation: it adds no row (as in the official code)")
        for k in range(score.num_objects):
            j_values = np.ascontiguousarray(score.J[k])
            f_values = np.ascontiguousarray(score.F[k])
            objects.append(ObjectResult(f"{score.name}_{k + 1}", score.name, k + 1, score.frame_ids, j_values, f_values,
                                        statistics(j_values), statistics(f_values), score.matches[k]))
    for obj in objects:
        if obj.j.official_differs or obj.f.official_differs:
            notes.append(
                f"{obj.name}: {len(obj.frames)} scored frames; the official code's uint8 Decay bin indices wrap at "
                f"this length (>= 256 frames), it would report J-Decay {obj.j.official_decay:.6g} and F-Decay "
                f"{obj.f.official_decay:.6g}; vostool reports the correct {obj.j.decay:.6g} and {obj.f.decay:.6g}"
            )
    scores = _global(objects, official=False)
    official = _global(objects, official=True)
    differing = [c for c in GLOBAL_COLUMNS if not _same(scores[c], official[c])]
    if differing:
        notes.append("the official code's global " + ", ".join(f"{c} would be {official[c]:.6g}" for c in differing)
                     + " (its Decay bug above); the numbers here are correct")
    return Evaluation(protocol, list(sequences), objects, scores, official, notes, seconds)
