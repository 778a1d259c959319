"""`evaluate` with a method: every sequence segmented through the engine, then scored or zipped
(DAVIS 2017/2016, DAVIS test-dev zips, YouTube-VOS submissions)."""

import json
import zipfile

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from evaluate_data import box, save_png, write_davis, write_ytvos
from fake_method import CopyMethod
from vostool.cli import app
from vostool.evaluation import EngineSettings, Protocol, evaluate_davis, evaluate_ytvos


def _moving(shape, T, ids=(1, 2)):
    out = np.zeros((T, *shape), np.uint8)
    for t in range(T):
        for k in ids:
            out[t][2 + 3 * k:6 + 3 * k, 2 + t + 4 * k:8 + t + 4 * k] = k
    return out


def _read(path):
    with Image.open(path) as image:
        return image.mode, np.array(image)


def test_davis17_segments_every_sequence_from_its_first_frame_then_scores(tmp_path):
    shape = (20, 30)
    gt = _moving(shape, 5)
    gt[:, 0:3, 0:6] = 255  # void: must not become an object of the input mask
    write_davis(tmp_path / "davis", {"a": gt, "b": gt[:, ::-1].copy()})
    method = CopyMethod()
    outcome = evaluate_davis(tmp_path / "davis", Protocol(), engine=EngineSettings(method), out=tmp_path / "masks",
                             workers=1, plots=False)
    assert [s.object_ids for s in method.sessions] == [(1, 2), (1, 2)]
    for seq in ("a", "b"):
        files = sorted((tmp_path / "masks" / seq).glob("*.png"))
        assert [p.stem for p in files] == [f"{t:05d}" for t in range(5)]
        mode, labels = _read(files[-1])
        assert mode == "P" and set(np.unique(labels)) == {0, 1, 2}  # the copy of frame 0, void removed
    evaluation = outcome.evaluation
    assert outcome.report == tmp_path / "masks-report" and (outcome.report / "global_results-val.csv").is_file()
    assert [o.name for o in evaluation.objects] == ["a_1", "a_2", "b_1", "b_2"]
    assert 0 < evaluation.scores["J-Mean"] < 1  # objects move, the copy does not
    run = json.loads((outcome.report / "evaluation.json").read_text())
    assert run["method"] == "copy" and [r["sequence"] for r in run["runs"]] == ["a", "b"]


def test_davis16_merges_the_objects_of_the_input_mask(tmp_path):
    shape = (16, 24)
    gt = _moving(shape, 4)
    write_davis(tmp_path / "davis", {"s": gt}, year="2016")
    method = CopyMethod()
    outcome = evaluate_davis(tmp_path / "davis", Protocol("davis16"), engine=EngineSettings(method),
                             out=tmp_path / "masks", workers=1, plots=False)
    assert method.sessions[0].object_ids == (1,)
    assert [o.name for o in outcome.evaluation.objects] == ["s_1"]


def test_davis_test_dev_zip_has_sequence_folders_at_the_root(tmp_path):
    shape = (12, 16)
    first = _moving(shape, 1)[0]
    root = tmp_path / "davis"
    for seq in ("x", "y"):
        for t in range(3):
            Image.fromarray(np.zeros((*shape, 3), np.uint8)).save(_jpg(root / "JPEGImages/480p" / seq / f"{t:05d}.jpg"))
        save_png(root / "Annotations/480p" / seq / "00000.png", first)  # test-dev: only the first frame
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/test-dev.txt").write_text("x\ny\n")
    outcome = evaluate_davis(root, Protocol(split="test-dev"), engine=EngineSettings(CopyMethod()), out=tmp_path / "m")
    assert outcome.evaluation is None and outcome.zip == tmp_path / "m.zip"
    with zipfile.ZipFile(outcome.zip) as archive:
        names = archive.namelist()
    assert [n for n in names if not n.endswith("/")] == [f"{s}/{t:05d}.png" for s in "xy" for t in range(3)]


