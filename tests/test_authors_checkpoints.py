"""Each method's checkpoint exactly as the authors' training or saving code writes it (authors_writers)
loads strictly; conversion takes the same path; anything that is not inert data is refused by name."""

import pytest
import torch

import authors_writers as writers
from conftest import fake_imagenet
from vostool.convert import convert_weights
from vostool.errors import WeightsError
from vostool.loader import load_method
from vostool.weights import read_checkpoint


def _assert_same(method, source: dict, keys: list[str], prefix: str = "") -> None:
    state = method.network.state_dict()
    for key in keys:
        assert torch.equal(state[key], source[prefix + key]), key


@pytest.mark.parametrize("legacy", [True, False])
def test_frtm_trainer_checkpoint_with_numpy_stats_loads_and_converts(tmp_path, monkeypatch, legacy):
    fake_imagenet(tmp_path, monkeypatch, "resnet18")
    written = writers.write_frtm(tmp_path / "rn18_all.pth", legacy=legacy)
    raw = read_checkpoint(tmp_path / "rn18_all.pth")
    meter = raw["stats"]["train/acc"]
    assert type(meter).__name__ == "AverageMeter" and meter.count == 3
    assert meter.avg.dtype.name == "float32" and abs(float(meter.avg) - float(written["stats"]["train/acc"].avg)) < 1e-7
    assert not hasattr(meter, "update")  # an inert stand-in: nothing of the authors' class exists
    assert raw["optimizer"]["param_groups"][0]["amsgrad"] is True and raw["scheduler"]["step_size"] == 127

    keys = ["refiner.TSE.layer4.reduce.0.weight", "refiner.RRB2.layer2.bblock.1.running_var", "refiner.project.conv2.bias"]
    method = load_method("frtm", weights=str(tmp_path / "rn18_all.pth"))
    assert method.options.backbone == "resnet18"
    _assert_same(method, written["model"], keys)
    summary = convert_weights(tmp_path / "rn18_all.pth", tmp_path / "frtm.pt", "frtm")
    assert "backbone=resnet18" in summary
    _assert_same(load_method("frtm", weights=str(tmp_path / "frtm.pt")), written["model"], keys)


def test_rgmp_0_3_1_file_converts_through_the_strict_loader(tmp_path):
    state = writers.write_rgmp(tmp_path / "weights.pth")
    assert not any(k.endswith("num_batches_tracked") for k in state)
    keys = ["Encoder.conv1_p.weight", "Encoder.res5.2.bn3.running_mean", "Decoder.RF2.convMM2.weight"]
    _assert_same(load_method("rgmp", weights=str(tmp_path / "weights.pth")), state, keys, "module.")
    convert_weights(tmp_path / "weights.pth", tmp_path / "rgmp.pt", "rgmp")
    saved = torch.load(tmp_path / "rgmp.pt", weights_only=True)["state_dict"]
    assert saved["Encoder.bn1.num_batches_tracked"].item() == 0  # filled in, as PyTorch does for old files
    _assert_same(load_method("rgmp", weights=str(tmp_path / "rgmp.pt")), state, keys, "module.")


def test_tvos_trainer_checkpoint_with_optimizer_and_scheduler_loads_and_converts(tmp_path):
    written = writers.write_tvos(tmp_path / "checkpoint-epoch-240.pth.tar")
    assert written["optimizer"]["param_groups"][0]["nesterov"] and written["optimizer"]["state"]
    keys = ["backbone.layer4.2.conv3.weight", "adjust_dim.weight", "bn256.running_var"]
    source = {"backbone.layer4.2.conv3.weight": written["state_dict"]["module.backbone.7.2.conv3.weight"],
              "adjust_dim.weight": written["state_dict"]["module.adjust_dim.weight"],
              "bn256.running_var": written["state_dict"]["module.bn256.running_var"]}
    _assert_same(load_method("tvos", weights=str(tmp_path / "checkpoint-epoch-240.pth.tar")), source, keys)
    convert_weights(tmp_path / "checkpoint-epoch-240.pth.tar", tmp_path / "tvos.pt", "tvos")
    _assert_same(load_method("tvos", weights=str(tmp_path / "tvos.pt")), source, keys)


def test_stm_released_state_dict_with_metadata_loads(tmp_path):
    state = writers.write_stm(tmp_path / "STM_weights.pth")
    method = load_method("stm", weights=str(tmp_path / "STM_weights.pth"))
    assert method.options.third_channel == "others"
    _assert_same(method, state, ["Encoder_M.conv1_o.weight", "Encoder_Q.res4.5.bn3.bias", "Decoder.pred2.weight"], "module.")


@pytest.mark.parametrize("flow", [False, True])
def test_stm_cycle_and_flowvos_training_checkpoints_load(tmp_path, flow):
    written = writers.write_stm_cycle(tmp_path / "recurrent.pth.tar", flow=flow)
    method = load_method("flowvos" if flow else "stm", weights=str(tmp_path / "recurrent.pth.tar"))
    assert method.options.third_channel == "background"
    keys = ["Encoder_M.conv1_bg.weight", "KV_Q_r4.Value.bias"] + (["FlowRegressor.outc.weight"] if flow else [])
    _assert_same(method, written["state_dict"], keys)


def test_munet_initialises_from_the_stm_authors_file(tmp_path):
    """No MUNet code was published; the authors' STM file initialises every part MUNet shares with STM."""
    state = writers.write_stm(tmp_path / "STM_weights.pth")
    method = load_method("munet", weights=f"stm:{tmp_path / 'STM_weights.pth'}")
    _assert_same(method, state, ["Encoder_Q.conv1.weight", "Decoder.RF3.convFS.bias", "KV_M_r4.Key.weight"], "module.")


def test_namespace_args_and_numpy_arrays_are_read_as_data(tmp_path):
    checkpoint = writers.write_tvos(tmp_path / "plain.pth.tar")
    writers.write_with_args(tmp_path / "args.pth.tar", checkpoint)
    raw = read_checkpoint(tmp_path / "args.pth.tar")
    assert raw["args"].lr == 1e-3 and raw["args"].size == (480, 854) and raw["args"].seed == 0
    assert raw["history"].dtype.name == "float32" and raw["history"].shape == (5,)
    load_method("tvos", weights=str(tmp_path / "args.pth.tar"))


class _RunsCode:
    """Unpickling this would create ``marker`` (``getattr(Path, 'touch')(marker)``)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_globals_that_are_not_inert_data_are_refused_by_name_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model": {}, "hook": _RunsCode(marker)}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match=r"contains builtins\.getattr, a function that could run code"):
        read_checkpoint(tmp_path / "evil.pth")
    assert not marker.exists()
    torch.save(torch.nn.Conv2d(1, 1, 1), tmp_path / "module.pth")
    with pytest.raises(WeightsError, match=r"torch\.nn\.modules\.conv\.Conv2d, a pickled module .*state_dict"):
        read_checkpoint(tmp_path / "module.pth")


@pytest.mark.parametrize("content, what", [(b"", "it is empty"), (b"not a checkpoint\n", "it is a text file"),
                                           (b"<html><body>quota</body></html>", "a web page")])
def test_a_file_that_is_no_checkpoint_gets_one_line_of_our_own(tmp_path, content, what):
    (tmp_path / "x.pth").write_bytes(content)
    with pytest.raises(WeightsError) as err:
        read_checkpoint(tmp_path / "x.pth")
    text = str(err.value)
    assert "not a readable PyTorch checkpoint" in text and what in text
    assert "weights_only" not in text and "\n" not in text
