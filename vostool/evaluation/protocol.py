"""What is scored and how: datasets, tasks, and the per-sequence jobs of the official DAVIS protocol.

A :class:`SequenceJob` lists one sequence's ground-truth PNGs in the official order (a lexicographic
sort of the file names) with the result file expected for each; it is what a scoring worker gets.
Everything a job needs is checked here first (split file, frames, annotations, every result file
that will be opened), so a missing file is reported before any work, naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vostool.data.sequences import VideoSequence, davis_sequences, official_frame_id, official_png_files
from vostool.errors import DatasetError, OptionError, ResultsError

DATASETS = ("davis17", "davis16", "folder", "ytvos")
TASKS = ("semi-supervised", "unsupervised")
DAVIS_SPLITS = ("train", "val", "test-dev", "test-challenge")
NO_GROUND_TRUTH = ("test-dev", "test-challenge")  # DAVIS sets whose annotations stop at the first frame
VOID = 255
MAX_PROPOSALS = 20  # the official unsupervised evaluation refuses more result ids


@dataclass(frozen=True)
class Protocol:
    """How a DAVIS-layout set is scored."""

    dataset: str = "davis17"
    split: str | None = "val"
    task: str = "semi-supervised"
    resolution: str = "480p"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise OptionError(f"--dataset {self.dataset}: choose one of {', '.join(DATASETS)}")
        if self.task not in TASKS:
            raise OptionError(f"--task {self.task}: choose one of {', '.join(TASKS)}")
        if self.dataset in ("davis17", "davis16") and self.split not in DAVIS_SPLITS:
            raise OptionError(f"--split {self.split}: DAVIS sets are {', '.join(DAVIS_SPLITS)}")
        if self.dataset == "davis16" and self.task != "semi-supervised":
            raise OptionError("--dataset davis16 has no unsupervised task; use --task semi-supervised")

    @property
    def merge_objects(self) -> bool:
        """DAVIS 2016 is single-object: every nonzero pixel (ids or 255) is the one object."""
        return self.dataset == "davis16"

    @property
    def semi_supervised(self) -> bool:
        return self.task == "semi-supervised"

    @property
    def year(self) -> str:
        if self.dataset == "davis16":
            return "2016"
        if self.task == "unsupervised" and self.split in NO_GROUND_TRUTH:
            return "2019"  # the official code's ImageSets folder for these sets
        return "2017"

    @property
    def annotations(self) -> str:
        return "Annotations" if self.semi_supervised else "Annotations_unsupervised"

    @property
    def label(self) -> str:
        """The set name in the CSV file names (``global_results-<label>.csv``)."""
        return self.split or "all"

    def describe(self) -> list[str]:
        """The report header: every rule that decides the numbers."""
        name = {"davis17": "DAVIS 2017", "davis16": "DAVIS 2016", "folder": "DAVIS-layout folder"}.get(self.dataset, self.dataset)
        split = f"set {self.split}" if self.split else "every sequence folder"
        lines = [f"{name}, {split}, {self.task} task, {self.resolution} annotations "
                 f"({self.annotations}/), rules of the official davis2017-evaluation code"]
        if self.semi_supervised:
            lines.append("frames: the first and last ground-truth frame of each sequence are not scored "
                         "(position in the lexicographically sorted annotation files)")
        else:
            lines.append("frames: every ground-truth frame is scored")
        if self.merge_objects:
            lines.append("objects: one per sequence, every nonzero pixel of ground truth and results (ids merged, 255 included)")
        elif self.semi_supervised:
            lines.append("objects: ids 1..N, N = the largest id in the first ground-truth frame (gap ids are "
                         "scored as always-empty objects; ids that appear later are ignored)")
        else:
            lines.append(f"objects: ids 1..N of the first ground-truth frame, matched to result ids "
                         f"(at most {MAX_PROPOSALS}) by the Hungarian method on mean (J+F)/2")
        if self.merge_objects:
            lines.append("void: none (255 is part of the object in DAVIS 2016)")
        elif self.semi_supervised:
            lines.append("void (255): counted as background, result pixels there count as false positives "
                         "(as the official semi-supervised code, which passes no void mask)")
        else:
            lines.append("void (255): excluded from J and removed from both masks before F's boundaries")
        lines.append("F: boundary tolerance ceil(0.008 x image diagonal) pixels per sequence (8 at 854x480), disk element")
        lines.append("global: mean over all objects of all sequences; Decay: 4 overlapping bins, first minus last")
        return lines


@dataclass(frozen=True)
class SequenceJob:
    """One sequence to score: its ground truth in official order and where its results are."""

    name: str
    gt_files: tuple[str, ...]  # every annotation PNG, official order
    frame_ids: tuple[str, ...]  # the official frame id of each (result file = <results>/<frame id>.png)
    results_dir: str
    task: str
    merge_objects: bool = False

    @property
    def scored(self) -> range:
        """Positions in ``gt_files`` that are scored."""
        if self.task == "semi-supervised":
            return range(1, len(self.gt_files) - 1)
        return range(len(self.gt_files))

    def result_path(self, index: int) -> Path:
        return Path(self.results_dir) / f"{self.frame_ids[index]}.png"


def _unique(names: list[str]) -> list[str]:
    """The official code keeps sequences in a dict: a repeated name is scored once, at its first place."""
    return list(dict.fromkeys(names))


def dataset_sequences(root: str | Path, protocol: Protocol) -> list[VideoSequence]:
    """The protocol's sequences under ``root`` (checks the layout and the split file)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"--root {root}: folder not found")
    split = protocol.split
    if protocol.dataset == "folder" and split is not None:
        if not (root / "ImageSets" / protocol.year / f"{split}.txt").is_file():
            raise DatasetError(f"split file not found: {root / 'ImageSets' / protocol.year / f'{split}.txt'} "
                               "(omit --split to score every sequence folder)")
    sequences = davis_sequences(root, split, protocol.year, protocol.resolution, protocol.annotations)
    seen: dict[str, VideoSequence] = {}
    for sequence in sequences:
        seen.setdefault(sequence.name, sequence)
    return [seen[name] for name in _unique([s.name for s in sequences])]


