"""Scoring whole DAVIS-layout sets: the official numbers on the conformance sets, every protocol rule on
hand-built sequences (checked against a literal reference), unsupervised matching, DAVIS 2016, the
Decay wrap, and the report folder."""

import filecmp
import json
import math

import numpy as np
import pytest

import davis_reference as ref
from conftest import shared_path
from evaluate_data import box, write_davis
from vostool.evaluation import Protocol, evaluate_results
from vostool.evaluation.report import default_report_dir
from vostool.errors import OutputError


def _csv_rows(path):
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


@pytest.mark.parametrize("name", ["davis_small", "davis_720p"])
def test_conformance_sets_equal_the_official_numbers(tmp_path, name):
    root = shared_path("conformance", name)
    official = root / "official"
    evaluation = evaluate_results(root / "results/synth", root, Protocol(), report=tmp_path / "report", workers=2, plots=False)
    report = tmp_path / "report"
    for csv_name in ("global_results-val.csv", "per-sequence_results-val.csv"):
        assert filecmp.cmp(report / csv_name, official / csv_name, shallow=False), csv_name
    frames = json.loads((official / "per_frame.json").read_text())
    ours = {o.name: o for o in evaluation.objects}
    assert list(ours) == list(frames)
    worst = 0.0
    for key, values in frames.items():
        assert ours[key].frames == values["frames"]
        worst = max(worst, np.abs(ours[key].J - values["J"]).max(), np.abs(ours[key].F - values["F"]).max())
    for row in _csv_rows(official / "per_object_full_precision.csv"):
        o = ours[row["Sequence"]]
        for column, value in (("J-Mean", o.j.mean), ("J-Recall", o.j.recall), ("J-Decay", o.j.decay),
                              ("F-Mean", o.f.mean), ("F-Recall", o.f.recall), ("F-Decay", o.f.decay)):
            worst = max(worst, abs(float(row[column]) - value))
    (row,) = _csv_rows(official / "global_full_precision.csv")
    for column, value in evaluation.scores.items():
        worst = max(worst, abs(float(row[column]) - value))
    assert worst <= 1e-9, worst
    ours_full = _csv_rows(report / "per-object_full_precision-val.csv")
    assert [r["Sequence"] for r in ours_full] == [r["Sequence"] for r in _csv_rows(official / "per_object_full_precision.csv")]


def _rules_set(tmp_path):
    """Three sequences exercising the rules, with unpadded frame names (lexicographic order differs)."""
    shape = (24, 32)
    T = 12
    names = [str(t) for t in range(T)]  # "0", "1", ..., "11": official order 0, 1, 10, 11, 2, ...
    gt_a = np.zeros((T, *shape), np.uint8)
    res_a = np.zeros_like(gt_a)
    for t in range(T):
        gt_a[t] = box(shape, (2, 10), (0 + t % 3, 9 + t % 3), 1)  # touches the left edge on some frames
        gt_a[t][14:24, 20:32] = 3  # touches the bottom and right edges; id 2 is a gap
        gt_a[t][0:4, 26:32] = 255  # void in the top-right corner
        if t >= 5:
            gt_a[t][16:20, 2:8] = 4  # appears later with an id above N=3: ignored
        res_a[t] = box(shape, (2, 10), (1, 10), 1)
        res_a[t][13:24, 21:32] = 3
        res_a[t][0:3, 27:32] = 1  # predicted inside the void: false positives in semi-supervised
    gt_a[7][gt_a[7] == 1] = 0  # object 1 leaves on one frame
    res_a[9][res_a[9] == 3] = 0  # and the result misses object 3 once
    gt_b = np.zeros((T, *shape), np.uint8)
    res_b = np.zeros_like(gt_b)
    for t in range(T):
        gt_b[t] = box(shape, (0, 24), (0, 32), 1)  # the whole frame: no boundary at all
        res_b[t] = box(shape, (0, 24), (0, 30), 1) if t % 2 else box(shape, (0, 24), (0, 32), 1)
    gt_c = np.zeros((T, *shape), np.uint8)
    res_c = np.zeros_like(gt_c)
    for t in range(T):
        gt_c[t] = box(shape, (5, 12), (5, 15), 1)
        gt_c[t][15:20, 18:30] = 2
        res_c[t] = box(shape, (6, 13), (4, 16), 1)  # object 2 never predicted
    gts = {"a": gt_a, "b": gt_b, "c": gt_c}
    results = write_davis(tmp_path, gts, {"a": res_a, "b": res_b, "c": res_c}, names=names)
    order = sorted(range(T), key=lambda t: names[t] + ".png")
    return results, gts, {"a": res_a, "b": res_b, "c": res_c}, names, order


