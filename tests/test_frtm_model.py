"""FRTM's network layout, checkpoint conversion and strict loading."""

import numpy as np
import pytest
import torch

from conftest import fake_imagenet, shared_key_shapes
from frtm_keys import authors_checkpoint, authors_refiner_shapes
from vostool.errors import WeightsError
from vostool.loader import load_method
from vostool.methods.frtm import FRTM, FRTMNetwork


@pytest.mark.parametrize("backbone", ["resnet101", "resnet18"])
def test_refiner_has_the_authors_keys_and_shapes(backbone):
    ours = {k: tuple(v.shape) for k, v in FRTMNetwork(backbone).state_dict().items() if k.startswith("refiner.")}
    assert ours == authors_refiner_shapes(backbone)


def test_refiner_keys_match_the_shared_key_list():
    expected = shared_key_shapes("frtm_refiner_rn101.txt")
    ours = {k: tuple(v.shape) for k, v in FRTMNetwork("resnet101").state_dict().items() if k.startswith("refiner.")}
    assert ours == expected


@pytest.mark.parametrize("legacy_bn", [False, True])
def test_authors_checkpoint_loads_strictly_with_imagenet_backbone(tmp_path, monkeypatch, legacy_bn):
    imagenet = fake_imagenet(tmp_path, monkeypatch, "resnet18")
    ckpt = authors_checkpoint("resnet18", legacy_bn=legacy_bn)
    torch.save(ckpt, tmp_path / "rn18_all.pth")
    method = load_method("frtm", weights=str(tmp_path / "rn18_all.pth"))
    assert method.options.backbone == "resnet18"  # detected from the refiner's layer4 input channels
    state = method.network.state_dict()
    key = "refiner.TSE.layer4.reduce.0.weight"
    assert torch.equal(state[key], ckpt["model"][key])
    assert torch.equal(state["backbone.layer3.0.conv1.weight"], imagenet["layer3.0.conv1.weight"])


def test_offline_without_imagenet_weights_names_the_file(tmp_path):
    torch.save(authors_checkpoint("resnet18"), tmp_path / "rn18.pth")
    with pytest.raises(WeightsError, match=r"resnet18-f37072fd\.pth"):
        load_method("frtm", weights=str(tmp_path / "rn18.pth"))


def test_wrong_files_get_one_line_naming_the_problem(tmp_path, monkeypatch):
    fake_imagenet(tmp_path, monkeypatch, "resnet101")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        load_method("frtm", weights=str(tmp_path / "text.pth"))

    good = authors_checkpoint("resnet101")
    torch.save(good, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or damaged"):
        load_method("frtm", weights=str(tmp_path / "cut.pth"))

    other = {"model": {"module.Encoder.conv1.weight": torch.zeros(64, 3, 7, 7)}}
    torch.save(other, tmp_path / "rgmp.pth")
    with pytest.raises(WeightsError, match="not an FRTM checkpoint"):
        load_method("frtm", weights=str(tmp_path / "rgmp.pth"))

    broken = authors_checkpoint("resnet101")
    del broken["model"]["refiner.CAB.layer3.convreluconv.0.bias"]
    broken["model"]["refiner.extra.weight"] = torch.zeros(1)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(WeightsError, match="1 missing .*CAB.layer3.*1 unexpected"):
        load_method("frtm", weights=str(tmp_path / "broken.pth"))

    torch.save(authors_checkpoint("resnet101"), tmp_path / "rn101.pth")
    with pytest.raises(WeightsError, match="contradicts"):
        load_method("frtm", {"backbone": "resnet18"}, weights=str(tmp_path / "rn101.pth"))

    with pytest.raises(WeightsError, match="not found"):
        load_method("frtm", weights=str(tmp_path / "missing.pth"))


def test_checkpoint_with_pickled_training_objects_loads_without_running_code(tmp_path, monkeypatch):
    """The authors' files may carry `stats`, a defaultdict of lib.utils.AverageMeter."""
    import collections
    import sys
    import types

    module = types.ModuleType("lib.utils")

    class AverageMeter:
        def __init__(self):
            self.avg, self.count = 0.5, 3

    AverageMeter.__module__ = "lib.utils"
    AverageMeter.__qualname__ = "AverageMeter"
    module.AverageMeter = AverageMeter
    monkeypatch.setitem(sys.modules, "lib", types.ModuleType("lib"))
    monkeypatch.setitem(sys.modules, "lib.utils", module)
    ckpt = authors_checkpoint("resnet18")
    ckpt["stats"] = collections.defaultdict(AverageMeter, {"loss": AverageMeter()})
    torch.save(ckpt, tmp_path / "with_stats.pth")
    monkeypatch.delitem(sys.modules, "lib.utils")
    monkeypatch.delitem(sys.modules, "lib")

    from vostool.weights import read_checkpoint

    raw = read_checkpoint(tmp_path / "with_stats.pth")
    assert set(raw["model"]) == set(ckpt["model"])
    assert type(raw["stats"]["loss"]).__name__ == "AverageMeter"


def test_untrained_networks_stay_finite_in_eval_mode():
    method = FRTM.build({"backbone": "resnet101"})
    x = torch.rand(1, 3, 96, 128) * 255
    with torch.inference_mode():
        stages = method.network.backbone.run(method.network.normalize(x), "layer4")
    for name, value in stages.items():
        assert torch.isfinite(value).all(), name
        assert value.abs().max() < 1e3, name


def test_backbone_computes_only_what_is_asked_and_can_continue():
    method = FRTM.build({"backbone": "resnet18"})
    backbone = method.network.backbone
    x = method.network.normalize(torch.rand(1, 3, 64, 96) * 255)
    with torch.inference_mode():
        partial = backbone.run(x, "layer3")
        assert set(partial) == {"stem", "layer1", "layer2", "layer3"}
        full = backbone.run(x, "layer4", partial)
        direct = backbone.run(x, "layer4")
    assert torch.equal(full["layer4"], direct["layer4"])
    assert full["layer3"].shape[-2:] == (4, 6)  # stride 16