def _jpg(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_youtube_vos_submission_has_only_the_listed_frames(tmp_path):
    shape = (18, 24)
    labels = _moving(shape, 16, ids=(1,))
    labels[10:, 12:16, 2:6] = 2  # object 2 first appears at frame 10
    write_ytvos(tmp_path / "yt", {"v1": labels, "v2": _moving(shape, 11, ids=(1,))})
    method = CopyMethod()
    outcome = evaluate_ytvos(tmp_path / "yt", engine=EngineSettings(method), out=tmp_path / "sub", all_frames=True)
    assert method.sessions[0].object_ids == (1, 2) and method.sessions[0].frames == 16  # every frame was run
    with zipfile.ZipFile(outcome.zip) as archive:
        files = [n for n in archive.namelist() if not n.endswith("/")]
        assert "Annotations/" in archive.namelist()
        assert files == [f"Annotations/v1/{t:05d}.png" for t in (0, 5, 10, 15)] + \
            [f"Annotations/v2/{t:05d}.png" for t in (0, 5, 10)]
        with archive.open("Annotations/v1/00015.png") as handle:
            image = Image.open(handle)
            assert image.mode == "P" and image.size == (24, 18)
            assert set(np.unique(np.array(image))) == {0, 1, 2}  # object 2 joined on frame 10
    assert sorted(p.name for p in (tmp_path / "sub/Annotations/v1").glob("*.png")) == [f"{t:05d}.png" for t in (0, 5, 10, 15)]
    # existing results are zipped the same way; a missing listed frame is an error naming it
    (tmp_path / "sub/Annotations/v2/00010.png").unlink()
    code, output = _cli("evaluate", "--dataset", "ytvos", "--root", tmp_path / "yt", "--results", tmp_path / "sub",
                        "--zip", tmp_path / "again.zip")
    assert code == 2 and "missing result frame" in output and "00010.png" in output
    # an object meta.json lists but no annotation draws would silently never be segmented
    (tmp_path / "yt/valid/Annotations/v1/00010.png").unlink()
    code, output = _cli("evaluate", "--dataset", "ytvos", "--root", tmp_path / "yt", "--method", "frtm", "--untrained",
                        "--out", tmp_path / "sub2")
    assert code == 2 and "object 2 starts on frame 00010" in output


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_frtm_untrained_end_to_end(tmp_path):
    shape = (48, 64)
    gt = _moving(shape, 4)
    write_davis(tmp_path / "davis", {"s": gt})
    code, output = _cli("evaluate", "--root", tmp_path / "davis", "--method", "frtm", "--untrained", "--set",
                        "backbone=resnet18", "--set", "fast=true", "--set", "refine=false", "--size", "0",
                        "--device", "cpu", "--out", tmp_path / "masks", "--no-plots", "--workers", "1")
    assert code == 0, output
    assert "s_1" in output and "s_2" in output and "global, 2 objects" in output
    assert len(list((tmp_path / "masks/s").glob("*.png"))) == 4
    assert (tmp_path / "masks-report/per-sequence_results-val.csv").is_file()
    code, output = _cli("evaluate", "--root", tmp_path / "davis", "--method", "frtm", "--untrained",
                        "--out", tmp_path / "masks", "--no-plots")
    assert code == 2 and "already holds a report" in output  # finished: nothing to continue
    code, output = _cli("evaluate", "--root", tmp_path / "davis", "--method", "frtm", "--untrained",
                        "--task", "unsupervised", "--out", tmp_path / "other")
    assert code == 2 and "--results" in output


class _FailOn(CopyMethod):
    """CopyMethod whose sessions number ``fail`` (0 = the first created) fail on their second frame."""

    def __init__(self, fail=()):
        super().__init__()
        self.fail = set(fail)

    def new_session(self):
        number = len(self.sessions)
        session = super().new_session()
        step = session.step

        def failing_step(frame, mask=None):
            if number in self.fail and session.frames >= 1:
                raise RuntimeError("synthetic failure\nsecond line")
            return step(frame, mask)

        session.step = failing_step
        return session


def test_a_failing_sequence_does_not_lose_the_others_and_a_rerun_continues(tmp_path):
    """Issue 21: every other sequence is finished, the failure is listed, the run raises after all of them;
    the same command again keeps the finished sequences and redoes only the failed one."""
    from vostool.errors import OutputError, SequencesFailed

    gt = _moving((20, 30), 4)
    write_davis(tmp_path / "davis", {"a": gt, "b": gt[:, ::-1].copy(), "c": gt[:, :, ::-1].copy()})
    method = _FailOn({1})  # the second sequence, b
    settings = EngineSettings(method)
    with pytest.raises(SequencesFailed, match="1 of 3 sequences failed.*b: RuntimeError: synthetic failure") as caught:
        evaluate_davis(tmp_path / "davis", Protocol(), engine=settings, out=tmp_path / "masks", workers=1, plots=False)
    assert caught.value.failures == [("b", "RuntimeError: synthetic failure")] and caught.value.exit_code == 1
    assert len(method.sessions) == 3 and len(list((tmp_path / "masks/c").glob("*.png"))) == 4
    assert not (tmp_path / "masks-report").exists()  # no J&F over a subset
    method.fail = set()
    outcome = evaluate_davis(tmp_path / "davis", Protocol(), engine=settings, out=tmp_path / "masks", workers=1,
                             plots=False)
    assert len(method.sessions) == 4  # only b again: a and c were kept
    assert [(r["sequence"], r["status"]) for r in outcome.runs] == [("a", "kept"), ("b", "ok"), ("c", "kept")]
    assert [o.name for o in outcome.evaluation.objects] == ["a_1", "a_2", "b_1", "b_2", "c_1", "c_2"]
    # a finished sequence whose PNG went missing is not complete: it is segmented again
    (tmp_path / "masks/a/00002.png").unlink()
    outcome = evaluate_davis(tmp_path / "davis", Protocol(), engine=settings, out=tmp_path / "masks", workers=1,
                             plots=False, report=tmp_path / "report2")
    assert len(method.sessions) == 5 and (tmp_path / "masks/a/00002.png").is_file()
    assert [r["status"] for r in outcome.runs] == ["ok", "kept", "kept"]
    # other settings, or files vostool did not write, still need --overwrite
    with pytest.raises(OutputError, match="other settings \\(size differ\\)"):
        evaluate_davis(tmp_path / "davis", Protocol(), engine=EngineSettings(method, size=10), out=tmp_path / "masks",
                       workers=1, plots=False, report=tmp_path / "report3")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="notes.txt, which is not a sequence"):
        evaluate_davis(tmp_path / "davis", Protocol(), engine=settings, out=tmp_path / "mine", workers=1, plots=False)


