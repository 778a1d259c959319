"""The fast paths of `vostool evaluate`: exact on ragged realistic masks, boundary maps in one call,
workers chosen from the load with the caller scoring too, and the OpenCV plots."""

import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import davis_reference as ref
from evaluate_data import write_davis
from vostool.evaluation import Protocol, evaluate_results, pngread
from vostool.evaluation.plots import plot_sequence, render
from vostool.evaluation.protocol import build_jobs
from vostool.evaluation.runner import default_workers, score_sequences
from vostool.metrics import boundary_map, seg2bmap

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import eval_data  # noqa: E402  (the benchmark's realistic masks)


def _realistic(seed: int, frames: int, objects: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = eval_data.ground_truth(rng, frames, None, objects)
    return gt, eval_data.predictions(rng, gt, objects)


def test_ragged_masks_with_holes_and_parts_score_exactly_like_the_reference(tmp_path):
    gts, results = {}, {}
    for s, objects in enumerate((1, 3, 4)):
        gts[f"s{s}"], results[f"s{s}"] = _realistic(s, 5, objects)
    gts["s2"][2] = 0  # a frame without any object in either map
    results["s2"][2] = 0
    folder = write_davis(tmp_path, gts, results)
    evaluation = evaluate_results(folder, tmp_path, report=tmp_path / "r", workers=1, plots=False)
    checked = 0
    for seq, gt in gts.items():
        J, F = ref.semi_supervised(gt, results[seq])
        for k in range(J.shape[0]):
            obj = next(o for o in evaluation.objects if o.name == f"{seq}_{k + 1}")
            assert np.array_equal(obj.J, J[k]) and np.array_equal(obj.F, F[k]), (seq, k)
            checked += 1
    assert checked == 8 and 0 < evaluation.scores["F-Mean"] < 1


def test_boundary_map_is_the_official_boundary_for_0_1_and_0_255_masks():
    rng = np.random.default_rng(3)
    for shape in ((1, 1), (1, 7), (6, 1), (13, 17), (40, 31)):
        for density in (0.1, 0.5, 0.9, 1.0):
            mask = rng.random(shape) < density
            expected = ref.boundary(mask)
            assert np.array_equal(seg2bmap(mask), expected), (shape, density)
            assert np.array_equal(boundary_map(mask.astype(np.uint8) * 255) > 0, expected), (shape, density)


def test_workers_follow_the_free_cpus():
    assert default_workers(cpus=2, load=0.2) == 2  # quiet
    assert default_workers(cpus=2, load=1.0) == 1  # one core busy elsewhere: one process
    assert default_workers(cpus=2, load=6.3) == 1  # busy: still one
    assert default_workers(cpus=8, load=3.2) == 5
    assert default_workers(cpus=4, load=0.0) == 4
    assert 1 <= default_workers() <= 4096


def test_helpers_and_the_caller_give_the_same_scores_in_order(tmp_path):
    gts, results = {}, {}
    for s in range(5):
        gts[f"q{s}"], results[f"q{s}"] = _realistic(10 + s, 3 + s, 2)
    folder = write_davis(tmp_path, gts, results)
    jobs = build_jobs(tmp_path, Protocol(), folder)
    alone = score_sequences(jobs, workers=1)
    (tmp_path / "plots").mkdir()
    shared = score_sequences(jobs, workers=3, plot_dir=tmp_path / "plots")
    assert [s.name for s in shared] == [s.name for s in alone] == [f"q{s}" for s in range(5)]
    for a, b in zip(alone, shared):
        assert np.array_equal(a.J, b.J) and np.array_equal(a.F, b.F)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [f"q{s}.png" for s in range(5)]


def test_plot_png_holds_the_rendered_image_and_the_object_colours(tmp_path):
    J = np.linspace(0, 1, 30)[None].repeat(2, 0)
    F = J[::-1].copy()
    frames = [f"{t:05d}" for t in range(1, 31)]
    plot_sequence(tmp_path / "p.png", "seq", frames, J, F, ["seq_1", "seq_2"])
    with Image.open(tmp_path / "p.png") as image:
        pixels = np.asarray(image.convert("RGB"))
    assert np.array_equal(pixels, render("seq", frames, J, F, ["seq_1", "seq_2"]))
    for colour in ((128, 0, 0), (0, 128, 0)):  # the DAVIS palette's objects 1 and 2 are drawn
        assert (pixels == colour).all(axis=2).sum() > 20  # anti-aliased: the line cores and markers
    many = render("crowd", ["a", "b"], np.ones((25, 2)), np.zeros((25, 2)), [f"crowd_{k}" for k in range(25)])
    assert many.shape == pixels.shape and not np.array_equal(many, pixels)


def test_the_standard_zlib_reads_the_same_labels(tmp_path, monkeypatch):
    gt, _ = _realistic(7, 3, 3)
    eval_data.save_labels(tmp_path / "m.png", gt[1])  # as PIL writes indexed masks: the fast path
    fast = pngread.read_simple_png(str(tmp_path / "m.png"))
    assert fast is not None
    monkeypatch.setattr(pngread, "ZLIB", zlib)
    assert np.array_equal(pngread.read_simple_png(str(tmp_path / "m.png")), fast)
    assert np.array_equal(fast, gt[1])
