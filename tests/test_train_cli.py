"""`vostool train` on the command line: a run, resuming, and every bad input as one line with exit code 2."""

import errno
import urllib.error

import pytest
import torch
from typer.testing import CliRunner

from vostool.cli import app

runner = CliRunner()
TINY = ["--set", "backbone=resnet18", "--set", "size=48,64", "--set", "batch_size=2", "--set", "workers=0",
        "--set", "tm_num_aug=3", "--set", "tm_init_iters=2,2", "--set", "tm_update_iters=2"]


def _train(tmp_path, *extra, name="cli"):
    args = ["train", "frtm", "--data", "synthetic:videos=2,frames=5", "--runs-dir", str(tmp_path / "runs"),
            "--name", name, "--backbone-weights", "none", "--set", f"cache={tmp_path / 'cache'}", *TINY, *extra]
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _one_line(code, output, pattern):
    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and pattern in errors[0], output


@pytest.fixture
def run(tmp_path):
    code, output = _train(tmp_path, "--steps", "2", "-q")
    assert code == 0, output
    return tmp_path / "runs" / "cli"


def test_train_writes_a_run_and_resumes(tmp_path, run):
    assert (run / "last.pt").is_file() and (run / "config.json").is_file()
    _one_line(*_train(tmp_path, "--steps", "3"), "holds a run already")
    code, output = runner.invoke(app, ["train", "frtm", "--runs-dir", str(tmp_path / "runs"), "--name", "cli",
                                       "--resume", "--steps", "3"]).exit_code, None
    assert code == 0
    assert torch.load(run / "last.pt", weights_only=True)["training"]["step"] == 3
    _one_line(*_train(tmp_path, "--resume", "--steps", "4", "--set", "lr=0.1"), "--set lr differs")
    _one_line(*_train(tmp_path, "--resume", "--steps", "4", "--seed", "3"), "--seed differs")


def test_dry_run_prints_the_plan(tmp_path):
    code, output = _train(tmp_path, "--dry-run")
    assert code == 0, output
    assert "steps_per_epoch" in output and "recipe.lr" in output and "0.001" in output
    assert not (tmp_path / "runs" / "cli").exists()


def test_a_damaged_checkpoint_is_refused_and_left_alone(tmp_path, run):
    damaged = (run / "last.pt").read_bytes()[:5000]
    (run / "last.pt").write_bytes(damaged)
    best = (run / "best.pt").read_bytes() if (run / "best.pt").exists() else None
    _one_line(*_train(tmp_path, "--resume", "--steps", "4"), "last.pt")
    assert (run / "last.pt").read_bytes() == damaged
    assert best is None or (run / "best.pt").read_bytes() == best
    (run / "last.pt").unlink()
    _one_line(*_train(tmp_path, "--resume", "--steps", "4"), "not found")


@pytest.mark.parametrize("failure", ["oserror", "zipwriter"])
def test_a_full_disk_keeps_the_last_good_checkpoint(tmp_path, run, monkeypatch, failure):
    good = (run / "last.pt").read_bytes()
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if str(f).endswith(".partial"):
            with open(f, "wb") as handle:
                handle.write(b"half a checkpoint")
            if failure == "oserror":
                raise OSError(errno.ENOSPC, "No space left on device")
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 1024 vs 512")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    code, output = _train(tmp_path, "--resume", "--steps", "3")
    _one_line(code, output, "the previous checkpoint is untouched")
    assert (run / "last.pt").read_bytes() == good
    assert not list(run.glob("*.partial")) and not list(run.glob(".*partial"))


def _invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_bad_inputs(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    common = ["--runs-dir", tmp_path / "runs", "--backbone-weights", "none", *TINY]
    _one_line(*_invoke("train", "frtm", "--data", tmp_path / "empty", *common), "is not a dataset")
    _one_line(*_invoke("train", "frtm", "--data", f"davis:{tmp_path / 'nope'}", *common), "not found")
    _one_line(*_invoke("train", "frtm", *common), "no training data")
    _one_line(*_invoke("train", "nosuch", "--data", "synthetic", *common), "unknown method 'nosuch'")
    _one_line(*_invoke("train", "rgmp", "--data", "synthetic", "--runs-dir", tmp_path / "runs"), "not available")
    _one_line(*_invoke("train", "frtm", "--data", "synthetic", *common, "--set", "learning_rate=1"),
              "unknown key 'learning_rate'")
    _one_line(*_invoke("train", "frtm", "--data", "synthetic:videos=x", *common), "videos and seed must be integers")
    _one_line(*_invoke("train", "frtm", "--data", "synthetic", *common, "--set", "batch_size=0"), "must be positive")
    _one_line(*_invoke("train", "frtm", "--data", "synthetic", "--runs-dir", tmp_path / "runs", *TINY,
                       "--backbone-weights", tmp_path / "nope.pth"), "expected imagenet, none or a weights file")
    _one_line(*_invoke("train", "frtm", "--data", "synthetic", *common, "--name", "a/b"), "plain folder name")


def test_imagenet_backbone_offline_names_the_file_to_place(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    code, output = _invoke("train", "frtm", "--data", "synthetic", "--runs-dir", tmp_path / "runs", *TINY)
    _one_line(code, output, "resnet18-f37072fd.pth")
    assert "download https://download.pytorch.org/models/resnet18-f37072fd.pth and place it at" in output
    # a wrong dataset path is reported first: placing the weights would not have helped
    code, output = _invoke("train", "frtm", "--data", f"davis:{tmp_path / 'nope'}", "--runs-dir", tmp_path / "runs", *TINY)
    _one_line(code, output, "not found")
    assert "resnet18" not in output


def test_backbone_weights_from_a_file(tmp_path):
    import torchvision

    from vostool.training import train

    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, tmp_path / "r18.pth")
    settings = {"backbone": "resnet18", "size": "48,64", "batch_size": "2", "workers": "0", "tm_num_aug": "3",
                "tm_init_iters": "2,2", "tm_update_iters": "2", "cache": str(tmp_path / "cache")}
    result = train("frtm", ["synthetic:videos=2,frames=5"], name="bb", runs_dir=tmp_path / "runs", settings=settings,
                   steps=1, backbone_weights=str(tmp_path / "r18.pth"))
    backbone = result.method.network.backbone.state_dict()
    assert all(torch.equal(backbone[k], v) for k, v in state.items() if not k.startswith("fc."))
