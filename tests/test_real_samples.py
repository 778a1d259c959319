"""Real clips from ../shared/samples (skipped where ../shared is absent)."""

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from conftest import shared_path
from vostool.cli import app


def _segment(args):
    result = CliRunner().invoke(app, ["segment", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def test_bike_two_objects_keep_ids_and_palette(tmp_path):
    root = shared_path("samples", "cutie_examples")
    with Image.open(root / "Annotations/480p/bike/00000.png") as image:
        given = np.array(image)
        palette = image.getpalette()
    _segment([root / "JPEGImages/480p/bike", "--mask", root / "Annotations/480p/bike/00000.png", "--untrained",
              "--set", "backbone=resnet18", "--set", "fast=true", "--size", "240", "--out", tmp_path / "out", "--quiet"])
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == ["00000.png", "00001.png", "00002.png", "00003.png"]
    for name in names:
        with Image.open(tmp_path / "out" / name) as image:
            assert image.mode == "P" and image.size == (854, 480)
            assert image.getpalette()[:9] == palette[:9]
            assert set(np.unique(np.array(image))) <= {0, 1, 2}
    with Image.open(tmp_path / "out" / "00000.png") as image:
        assert np.array_equal(np.array(image), given)


def test_judo_objects_introduced_on_later_frames(tmp_path):
    _judo(tmp_path, ["--set", "backbone=resnet18", "--set", "fast=true", "--set", "refine=false", "--size", "240"])


def test_judo_with_stm_memory_groups_for_later_objects(tmp_path):
    _judo(tmp_path, ["--method", "stm", "--size", "120"])


def _judo(tmp_path, method_args):
    root = shared_path("samples", "cutie_examples")
    output = _segment([root / "JPEGImages/480p/judo", "--masks", root / "Annotations/480p/judo", "--untrained",
                       *method_args, "--out", tmp_path / "out"])
    assert "853x480" in output and "nearest" in output  # the 00005.png size mismatch is warned about
    run = json.loads((tmp_path / "out" / "vostool-run.json").read_text())
    assert run["object_ids"] == [1, 2, 3, 4]
    introduced = {0: 1, 5: 2, 8: 3, 13: 4}
    for t in range(16):
        with Image.open(tmp_path / "out" / f"{t:05d}.png") as image:
            labels = np.array(image)
        assert labels.shape == (480, 854)
        known = {0} | {oid for frame, oid in introduced.items() if frame <= t}
        assert set(np.unique(labels)) <= known, t
        if t in introduced:
            with Image.open(root / f"Annotations/480p/judo/{t:05d}.png") as image:
                given = np.array(image.resize((854, 480), Image.NEAREST))
            oid = introduced[t]
            assert np.array_equal(labels == oid, given == oid)