def test_rules_match_the_reference_in_the_official_frame_order(tmp_path):
    results, gts, res, names, order = _rules_set(tmp_path)
    # The first and last frames in the official order are never opened.
    (results / "a" / f"{names[order[0]]}.png").unlink()
    (results / "a" / f"{names[order[-1]]}.png").unlink()
    single = evaluate_results(results, tmp_path, report=tmp_path / "r1", workers=1, plots=False)
    multi = evaluate_results(results, tmp_path, report=tmp_path / "r2", workers=2, plots=True)
    assert [o.name for o in single.objects] == ["a_1", "a_2", "a_3", "b_1", "c_1", "c_2"]
    for seq in ("a", "b", "c"):
        J, F = ref.semi_supervised(gts[seq][order], res[seq][order])
        for k in range(J.shape[0]):
            for evaluation in (single, multi):
                obj = next(o for o in evaluation.objects if o.name == f"{seq}_{k + 1}")
                assert obj.frames == [names[t] for t in order[1:-1]]
                assert np.array_equal(obj.J, J[k]) and np.array_equal(obj.F, F[k]), (seq, k)
                assert (obj.j.mean, obj.j.recall, obj.j.decay) == ref.stats(J[k])
    a2 = next(o for o in single.objects if o.name == "a_2")
    assert a2.j.mean == a2.f.mean == 1.0  # the gap id: empty in ground truth and result on every frame
    c2 = next(o for o in single.objects if o.name == "c_2")
    assert c2.j.mean == c2.f.mean == 0.0  # never predicted
    assert single.scores == multi.scores
    j_means = [o.j.mean for o in single.objects]
    assert single.scores["J-Mean"] == np.mean(j_means)  # global = mean over objects, not sequences
    assert single.scores["J&F-Mean"] == (np.mean(j_means) + np.mean([o.f.mean for o in single.objects])) / 2
    assert sorted(p.name for p in (tmp_path / "r2/plots").iterdir()) == ["a.png", "b.png", "c.png"]


def test_unsupervised_matches_result_ids_to_objects_like_the_official_code(tmp_path):
    shape = (20, 30)
    T = 6
    gt = np.zeros((T, *shape), np.uint8)
    res = np.zeros_like(gt)
    for t in range(T):
        gt[t] = box(shape, (2, 8), (2 + t, 10 + t), 1)
        gt[t][10:18, 15:25] = 2
        gt[t][0:2, 0:30] = 255
        res[t] = box(shape, (10, 18), (15, 24), 1)  # result 1 is object 2
        res[t][2:8, 3 + t:10 + t] = 2  # result 2 is object 1
        res[t][0:2, 0:10] = 3  # a proposal entirely in the void
        res[t][19:20, 0:5] = 3
    results = write_davis(tmp_path, {"s": gt}, {"s": res}, annotations="Annotations_unsupervised")
    evaluation = evaluate_results(results, tmp_path, Protocol(task="unsupervised"), report=tmp_path / "r", plots=False)
    J, F, matches = ref.unsupervised(gt, res)
    assert [o.match for o in evaluation.objects] == matches == [(1, 2), (2, 1)]
    for k, obj in enumerate(evaluation.objects):
        assert obj.name == f"s_{k + 1}" and len(obj.frames) == T
        assert np.array_equal(obj.J, J[k]) and np.array_equal(obj.F, F[k])
    from evaluate_data import save_png
    from vostool.errors import ResultsError

    save_png(results / "s" / "00003.png", np.full(shape, 21, np.uint8))
    with pytest.raises(ResultsError, match="00003.png: result id 21; .* at most 20"):
        evaluate_results(results, tmp_path, Protocol(task="unsupervised"), report=tmp_path / "r2", plots=False)


