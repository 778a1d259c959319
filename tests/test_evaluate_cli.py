"""`vostool evaluate` on the command line: the table, and every bad input as one line with exit code 2."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from evaluate_data import box, save_png, write_davis
from vostool.cli import app
from vostool.data.sequences import official_frame_id, official_png_files

runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _one_line_error(code, output, *fragments):
    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture
def dataset(tmp_path):
    shape = (12, 16)
    gt = np.stack([box(shape, (2, 8), (3 + t, 10 + t), 1) + box(shape, (9, 12), (0, 5), 2) for t in range(5)])
    res = gt.copy()
    res[2][res[2] == 2] = 0
    results = write_davis(tmp_path / "davis", {"s1": gt, "s2": gt}, {"s1": res, "s2": gt})
    return tmp_path / "davis", results, gt


def test_scores_and_prints_the_protocol_and_table(tmp_path, dataset):
    root, results, _ = dataset
    code, output = _run("evaluate", "--root", root, "--results", results, "--report", tmp_path / "rep", "--no-plots")
    assert code == 0, output
    assert "semi-supervised" in output and "first and last" in output
    assert "s1_2" in output and "global, 4 objects" in output and "frames/s" in output
    assert (tmp_path / "rep" / "per-sequence_results-val.csv").read_text().splitlines() == [
        "Sequence,J-Mean,F-Mean", "s1_1,1.000,1.000", "s1_2,0.667,0.667", "s2_1,1.000,1.000", "s2_2,1.000,1.000"]
    code, output = _run("evaluate", "--root", root, "--results", results, "--report", tmp_path / "rep", "--no-plots")
    _one_line_error(code, output, "already holds a report", "--overwrite")
    code, output = _run("evaluate", "--root", root, "--results", results, "--report", tmp_path / "rep", "--overwrite", "-q")
    assert code == 0 and output.strip() == "", output


def test_bad_results_name_the_file(tmp_path, dataset):
    root, results, gt = dataset
    report = ["--report", tmp_path / "rep", "--no-plots", "--workers", "1"]
    base = ["evaluate", "--root", root, "--results", results, *report]

    (results / "s2" / "00002.png").unlink()
    _one_line_error(*_run(*base), "missing result frame", str(results / "s2" / "00002.png"))
    save_png(results / "s2" / "00002.png", gt[2])

    save_png(results / "s1" / "00003.png", np.where(gt[3] == 2, 3, gt[3]))
    _one_line_error(*_run(*base), "00003.png", "object id 3", "2 object(s)")
    save_png(results / "s1" / "00003.png", gt[3])

    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(results / "s1" / "00001.png")
    _one_line_error(*_run(*base), "00001.png", "RGB")
    save_png(results / "s1" / "00001.png", np.zeros((12, 17), np.uint8))
    _one_line_error(*_run(*base), "00001.png", "16x12")
    save_png(results / "s1" / "00001.png", gt[1])

    (results / "s2").rename(results / "moved")
    _one_line_error(*_run(*base), "results for sequence s2 not found")
    _one_line_error(*_run("evaluate", "--root", root, "--results", tmp_path / "nothing", *report), "results folder not found")
    assert not (tmp_path / "rep").exists()  # nothing half-written


def test_bad_datasets_name_the_file(tmp_path, dataset):
    root, results, gt = dataset
    report = ["--report", tmp_path / "rep", "--no-plots"]
    _one_line_error(*_run("evaluate", "--root", root, "--results", results, "--split", "train", *report),
                    "split file not found", "train.txt")
    _one_line_error(*_run("evaluate", "--root", root, "--results", results, "--split", "nope", *report), "--split nope")
    (root / "Annotations/480p/s2/00004.png").unlink()
    _one_line_error(*_run("evaluate", "--root", root, "--results", results, *report), "s2", "no annotation for 00004.jpg")
    for path in (root / "Annotations/480p/s2").iterdir():
        path.unlink()
    _one_line_error(*_run("evaluate", "--root", root, "--results", results, *report), "sequence s2 is empty")
    for t in range(2):
        save_png(root / "Annotations/480p/s2" / f"{t:05d}.png", gt[t])
    for t in range(2, 5):
        (root / "JPEGImages/480p/s2" / f"{t:05d}.jpg").unlink()
    _one_line_error(*_run("evaluate", "--root", root, "--results", results, *report), "s2 has 2 annotated frames")
    _one_line_error(*_run("evaluate", "--root", tmp_path / "none", "--results", results, *report), "folder not found")
    _one_line_error(*_run("evaluate", "--root", root, *report), "--results DIR")
    _one_line_error(*_run("evaluate", "--root", root, "--results", results, "--method", "frtm", *report), "not both")
    _one_line_error(*_run("evaluate", "--root", root, "--results", results, "--task", "x", *report), "--task x")


def test_official_file_order_and_frame_ids(tmp_path):
    for name in ["10.png", "2.png", "1.png", ".hidden.png", "a.b.png", "x.jpg"]:
        (tmp_path / name).write_bytes(b"")
    files = official_png_files(tmp_path)
    assert [p.name for p in files] == ["1.png", "10.png", "2.png", "a.b.png"]
    assert [official_frame_id(p) for p in files] == ["1", "10", "2", "ab"]
