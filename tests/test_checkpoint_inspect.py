"""``vostool weights inspect``: the structured report of the library and the CLI's printout."""

import torch
from typer.testing import CliRunner

import authors_writers as writers
from vostool.checkpoint_inspect import inspect_checkpoint
from vostool.cli import app
from vostool.weights import save_checkpoint

runner = CliRunner()


def test_frtm_trainer_file_report_names_entries_types_and_the_match(tmp_path):
    writers.write_frtm(tmp_path / "rn18_all.pth")
    report = inspect_checkpoint(tmp_path / "rn18_all.pth")
    assert report.format == "legacy" and report.error is None
    assert report.wrapper_key == "model" and report.tensors == 140 and not report.module_prefix
    kinds = {g.name: g.kind for g in report.globals}
    assert kinds["lib.utils.AverageMeter"] == "stand-in" and kinds["collections.defaultdict"] == "data"
    assert any(name.endswith("multiarray.scalar") and kind == "data" for name, kind in kinds.items())
    entries = {e.key: e for e in report.entries}
    assert set(entries) == {"name", "epoch", "stats", "optimizer", "scheduler"}
    assert "AverageMeter (inert stand-in)" in entries["stats"].summary
    assert entries["optimizer"].summary.startswith("optimizer state")
    assert [(m.method, m.arch, m.fits) for m in report.matches] == [("frtm", {"backbone": "resnet18"}, True)]
    assert report.loadable


def test_rgmp_0_3_1_layout_and_stm_initialisation_note(tmp_path):
    writers.write_rgmp(tmp_path / "weights.pth")
    report = inspect_checkpoint(tmp_path / "weights.pth")
    assert report.layout == "a bare state dict" and report.module_prefix and report.entries == []
    assert report.batchnorm_counters.startswith("absent")
    assert [m.method for m in report.matches if m.fits] == ["rgmp"]
    writers.write_stm(tmp_path / "STM_weights.pth")
    report = inspect_checkpoint(tmp_path / "STM_weights.pth")
    assert [(m.method, m.arch) for m in report.matches if m.fits] == [("stm", {"third_channel": "others"})]
    assert any("--method munet --weights stm:" in n for n in report.notes)


def test_a_state_dict_that_fits_no_network_is_reported_as_such(tmp_path):
    checkpoint = writers.write_tvos(tmp_path / "tvos.pth.tar")
    del checkpoint["state_dict"]["module.bn256.bias"]
    torch.save(checkpoint, tmp_path / "broken.pth.tar")
    report = inspect_checkpoint(tmp_path / "broken.pth.tar")
    assert [(m.method, m.fits) for m in report.matches] == [("tvos", False)]
    assert "1 missing (bn256.bias)" in report.matches[0].detail and not report.loadable


def test_vostool_checkpoint_is_matched_to_its_method(tmp_path):
    from vostool.loader import load_method

    model = load_method("tvos", untrained=True)
    save_checkpoint(tmp_path / "tvos.pt", "tvos", model.network.state_dict(), {"backbone": "resnet50"})
    report = inspect_checkpoint(tmp_path / "tvos.pt")
    assert report.layout == "vostool checkpoint" and report.vostool["method"] == "tvos"
    assert [(m.method, m.fits) for m in report.matches] == [("tvos", True)]


def test_cli_prints_the_report_and_exits_non_zero_when_nothing_loads(tmp_path):
    writers.write_frtm(tmp_path / "rn18_all.pth", legacy=False)
    result = runner.invoke(app, ["weights", "inspect", str(tmp_path / "rn18_all.pth")])
    assert result.exit_code == 0, result.output
    assert "state dict under 'model'" in result.output and "matches frtm (backbone=resnet18): loads strictly" in result.output
    torch.save({"model": torch.nn.Linear(1, 1)}, tmp_path / "module.pth")
    result = runner.invoke(app, ["weights", "inspect", str(tmp_path / "module.pth")])
    assert result.exit_code == 1
    assert "torch.nn.modules.linear.Linear: refused (a pickled module" in result.output
    assert "refused:" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["weights", "inspect", str(tmp_path / "missing.pth")])
    assert result.exit_code == 2 and "not found" in result.output