def test_davis16_merges_ids_and_reads_0_255_masks(tmp_path):
    shape = (16, 20)
    gt = np.stack([box(shape, (2, 9), (3, 12), 255) for _ in range(5)])
    res = np.stack([box(shape, (2, 9), (3, 8), 1) + box(shape, (2, 9), (8, 12), 2) for _ in range(5)])
    results = write_davis(tmp_path, {"s": gt}, {"s": res}, year="2016")
    evaluation = evaluate_results(results, tmp_path, Protocol("davis16"), report=tmp_path / "r", plots=False)
    (obj,) = evaluation.objects
    assert obj.j.mean == obj.f.mean == 1.0
    with pytest.raises(Exception, match="DAVIS 2017|no object|object id"):
        # the 2017 rules see 0 objects in 0/255 ground truth (255 is void), and the results then have ids above 0
        evaluate_results(results, tmp_path, Protocol("folder", None), report=tmp_path / "r2", plots=False)


def test_decay_on_long_sequences_is_correct_and_the_official_difference_is_reported(tmp_path):
    shape = (6, 8)
    T = 262  # 260 scored frames: the official uint8 bin indices wrap
    gt = np.stack([box(shape, (1, 5), (1, 6), 1) for _ in range(T)])
    res = gt.copy()
    res[200:] = 0  # lost at the end
    results = write_davis(tmp_path, {"long": gt}, {"long": res})
    evaluation = evaluate_results(results, tmp_path, report=tmp_path / "r", plots=False)
    (obj,) = evaluation.objects
    values = obj.J
    assert obj.j.decay == np.mean(values[0:66]) - np.mean(values[194:260])
    assert math.isnan(obj.j.official_decay) and math.isnan(evaluation.official_scores["J-Decay"])
    assert any("uint8" in note and "long_1" in note for note in evaluation.notes)
    assert "uint8" in (tmp_path / "r/report.md").read_text()


def test_report_folder_is_never_reused_silently(tmp_path):
    shape = (10, 12)
    gt = np.stack([box(shape, (2, 6), (2, 7), 1) for _ in range(4)])
    results = write_davis(tmp_path, {"s": gt}, {"s": gt})
    evaluation = evaluate_results(results, tmp_path, plots=False)
    report = default_report_dir(results)
    assert evaluation.report_dir == report and report == tmp_path / "results-report"
    files = sorted(p.name for p in report.iterdir())
    assert files == ["evaluation.json", "global_full_precision-val.csv", "global_results-val.csv", "per-frame-val.json",
                     "per-object_full_precision-val.csv", "per-sequence_results-val.csv", "report.md"]
    assert (report / "global_results-val.csv").read_text() == (
        "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n1.000,1.000,1.000,0.000,1.000,1.000,0.000\n")
    per_frame = json.loads((report / "per-frame-val.json").read_text())
    assert per_frame == {"s_1": {"frames": ["00001", "00002"], "J": [1.0, 1.0], "F": [1.0, 1.0]}}
    header = (report / "report.md").read_text()
    assert "semi-supervised" in header and "first and last" in header and "480p" in header and "ids 1..N" in header
    assert "frame sizes: 12x10 (1 sequence, F radius 1 px)" in header
    with pytest.raises(OutputError, match="--overwrite"):
        evaluate_results(results, tmp_path, plots=False)
    (results / "s" / "00001.png").write_bytes((results / "s" / "00000.png").read_bytes())
    save = gt.copy()
    save[1] = 0
    from evaluate_data import save_png

    save_png(results / "s" / "00001.png", save[1])
    evaluation = evaluate_results(results, tmp_path, plots=False, overwrite=True)
    assert evaluation.scores["J-Mean"] == 0.5
    assert (report / "global_results-val.csv").read_text().splitlines()[1].startswith("0.500,0.500")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folders left
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not a vostool report"):
        evaluate_results(results, tmp_path, report=tmp_path / "precious", plots=False, overwrite=True)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep"
