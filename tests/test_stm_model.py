"""STM / STM-cycle / FlowVOS networks: the authors' key layouts, strict checkpoint loading, pieces."""

import pytest
import torch

from conftest import shared_path
from stm_keys import flowvos_shapes, read_key_list, state_dict, stm_shapes
from vostool.errors import WeightsError
from vostool.loader import load_method
from vostool.methods.flowvos import FlowVOSNetwork
from vostool.methods.stm.network import STMNetwork, crop_padding, pad_to_multiple, third_channel_maps


@pytest.fixture(scope="module")
def networks():
    return {"others": STMNetwork("others"), "background": STMNetwork("background"), "flowvos": FlowVOSNetwork()}


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_networks_have_the_authors_keys_and_shapes(networks):
    assert _shapes(networks["others"]) == stm_shapes("conv1_o")
    assert _shapes(networks["background"]) == stm_shapes("conv1_bg")
    assert _shapes(networks["flowvos"]) == flowvos_shapes()
    # the spec's parameter counts: 38.93 M (STM) and 52.67 M (FlowVOS)
    assert round(sum(p.numel() for p in networks["others"].parameters()) / 1e6, 2) == 38.93
    assert round(sum(p.numel() for p in networks["flowvos"].parameters()) / 1e6, 2) == 52.67


@pytest.mark.parametrize("name, expected, network", [
    ("stm.txt", lambda: stm_shapes("conv1_o", "module."), "others"),
    ("stmcycle.txt", lambda: stm_shapes("conv1_bg"), "background"),
    ("flowvos.txt", flowvos_shapes, "flowvos"),
])
def test_layouts_match_the_shared_key_lists(networks, name, expected, network):
    listing = read_key_list(shared_path("specs", "keys", name))
    assert listing == expected()
    ours = _shapes(networks[network])
    assert {k.removeprefix("module."): v for k, v in listing.items()} == ours


def _save(path, payload):
    torch.save(payload, path)
    return str(path)


@pytest.mark.parametrize("legacy_bn", [False, True])
def test_authors_stm_weights_load_strictly(tmp_path, legacy_bn):
    raw = state_dict(stm_shapes("conv1_o", "module."), seed=1, legacy_bn=legacy_bn)
    method = load_method("stm", weights=_save(tmp_path / "STM_weights.pth", raw))
    assert method.options.third_channel == "others" and method.options.resolved_pad == 16
    state = method.network.state_dict()
    for key in ("Encoder_M.conv1_o.weight", "Encoder_Q.res4.5.bn3.running_var", "Decoder.pred2.bias", "KV_M_r4.Key.weight"):
        assert torch.equal(state[key], raw["module." + key])


def test_stm_cycle_checkpoint_loads_strictly_and_sets_the_third_channel(tmp_path):
    raw = {"epoch": 240, "state_dict": state_dict(stm_shapes("conv1_bg"), seed=2), "max_skip": [50, 10]}
    method = load_method("stm", weights=_save(tmp_path / "recurrent.pth.tar", raw))
    assert method.options.third_channel == "background" and method.options.resolved_pad == 1
    assert torch.equal(method.network.state_dict()["Encoder_M.conv1_bg.weight"], raw["state_dict"]["Encoder_M.conv1_bg.weight"])
    with pytest.raises(WeightsError, match="contradicts the weights"):
        load_method("stm", {"third_channel": "others"}, weights=str(tmp_path / "recurrent.pth.tar"))


def test_flowvos_checkpoint_loads_strictly(tmp_path):
    raw = {"epoch": 12, "state_dict": state_dict(flowvos_shapes(), seed=3), "max_skip": [55, 11]}
    method = load_method("flowvos", weights=_save(tmp_path / "flowvos.pth.tar", raw))
    state = method.network.state_dict()
    for key in ("Decoder.flow_mixer.weight", "FlowRegressor.up1.conv.double_conv.0.weight", "FlowRegressor.down3.5.bn3.bias"):
        assert torch.equal(state[key], raw["state_dict"][key])


def test_wrong_files_get_one_line_naming_the_problem(tmp_path):
    flow = _save(tmp_path / "flowvos.pth.tar", {"state_dict": state_dict(flowvos_shapes())})
    with pytest.raises(WeightsError, match="is a FlowVOS checkpoint.*--method flowvos"):
        load_method("stm", weights=flow)
    cycle = _save(tmp_path / "cycle.pth.tar", {"state_dict": state_dict(stm_shapes("conv1_bg"))})
    with pytest.raises(WeightsError, match="no flow module.*--method stm"):
        load_method("flowvos", weights=cycle)
    frtm = _save(tmp_path / "frtm.pth", {"model": {"refiner.TSE.layer4.reduce.0.weight": torch.zeros(64, 1024, 1, 1)}})
    with pytest.raises(WeightsError, match="not an STM or STM-cycle checkpoint"):
        load_method("stm", weights=frtm)
    shapes = stm_shapes("conv1_o", "module.")
    del shapes["module.Decoder.pred2.bias"]
    missing = _save(tmp_path / "missing.pth", state_dict(shapes))
    with pytest.raises(WeightsError, match=r"1 missing \(Decoder.pred2.bias\)"):
        load_method("stm", weights=missing)
    with pytest.raises(WeightsError, match="flowvos has no default weights"):
        load_method("flowvos")


