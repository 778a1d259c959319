"""The optional outputs' writers, driven directly: each reads back to the same masks/probabilities
(within the stated quantisation), objects that appear later are back-filled, and a failed run leaves
no partial file."""

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from vostool.errors import OptionError, OutputError
from vostool.io.exports import ExportOptions
from vostool.io.frame_outputs import PerObjectMaskWriter, SoftNpzWriter, SoftPngWriter
from vostool.io.matte import MatteVideoWriter, per_object_matte_path
from vostool.io.rle_json import RleJsonWriter

H, W = 37, 53  # odd sizes on purpose: the video codecs must not pad or crop


def _frames(count=5, seed=0):
    """Per frame: labels (H, W) uint8 with ids 3 (from frame 0) and 7 (from frame 2), probs (K, H, W),
    object ids. Object 7 has no pixel on frame 4 (an empty mask must survive too)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(count):
        ids = (3,) if t < 2 else (3, 7)
        probs = rng.random((len(ids), H, W), dtype=np.float32)
        labels = np.zeros((H, W), np.uint8)
        labels[5 + t:20 + t, 4:30] = 3
        if t >= 2 and t != 4:
            labels[25:35, 10 + 3 * t:40] = 7
        labels[0, 0] = 3  # a corner pixel: run-length and codec edge cases
        out.append((t, f"f{t:03d}", labels, probs, ids))
    return out


def _feed(writer, frames):
    for index, name, labels, probs, ids in frames:
        writer.write(index, name, labels, probs if writer.needs_probs else None, ids, None)
    writer.close()


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_per_object_masks_read_back_exactly_and_are_back_filled(tmp_path):
    frames = _frames()
    writer = PerObjectMaskWriter(tmp_path / "obj")
    _feed(writer, frames)
    assert _files(tmp_path / "obj") == [f"{oid}/f{t:03d}.png" for oid in (3, 7) for t in range(5)]
    for t, name, labels, _, _ in frames:
        for oid in (3, 7):
            image = Image.open(tmp_path / "obj" / str(oid) / f"{name}.png")
            assert image.mode == "L"
            back = np.array(image)
            assert set(np.unique(back)) <= {0, 255}
            np.testing.assert_array_equal(back == 255, labels == oid)  # frames 0-1 of object 7: empty
    assert writer.describe()["object_ids"] == [3, 7]


def test_soft_png_reads_back_within_half_a_level(tmp_path):
    frames = _frames()
    _feed(SoftPngWriter(tmp_path / "soft"), frames)
    for t, name, _, probs, ids in frames:
        for k, oid in enumerate(ids):
            back = np.array(Image.open(tmp_path / "soft" / str(oid) / f"{name}.png")).astype(np.float32) / 255
            assert np.abs(back - probs[k]).max() <= 0.5 / 255 + 1e-6
        if 7 not in ids:
            assert not np.array(Image.open(tmp_path / "soft" / "7" / f"{name}.png")).any()


def test_soft_npz_reads_back_within_float16(tmp_path):
    frames = _frames()
    _feed(SoftNpzWriter(tmp_path / "soft"), frames)
    assert _files(tmp_path / "soft") == [f"f{t:03d}.npz" for t in range(5)]
    for t, name, _, probs, ids in frames:
        data = np.load(tmp_path / "soft" / f"{name}.npz")
        assert data["probs"].dtype == np.float16 and data["probs"].shape == (len(ids), H, W)
        assert data["object_ids"].tolist() == list(ids)
        assert np.abs(data["probs"].astype(np.float32) - probs).max() <= 2.0 ** -12  # half-ulp at [0.5, 1)


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_matte_all_decodes_to_exactly_the_union_of_the_masks(tmp_path, suffix):
    frames = _frames()
    path = tmp_path / f"matte{suffix}"
    _feed(MatteVideoWriter(path, W, H, Fraction(25), None, "all"), frames)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == {".mov": "png", ".mkv": "ffv1"}[suffix]
        decoded = [f.to_ndarray(format="gray") for f in container.decode(stream)]
    assert len(decoded) == len(frames)
    for back, (_, _, labels, _, _) in zip(decoded, frames):
        np.testing.assert_array_equal(back, np.where(labels > 0, 255, 0).astype(np.uint8))  # lossless: exact
    assert _files(tmp_path) == [path.name]  # no temporary file left


def test_matte_per_object_lines_up_with_the_video(tmp_path):
    frames = _frames()
    path = tmp_path / "m.mkv"
    writer = MatteVideoWriter(path, W, H, 30, None, "per-object")
    _feed(writer, frames)
    assert writer.files() == {3: tmp_path / "m_3.mkv", 7: tmp_path / "m_7.mkv"}
    for oid in (3, 7):
        with av.open(str(per_object_matte_path(path, oid))) as container:
            decoded = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        assert len(decoded) == len(frames)  # object 7 appears on frame 2: black frames before it
        for back, (_, _, labels, _, _) in zip(decoded, frames):
            np.testing.assert_array_equal(back, np.where(labels == oid, 255, 0).astype(np.uint8))


def test_rle_json_decodes_to_the_masks_with_names_and_size(tmp_path):
    frames = _frames()
    path = tmp_path / "masks.json"
    _feed(RleJsonWriter(path, W, H), frames)
    data = json.loads(path.read_text())
    assert (data["format"], data["width"], data["height"], data["object_ids"]) == ("coco-rle", W, H, [3, 7])
    assert [f["name"] for f in data["frames"]] == [name for _, name, _, _, _ in frames]
    for entry, (t, _, labels, _, ids) in zip(data["frames"], frames):
        assert entry["index"] == t and sorted(entry["objects"]) == sorted(map(str, ids))
        for oid in ids:
            rle = entry["objects"][str(oid)]
            assert rle["size"] == [H, W]
            np.testing.assert_array_equal(mask_utils.decode(rle), (labels == oid).astype(np.uint8))


class _Boom(Exception):
    pass


def _fail_after(writer, frames, monkeypatch, target, name):
    """Feed two frames, then make the writer's save step raise; the run aborts."""
    calls = {"n": 0}
    original = getattr(target, name)

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise _Boom("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)
    with pytest.raises(_Boom):
        for index, name_, labels, probs, ids in frames:
            writer.write(index, name_, labels, probs, ids, None)
        writer.close()
    writer.abort()


def test_a_failing_stream_leaves_no_partial_file(tmp_path, monkeypatch):
    import vostool.io.matte as matte_module
    import vostool.io.rle_json as rle_module

    frames = _frames()
    rle = RleJsonWriter(tmp_path / "r.json", W, H)
    _fail_after(rle, frames, monkeypatch, rle_module, "encode_masks")
    matte = MatteVideoWriter(tmp_path / "m.mov", W, H, 25, None, "all")
    _fail_after(matte, frames, monkeypatch, matte_module._MatteEncoder, "encode")
    assert _files(tmp_path) == []  # neither the JSON nor the video, nor their temporary files


def test_a_failing_image_save_leaves_only_whole_files(tmp_path, monkeypatch):
    import vostool.io.masks as masks_module

    saved = []
    original = masks_module.os.replace

    def replace(src, dst):
        if len(saved) >= 3:
            raise OSError(28, "No space left on device")
        saved.append(dst)
        return original(src, dst)

    monkeypatch.setattr(masks_module.os, "replace", replace)
    writer = PerObjectMaskWriter(tmp_path / "obj")
    with pytest.raises(OutputError, match="No space left"):
        _feed(writer, _frames())
    writer.abort()
    files = _files(tmp_path / "obj")
    assert files == sorted(p.relative_to(tmp_path / "obj").as_posix() for p in saved)  # no .partial left
    for path in saved:
        assert Image.open(path).size == (W, H)


def test_overwrite_removes_stale_files_of_an_earlier_run(tmp_path):
    _feed(PerObjectMaskWriter(tmp_path / "obj"), _frames(5))
    _feed(PerObjectMaskWriter(tmp_path / "obj", overwrite=True), _frames(2))  # only object 3, two frames
    assert _files(tmp_path / "obj") == ["3/f000.png", "3/f001.png"]


def test_export_options_check_paths_without_side_effects(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.png").write_bytes(b"")
    (tmp_path / "m_2.mov").write_bytes(b"")
    cases = [
        (ExportOptions(soft=tmp_path / "full"), OutputError, "not empty"),
        (ExportOptions(per_object=tmp_path / "m_2.mov"), OutputError, "is a file"),
        (ExportOptions(soft=tmp_path / "a", per_object=tmp_path / "a"), OptionError, "same folder"),
        (ExportOptions(soft=tmp_path / "a", soft_format="tiff"), OptionError, "--soft-format"),
        (ExportOptions(matte=tmp_path / "m.mp4"), OutputError, r"\.mov"),
        (ExportOptions(matte=tmp_path / "m.mov", matte_mode="per-object"), OutputError, "m_2.mov exists"),
        (ExportOptions(matte=tmp_path / "m.mov", matte_mode="each"), OptionError, "--matte-mode"),
        (ExportOptions(rle=tmp_path / "full"), OutputError, "is a folder"),
    ]
    for options, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            options.check(overwrite=False)
    ExportOptions(soft=tmp_path / "full", matte=tmp_path / "m.mov", matte_mode="per-object").check(overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "m_2.mov"]


def test_a_full_disk_is_a_one_line_output_error(tmp_path, monkeypatch):
    import vostool.io.matte as matte_module

    def full(self, plane, pts):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matte_module._MatteEncoder, "encode", full)
    writer = MatteVideoWriter(tmp_path / "m.mkv", W, H, 25)
    with pytest.raises(OutputError, match=r"cannot write matte .*m\.mkv: No space left"):
        _feed(writer, _frames())
    writer.abort()  # as the engine does after any error
    assert _files(tmp_path) == []
