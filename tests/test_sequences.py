import json

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path
from vostool.data.sequences import davis_sequences, youtube_vos_sequences
from vostool.errors import DatasetError


def _davis(root, names=("a", "b"), frames=3):
    for name in names:
        (root / "JPEGImages/480p" / name).mkdir(parents=True)
        (root / "Annotations/480p" / name).mkdir(parents=True)
        for t in range(frames):
            Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(root / "JPEGImages/480p" / name / f"{t:05d}.jpg")
            Image.fromarray(np.full((8, 12), t, np.uint8), mode="L").save(root / "Annotations/480p" / name / f"{t:05d}.png")
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/val.txt").write_text("\n".join(reversed(names)) + "\n")


def test_davis_layout_follows_the_split_file(tmp_path):
    _davis(tmp_path)
    seqs = davis_sequences(tmp_path, "val")
    assert [s.name for s in seqs] == ["b", "a"]
    assert seqs[0].frame_names == ["00000", "00001", "00002"]
    assert seqs[0].read_annotation("00002").max() == 2 and seqs[0].read_frame(1).shape == (8, 12, 3)
    assert [s.name for s in davis_sequences(tmp_path, None)] == ["a", "b"]


def test_davis_errors_name_the_missing_piece(tmp_path):
    with pytest.raises(DatasetError, match="not a DAVIS-layout folder"):
        davis_sequences(tmp_path)
    _davis(tmp_path)
    with pytest.raises(DatasetError, match="split file not found"):
        davis_sequences(tmp_path, "test-dev")


def test_youtube_vos_meta(tmp_path):
    base = tmp_path / "valid"
    (base / "JPEGImages/v1").mkdir(parents=True)
    (base / "Annotations/v1").mkdir(parents=True)
    for t in (0, 5, 10):
        Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(base / f"JPEGImages/v1/{t:05d}.jpg")
    Image.fromarray(np.ones((4, 6), np.uint8), mode="L").save(base / "Annotations/v1/00000.png")
    meta = {"videos": {"v1": {"objects": {"1": {"frames": ["00000", "00005", "00010"]}, "2": {"frames": ["00010"]}}}}}
    (base / "meta.json").write_text(json.dumps(meta))
    (seq,) = youtube_vos_sequences(tmp_path, "valid")
    assert seq.frame_names == ["00000", "00005", "00010"] and seq.object_frames == {1: ["00000", "00005", "00010"], 2: ["00010"]}
    assert seq.first_annotated() == "00000"
    with pytest.raises(DatasetError, match="all-frames"):
        youtube_vos_sequences(tmp_path, "valid", all_frames=True)


def test_conformance_sets_read():
    root = shared_path("conformance", "davis_small")
    seqs = davis_sequences(root, "val")
    assert seqs and all(len(s) == len(s.annotations) for s in seqs)
