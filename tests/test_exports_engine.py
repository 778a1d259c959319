"""The optional outputs through the engine and the command line: all of them in one run agree with the
indexed PNGs, sit at the video's resolution, are listed in vostool-run.json, and a failed run leaves
no partial file."""

import json

import av
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from typer.testing import CliRunner

from conftest import write_video
from fake_method import CopyMethod, CopyOptions
from vostool.cli import app
from vostool.engine import segment_video
from vostool.io.exports import ExportOptions


@pytest.fixture
def clip(tmp_path, small_clip):
    """The 6-frame 64x96 clip; object 1 from frame 0, object 2 from frame 3 (a --masks folder)."""
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.where(small_clip.labels[0] == 1, 1, 0).astype(np.uint8), mode="L").save(masks / "00000.png")
    Image.fromarray(np.where(small_clip.labels[3] == 2, 2, 0).astype(np.uint8), mode="L").save(masks / "00003.png")
    return video, masks


def _exports(tmp_path, soft_format="png"):
    return ExportOptions(soft=tmp_path / "soft", soft_format=soft_format, per_object=tmp_path / "objects",
                         matte=tmp_path / "matte.mkv", matte_mode="per-object", rle=tmp_path / "masks.json")


def _labels(out):
    return {p.stem: np.array(Image.open(p)) for p in sorted(out.glob("*.png"))}


def test_every_output_agrees_with_the_indexed_pngs(tmp_path, clip):
    video, masks = clip
    # size=32: the method runs at 32x48 and the engine upsamples its probabilities to 64x96
    segment_video(video, masks_dir=masks, method=CopyMethod(), out_dir=tmp_path / "out", size=32, progress=False,
                  exports=_exports(tmp_path))
    labels = _labels(tmp_path / "out")
    names = sorted(labels)
    assert len(names) == 6
    rle = json.loads((tmp_path / "masks.json").read_text())
    assert (rle["width"], rle["height"], rle["object_ids"]) == (96, 64, [1, 2])
    assert [f["name"] for f in rle["frames"]] == names
    soft_values = []
    for t, name in enumerate(names):
        for oid in (1, 2):
            binary = np.array(Image.open(tmp_path / "objects" / str(oid) / f"{name}.png"))
            np.testing.assert_array_equal(binary == 255, labels[name] == oid)
            soft = np.array(Image.open(tmp_path / "soft" / str(oid) / f"{name}.png"))
            assert soft.shape == (64, 96)  # the output resolution, not the processing one
            if oid == 2 and t < 3:
                assert not soft.any() and not binary.any()  # back-filled before the object appears
            else:
                soft_values.append(soft)
                assert soft[labels[name] == oid].mean() > 0.8 * 255 and soft[labels[name] != oid].mean() < 0.2 * 255
            if str(oid) in rle["frames"][t]["objects"]:
                np.testing.assert_array_equal(mask_utils.decode(rle["frames"][t]["objects"][str(oid)]),
                                              (labels[name] == oid).astype(np.uint8))
            else:
                assert oid == 2 and t < 3
    assert any(((v > 0) & (v < 255)).any() for v in soft_values)  # upsampled: soft edges, not a binary copy
    for oid in (1, 2):
        with av.open(str(tmp_path / f"matte_{oid}.mkv")) as container:
            decoded = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        assert len(decoded) == 6
        for back, name in zip(decoded, names):
            np.testing.assert_array_equal(back, np.where(labels[name] == oid, 255, 0).astype(np.uint8))
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    kinds = {e["kind"]: e for e in run["output"]["exports"]}
    assert set(kinds) == {"soft_png", "per_object_masks", "matte", "rle"}
    assert kinds["matte"]["files"] == {"1": str(tmp_path / "matte_1.mkv"), "2": str(tmp_path / "matte_2.mkv")}
    assert all(e["frames"] == 6 for e in kinds.values())


def test_soft_npz_holds_the_engine_probabilities(tmp_path, clip):
    video, masks = clip
    segment_video(video, masks_dir=masks, method=CopyMethod(), size=0, progress=False,
                  exports=ExportOptions(soft=tmp_path / "soft", soft_format="npz"))  # no --out: allowed
    files = sorted((tmp_path / "soft").glob("*.npz"))
    assert [p.stem for p in files] == [f"{i:05d}" for i in range(6)]
    first, last = np.load(files[0]), np.load(files[-1])
    assert first["object_ids"].tolist() == [1] and last["object_ids"].tolist() == [1, 2]
    assert last["probs"].shape == (2, 64, 96) and last["probs"].dtype == np.float16
    # size=0 and a copying method: the probabilities are the one-hot of the given masks
    mask2 = np.array(Image.open(masks / "00003.png")) == 2
    np.testing.assert_array_equal(last["probs"][1] == 1, mask2)


def test_a_failed_run_leaves_no_partial_output(tmp_path, clip):
    video, masks = clip
    with pytest.raises(RuntimeError, match="synthetic failure"):
        segment_video(video, masks_dir=masks, method=CopyMethod(CopyOptions(fail_at=4)), out_dir=tmp_path / "out",
                      size=0, progress=False, exports=_exports(tmp_path))
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".partial")]
    assert leftovers == []
    assert not (tmp_path / "masks.json").exists() and not list(tmp_path.glob("matte*.mkv"))
    assert len(list((tmp_path / "objects" / "1").glob("*.png"))) == 4  # the finished frames are whole
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    assert run["status"].startswith("failed") and len(run["output"]["exports"]) == 4


def test_cli_writes_every_output(tmp_path, small_clip, monkeypatch):
    from vostool import registry
    from vostool.cards import MethodCard

    # the copying method behind the command line: the test is about the outputs, not a network
    monkeypatch.setitem(registry.METHODS, "copy", MethodCard("copy", "fake_method:CopyMethod", "copies", "-"))
    video = write_video(tmp_path / "clip.mp4", small_clip.frames)
    Image.fromarray(small_clip.labels[0], mode="L").save(tmp_path / "mask.png")
    base = ["segment", video, "--mask", tmp_path / "mask.png", "--method", "copy", "--untrained", "--size", "0"]
    args = base + ["--out", tmp_path / "out", "--soft", tmp_path / "soft", "--soft-format", "npz",
                   "--per-object", tmp_path / "objects", "--matte", tmp_path / "matte.mov", "--rle", tmp_path / "masks.json"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "matte" in result.output and "rle" in result.output  # the summary lists them
    labels = _labels(tmp_path / "out")
    assert len(labels) == 6 and len(list((tmp_path / "soft").glob("*.npz"))) == 6
    with av.open(str(tmp_path / "matte.mov")) as container:
        decoded = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert len(decoded) == 6
    for back, name in zip(decoded, sorted(labels)):
        np.testing.assert_array_equal(back, np.where(labels[name] > 0, 255, 0).astype(np.uint8))
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    assert [e["kind"] for e in run["output"]["exports"]] == ["soft_npz", "per_object_masks", "matte", "rle"]
    # a second run without --overwrite: one line, exit 2, nothing touched
    again = CliRunner().invoke(app, [str(a) for a in base + ["--out", tmp_path / "o2", "--rle", tmp_path / "masks.json"]])
    assert again.exit_code == 2 and "masks.json exists" in again.output and "Traceback" not in again.output
    assert not (tmp_path / "o2").exists()