def build_jobs(root: str | Path, protocol: Protocol, results: str | Path, check_results: bool = True) -> list[SequenceJob]:
    """Jobs for every sequence, after checking every file the scoring will open.

    ``check_results=False`` checks only the ground truth (before the results are made).
    """
    root = Path(root)
    results = Path(results)
    if check_results and not results.is_dir():
        raise ResultsError(f"results folder not found: {results}")
    labels_root = root / protocol.annotations / protocol.resolution
    jobs = []
    for sequence in dataset_sequences(root, protocol):
        gt_folder = labels_root / sequence.name
        gt_files = official_png_files(gt_folder)
        if not gt_files:
            raise DatasetError(f"sequence {sequence.name} is empty: no annotation PNGs in {gt_folder}")
        if len(gt_files) < len(sequence.frames):
            have = {p.stem for p in gt_files}
            missing = [p.name for p in sequence.frames if p.stem not in have]
            raise DatasetError(
                f"sequence {sequence.name}: {len(sequence.frames)} frames but {len(gt_files)} annotations in {gt_folder} "
                f"(no annotation for {', '.join(missing[:3])}{', …' if len(missing) > 3 else ''}); "
                "the official protocol needs one per frame"
            )
        if protocol.semi_supervised and len(gt_files) < 3:
            raise DatasetError(
                f"sequence {sequence.name} has {len(gt_files)} annotated frames in {gt_folder}: the semi-supervised "
                "protocol skips the first and the last, so at least 3 are needed"
            )
        job = SequenceJob(sequence.name, tuple(str(p) for p in gt_files), tuple(official_frame_id(p) for p in gt_files),
                          str(results / sequence.name), protocol.task, protocol.merge_objects)
        if check_results:
            _check_results(job)
        jobs.append(job)
    return jobs


def _check_results(job: SequenceJob) -> None:
    folder = Path(job.results_dir)
    if not folder.is_dir():
        raise ResultsError(f"results for sequence {job.name} not found: {folder} is missing")
    present = {p.name for p in folder.iterdir()}
    for index in job.scored:
        path = job.result_path(index)
        if path.name not in present:
            raise ResultsError(f"missing result frame {path} (sequence {job.name}, frame {job.frame_ids[index]})")