def test_a_failing_youtube_vos_video_does_not_lose_the_others_and_a_rerun_continues(tmp_path):
    from vostool.errors import SequencesFailed

    shape = (18, 24)
    write_ytvos(tmp_path / "yt", {"v1": _moving(shape, 11, ids=(1,)), "v2": _moving(shape, 11, ids=(1,)),
                                  "v3": _moving(shape, 11, ids=(1,))})
    method = _FailOn({1})  # the second video, v2
    settings = EngineSettings(method)
    with pytest.raises(SequencesFailed, match="1 of 3 sequences failed.*v2: RuntimeError: synthetic failure"):
        evaluate_ytvos(tmp_path / "yt", engine=settings, out=tmp_path / "sub", all_frames=True)
    assert len(method.sessions) == 3 and not (tmp_path / "sub.zip").exists()  # no submission with a hole
    method.fail = set()
    outcome = evaluate_ytvos(tmp_path / "yt", engine=settings, out=tmp_path / "sub", all_frames=True)
    assert len(method.sessions) == 4  # only v2 again
    assert [(r["sequence"], r["status"]) for r in outcome.runs] == [("v1", "kept"), ("v2", "ok"), ("v3", "kept")]
    with zipfile.ZipFile(outcome.zip) as archive:
        assert sorted(n for n in archive.namelist() if n.endswith(".png")) == \
            [f"Annotations/{v}/{t:05d}.png" for v in ("v1", "v2", "v3") for t in (0, 5, 10)]


def test_cli_lists_the_failed_sequences_and_exits_non_zero(tmp_path, monkeypatch):
    from vostool.evaluation import api
    from vostool.errors import SequencesFailed

    def failing(*args, **kwargs):
        raise SequencesFailed("2 of 3 sequences failed (first: a: boom)", [("a", "boom"), ("c", "bang")])

    monkeypatch.setattr(api, "evaluate_davis", failing)
    write_davis(tmp_path / "davis", {"a": _moving((20, 30), 3)})
    code, output = _cli("evaluate", "--root", tmp_path / "davis", "--method", "frtm", "--untrained", "--out",
                        tmp_path / "m")
    assert code == 1 and "failed: a: boom" in output and "failed: c: bang" in output and "2 of 3" in output
