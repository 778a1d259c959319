"""The job list of `vostool segment` with many inputs: folders of videos, the mask convention, manifests."""

from pathlib import Path

import pytest

from vostool.errors import OptionError
from vostool.jobs import collect_jobs, is_batch, read_manifest


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_a_folder_of_videos_gives_one_job_per_video_with_masks_beside(tmp_path):
    clips = tmp_path / "clips"
    for name in ("b10.mp4", "b2.mkv", "a.mov", "notes.txt", "a.png", "b2.png"):
        _touch(clips / name)
    (clips / "b10_masks").mkdir()
    jobs = collect_jobs([clips], tmp_path / "out", tmp_path / "ov")
    assert [j.name for j in jobs] == ["a", "b2", "b10"]  # natural order, only video files
    a, b2, b10 = jobs
    assert a.mask == clips / "a.png" and a.masks_dir is None and a.error is None
    assert b10.masks_dir == clips / "b10_masks" and b10.mask is None
    assert a.out_dir == tmp_path / "out" / "a" and a.overlay == tmp_path / "ov" / "a.mp4"
    assert is_batch([clips]) and is_batch([clips / "a.mov", clips / "b2.mkv"]) and not is_batch([clips / "a.mov"])


def test_masks_root_and_missing_or_ambiguous_masks(tmp_path):
    videos = [_touch(tmp_path / "v" / f"{n}.mp4") for n in ("x", "y", "z")]
    masks = tmp_path / "m"
    _touch(masks / "x.png")
    (masks / "y").mkdir(parents=True)
    _touch(masks / "z.png")
    (masks / "z").mkdir()
    x, y, z = collect_jobs(videos, tmp_path / "out", masks_root=masks)
    assert x.mask == masks / "x.png" and y.masks_dir == masks / "y"
    assert "both" in z.error and "keep one" in z.error
    (missing,) = collect_jobs([tmp_path / "v" / "missing.mp4"], tmp_path / "out", masks_root=masks)
    assert "video not found" in missing.error
    nomask = collect_jobs([videos[0]], tmp_path / "out")[0]
    assert "no mask for" in nomask.error and "x.png" in nomask.error and "x_masks" in nomask.error


def test_several_videos_need_out_and_distinct_names(tmp_path):
    a = _touch(tmp_path / "one" / "clip.mp4")
    b = _touch(tmp_path / "two" / "clip.mp4")
    with pytest.raises(OptionError, match="--out ROOT"):
        collect_jobs([a, b])
    with pytest.raises(OptionError, match="would both write"):
        collect_jobs([a, b], tmp_path / "out")


def test_manifest_lines_relative_paths_defaults_and_errors(tmp_path):
    _touch(tmp_path / "clips" / "cat.mp4")
    _touch(tmp_path / "clips" / "dog.mp4")
    _touch(tmp_path / "clips" / "dog.png")
    _touch(tmp_path / "masks" / "cat.png")
    manifest = tmp_path / "list.tsv"
    manifest.write_text("video\tmask\tout\toverlay\n# a comment\n\nclips/cat.mp4\tmasks/cat.png\tres/cat\tres/cat.mp4\n"
                        "clips/dog.mp4\t-\n")
    cat, dog = read_manifest(manifest, tmp_path / "root", None, None)
    assert cat.video == tmp_path / "clips" / "cat.mp4" and cat.mask == tmp_path / "masks" / "cat.png"
    assert cat.out_dir == tmp_path / "res" / "cat" and cat.overlay == tmp_path / "res" / "cat.mp4" and cat.error is None
    assert dog.mask == tmp_path / "clips" / "dog.png" and dog.out_dir == tmp_path / "root" / "dog" and dog.overlay is None
    with pytest.raises(OptionError, match=r"list.tsv:5 has no out dir"):
        read_manifest(manifest, None, None, None)
    manifest.write_text("a.mp4\tb\tc\td\te\n")
    with pytest.raises(OptionError, match=r"list.tsv:1: 5 tab-separated fields"):
        read_manifest(manifest, tmp_path, None, None)
    manifest.write_text("clips/cat.mp4\tmasks/nope.png\tres/cat\n")
    assert "mask not found" in read_manifest(manifest, None, None, None)[0].error
