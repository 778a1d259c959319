"""RGMP's network layout, the authors' checkpoint conversion and strict loading, untrained weights."""

import pytest
import torch

from conftest import fake_imagenet, shared_key_shapes
from frtm_keys import authors_checkpoint as frtm_checkpoint
from rgmp_keys import authors_shapes, authors_state_dict
from vostool.errors import OptionError, WeightsError
from vostool.loader import load_method
from vostool.methods.rgmp import RGMP, RGMPNetwork


def _ours() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):  # shapes only: no time spent on initialisation
        network = RGMPNetwork()
    return {f"module.{k}": tuple(v.shape) for k, v in network.state_dict().items()}


def test_network_has_the_authors_keys_and_shapes():
    assert _ours() == authors_shapes()


def test_network_keys_match_the_shared_key_list():
    assert _ours() == shared_key_shapes("rgmp.txt")


@pytest.mark.parametrize("legacy", [False, True])
def test_authors_checkpoint_loads_strictly(tmp_path, legacy):
    state = authors_state_dict(seed=1, legacy_bn=legacy)
    path = tmp_path / "weights.pth"
    if legacy:
        # PyTorch 0.3.1: no num_batches_tracked, the pre-zip serialisation format.
        assert not any(k.endswith("num_batches_tracked") for k in state)
        torch.save(state, path, _use_new_zipfile_serialization=False)
    else:
        torch.save(state, path)
    method = load_method("rgmp", weights=str(path))
    loaded = method.network.state_dict()
    for key in ("Encoder.conv1_p.weight", "Encoder.res4.5.bn2.running_var", "Decoder.GC.conv_r1.weight", "Decoder.pred2.bias"):
        assert torch.equal(loaded[key], state[f"module.{key}"])
    assert method.weights_sha256 is not None and method.weights_source == str(path)


def test_wrong_files_get_one_line_naming_the_problem(tmp_path):
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        load_method("rgmp", weights=str(tmp_path / "text.pth"))

    torch.save(frtm_checkpoint("resnet18"), tmp_path / "frtm.pth")
    with pytest.raises(WeightsError, match=r"not an RGMP checkpoint: no module\.Encoder\.conv1_p\.weight"):
        load_method("rgmp", weights=str(tmp_path / "frtm.pth"))

    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="not an RGMP checkpoint"):
        load_method("rgmp", weights=str(tmp_path / "list.pth"))

    partial = authors_state_dict()
    del partial["module.Decoder.RF3.convMM2.bias"]
    partial["module.Decoder.extra.weight"] = torch.zeros(1)
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"1 missing \(Decoder\.RF3\.convMM2\.bias\); 1 unexpected"):
        load_method("rgmp", weights=str(tmp_path / "partial.pth"))

    shaped = authors_state_dict()
    shaped["module.Encoder.conv1_p.weight"] = torch.zeros(64, 2, 7, 7)
    torch.save(shaped, tmp_path / "shaped.pth")
    with pytest.raises(WeightsError, match=r"Encoder\.conv1_p\.weight is \(64, 2, 7, 7\), expected \(64, 1, 7, 7\)"):
        load_method("rgmp", weights=str(tmp_path / "shaped.pth"))

    with pytest.raises(WeightsError, match="rgmp has no default weights"):
        load_method("rgmp")


def test_untrained_weights_are_deterministic_and_bounded():
    a = load_method("rgmp", untrained=True).network
    b = load_method("rgmp", untrained=True).network
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    frame = torch.rand(1, 3, 128, 192)
    mask = (torch.rand(1, 128, 192) > 0.5).float()
    with torch.inference_mode():
        r5, r4, r3, r2 = a.Encoder(frame, mask)
        outputs = a.Decoder(r5, r5, r4, r3, r2)
    assert [tuple(t.shape[-2:]) for t in (r5, r4, r3, r2)] == [(4, 6), (8, 12), (16, 24), (32, 48)]
    assert max(t.abs().max().item() for t in (r5, r4, r3, r2)) < 10  # ~350 without zero-init residuals
    assert [tuple(t.shape) for t in outputs] == [(1, 2, 128, 192), (1, 2, 32, 48), (1, 2, 16, 24), (1, 2, 8, 12), (1, 2, 4, 6)]
    assert all(torch.isfinite(t).all() and t.abs().max() < 10 for t in outputs)


def test_imagenet_initialisation_fills_the_encoder_but_not_the_mask_filters(tmp_path, monkeypatch):
    imagenet = fake_imagenet(tmp_path, monkeypatch, "resnet50")
    encoder = RGMP.build(pretrained_backbone=True).network.Encoder.state_dict()
    untrained = RGMP.build().network.Encoder.state_dict()
    assert torch.equal(encoder["res5.2.conv3.weight"], imagenet["layer4.2.conv3.weight"])
    assert torch.equal(encoder["bn1.running_var"], imagenet["bn1.running_var"])
    assert not torch.equal(untrained["res5.2.conv3.weight"], imagenet["layer4.2.conv3.weight"])
    assert torch.equal(encoder["conv1_p.weight"], untrained["conv1_p.weight"])  # the paper: random mask filters


def test_encoder_batchnorm_stays_frozen_in_training_mode():
    network = RGMPNetwork()
    network.train()
    bns = [m for m in network.Encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 53 and not any(m.training for m in bns)
    assert not any(p.requires_grad for m in bns for p in m.parameters())
    assert network.Decoder.training and network.Encoder.conv1.weight.requires_grad


def test_options_are_checked():
    for bad in ({"scales": ""}, {"scales": "0.5,0.5"}, {"scales": "0"}, {"max_batch": "-1"}, {"pad_rule": "floor"}):
        with pytest.raises(OptionError):
            load_method("rgmp", bad, untrained=True)
    assert load_method("rgmp", {"scales": "1.0", "pad_rule": "ceil"}, untrained=True).options.scales == (1.0,)