def test_padding_is_split_as_the_authors_and_cropped_back_exactly():
    x = torch.arange(2 * 480 * 853, dtype=torch.float32).view(2, 480, 853)
    padded, pad = pad_to_multiple(x, 16)
    assert padded.shape == (2, 480, 864) and pad == (5, 6, 0, 0)  # left = floor(11 / 2)
    assert torch.equal(crop_padding(padded, pad), x)
    assert pad_to_multiple(torch.zeros(1, 470, 854), 16)[1] == (5, 5, 5, 5)
    same, none = pad_to_multiple(x, 1)
    assert same is x and none == (0, 0, 0, 0)


def test_third_channel_is_the_other_objects_or_the_own_background():
    probs = torch.tensor([[[0.7, 0.0]], [[0.6, 0.2]], [[0.1, 0.3]]])  # (K=3, 1, 2)
    others = third_channel_maps(probs, "others")
    assert torch.allclose(others, torch.tensor([[[0.7, 0.5]], [[0.8, 0.3]], [[1.0, 0.2]]]))  # clamped at 1
    assert torch.allclose(third_channel_maps(probs, "background"), 1 - probs)
    batch = torch.stack([probs, probs.flip(0)])  # (B, K, H, W), as a training step would pass
    assert torch.allclose(third_channel_maps(batch, "others")[1], third_channel_maps(probs.flip(0), "others"))


def test_skip_sharing_in_the_decoder_equals_per_object_decoding(networks):
    torch.manual_seed(0)
    decoder = networks["others"].Decoder
    x = torch.randn(3, 1024, 4, 6)
    r3, r2 = torch.randn(1, 512, 8, 12), torch.randn(1, 256, 16, 24)
    with torch.no_grad():
        shared = decoder(x, r3, r2, (64, 96))
        each = torch.cat([decoder(x[i:i + 1], r3, r2, (64, 96)) for i in range(3)])
    assert shared.shape == (3, 2, 64, 96)
    assert torch.allclose(shared, each, atol=1e-5)


def test_pretrained_backbones_come_from_torchvisions_imagenet_resnet50(tmp_path, monkeypatch):
    """For training: both encoders (and FlowVOS's flow encoder) start from ImageNet ResNet-50 V1."""
    import torchvision

    from vostool.methods.backbones import imagenet_weights_file
    from vostool.methods.flowvos import FlowVOS

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = imagenet_weights_file("resnet50")
    target.parent.mkdir(parents=True)
    shapes = {k: tuple(v.shape) for k, v in torchvision.models.resnet50(weights=None).state_dict().items()}
    imagenet = state_dict(shapes, seed=4)
    torch.save(imagenet, target)
    network = FlowVOS.build(pretrained_backbone=True).network
    state = network.state_dict()
    for ours, theirs in (("Encoder_M.conv1.weight", "conv1.weight"), ("Encoder_Q.res3.0.conv1.weight", "layer2.0.conv1.weight"),
                         ("Encoder_M.res4.5.bn3.running_var", "layer3.5.bn3.running_var"),
                         ("FlowRegressor.down2.0.downsample.0.weight", "layer2.0.downsample.0.weight")):
        assert torch.equal(state[ours], imagenet[theirs]), ours
    assert not torch.equal(state["Encoder_M.conv1_m.weight"], torch.zeros(64, 1, 7, 7))  # new layers stay random


def test_network_functions_run_on_batches_with_gradients(networks):
    """What a training step does: memorise a frame for K objects, segment the next, backpropagate."""
    from vostool.methods.stm.memory import memory_read

    net = networks["background"]
    frames = net.normalize(torch.rand(2, 3, 32, 48))
    probs = torch.rand(2, 32, 48)  # two objects' soft masks on the first frame
    keys, values = net.memorize(frames[:1], probs)
    query = net.query_features(*net.encode_query_backbone(frames[1:]))
    logits = net.read_and_decode(memory_read(keys, values, query.key), query, (32, 48))
    assert logits.shape == (2, 2, 32, 48)
    logits[:, 1].sum().backward()
    for param in (net.Encoder_M.conv1_m.weight, net.Encoder_Q.res4[0].downsample[0].weight, net.KV_M_r4.Key.weight,
                  net.Decoder.RF2.convFS.weight):
        assert param.grad is not None and param.grad.abs().sum() > 0
    net.zero_grad(set_to_none=True)
