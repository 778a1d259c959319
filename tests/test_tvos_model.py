"""TVOS's embedding network, the authors' checkpoint conversion and strict loading."""

import pytest
import torch

from conftest import fake_imagenet, shared_key_shapes
from tvos_keys import authors_checkpoint, authors_shapes
from vostool.errors import WeightsError
from vostool.loader import load_method
from vostool.methods.tvos import TVOS, TVOSNetwork
from vostool.methods.tvos.convert import authors_to_vostool


@pytest.mark.parametrize("arch", ["resnet50", "resnet18", "resnet101"])
def test_network_has_the_authors_keys_and_shapes_after_conversion(arch):
    ours = {k: tuple(v.shape) for k, v in TVOSNetwork(arch).state_dict().items()}
    theirs = {authors_to_vostool(k): v for k, v in authors_shapes(arch).items()}
    assert ours == theirs


def test_authors_key_list_matches_the_shared_listing():
    expected = shared_key_shapes("tvos.txt")
    assert authors_shapes("resnet50") == expected
    ours = {k: tuple(v.shape) for k, v in TVOSNetwork("resnet50").state_dict().items()}
    assert ours == {authors_to_vostool(k): v for k, v in expected.items()}


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_authors_checkpoint_loads_strictly(tmp_path, prefix):
    ckpt = authors_checkpoint("resnet50", prefix=prefix)
    torch.save(ckpt, tmp_path / "davis_train.pth.tar")
    method = load_method("tvos", weights=str(tmp_path / "davis_train.pth.tar"))
    state = method.network.state_dict()
    assert torch.equal(state["backbone.layer3.5.conv3.weight"], ckpt["state_dict"][f"{prefix}backbone.6.5.conv3.weight"])
    assert torch.equal(state["backbone.bn1.running_var"], ckpt["state_dict"][f"{prefix}backbone.1.running_var"])
    assert torch.equal(state["bn256.bias"], ckpt["state_dict"][f"{prefix}bn256.bias"])


@pytest.mark.parametrize("arch", ["resnet18", "resnet101"])
def test_backbone_is_detected_from_the_checkpoint(tmp_path, arch):
    torch.save(authors_checkpoint(arch)["state_dict"], tmp_path / "bare.pth")
    method = load_method("tvos", weights=str(tmp_path / "bare.pth"))
    assert method.options.backbone == arch


def _edited(edit):
    """An authors' ResNet-50 checkpoint with ``edit`` applied to its state dict."""
    ckpt = authors_checkpoint("resnet50")
    edit(ckpt["state_dict"])
    return ckpt


def _swap_one_key(state):
    del state["module.backbone.7.2.bn3.weight"]
    state["module.extra.weight"] = torch.zeros(1)


WRONG_FILES = [
    ("text", "not a readable PyTorch checkpoint"),
    ({"model": {"refiner.TSE.layer4.reduce.0.weight": torch.zeros(64, 1024, 1, 1)}}, "not a TVOS checkpoint"),
    ({"state_dict": {"module.backbone.0.weight": torch.zeros(64, 1, 7, 7)}}, r"not a TVOS checkpoint.*\(64, 3, 7, 7\)"),
    (_edited(_swap_one_key), r"1 missing \(backbone\.layer4\.2\.bn3\.weight\).*1 unexpected \(extra"),
    (_edited(lambda state: state.update({"module.adjust_dim.weight": torch.zeros(128, 1024, 1, 1)})),
     r"adjust_dim\.weight is \(128, 1024, 1, 1\), expected \(256, 1024, 1, 1\)"),
    (_edited(lambda state: state.pop("module.adjust_dim.weight")), "bottleneck ResNet without adjust_dim"),
]


@pytest.mark.parametrize("content,message", WRONG_FILES, ids=["text", "frtm", "stem", "keys", "shape", "head"])
def test_wrong_files_get_one_line_naming_the_problem(tmp_path, content, message):
    path = tmp_path / "weights.pth"
    if isinstance(content, str):
        path.write_text(content)
    else:
        torch.save(content, path)
    with pytest.raises(WeightsError, match=message):
        load_method("tvos", weights=str(path))


def test_an_option_contradicting_the_weights_is_refused(tmp_path):
    torch.save(authors_checkpoint("resnet50"), tmp_path / "rn50.pth")
    with pytest.raises(WeightsError, match="contradicts"):
        load_method("tvos", {"backbone": "resnet18"}, weights=str(tmp_path / "rn50.pth"))


def test_embedding_is_256_channels_at_stride_8_and_bounded_when_untrained():
    for arch in ("resnet50", "resnet18"):
        method = TVOS.build({"backbone": arch})
        with torch.inference_mode():
            emb = method.network(torch.rand(1, 3, 61, 90).contiguous(memory_format=torch.channels_last))
        assert emb.shape == (1, 256, 8, 12)  # ceil(61/8), ceil(90/8): no padding, like the authors
        assert torch.isfinite(emb).all() and emb.abs().max() < 1e3


def test_imagenet_init_covers_everything_but_layer4(tmp_path, monkeypatch):
    imagenet = fake_imagenet(tmp_path, monkeypatch, "resnet18")
    method = TVOS.build({"backbone": "resnet18"}, pretrained_backbone=True)
    state = method.network.state_dict()
    for key in ("conv1.weight", "layer2.1.bn2.running_var", "layer3.0.downsample.0.weight", "layer3.1.conv2.weight"):
        assert torch.equal(state[f"backbone.{key}"], imagenet[key]), key
    # layer4 is new (256 planes at stride 1): the authors' He-normal init with BN weight 1.
    assert not torch.equal(state["backbone.layer4.0.conv1.weight"], imagenet["layer4.0.conv1.weight"][:256, :256])
    assert torch.all(state["backbone.layer4.1.bn2.weight"] == 1)
    fan_out = 256 * 9
    assert abs(state["backbone.layer4.0.conv2.weight"].std().item() - (2 / fan_out) ** 0.5) < 0.003


def test_offline_without_imagenet_weights_names_the_file():
    with pytest.raises(WeightsError, match=r"resnet18-f37072fd\.pth"):
        TVOS.build({"backbone": "resnet18"}, pretrained_backbone=True)
