"""RGMP training (paper section 3.2): recipe, stage-1 simulated pairs, both stages learning, the CLI plan."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fixed_batch import fit_fixed_batch
from vostool.cli import app
from vostool.data.clips import collate
from vostool.data.sources import open_source
from vostool.errors import OptionError
from vostool.methods.rgmp import RGMP
from vostool.methods.rgmp.pairs import PairSettings, crop_with_object, strategy1, strategy2, warp_mask
from vostool.methods.rgmp.recipe import RGMPRecipe
from vostool.options import make_options
from vostool.training import train

STAGE1 = {"s1_crop": "64,64", "batch_size": "2", "workers": "0"}
STAGE2 = {"stage": "2", "size": "64,96", "crop": "64,96", "clip_frames": "3", "batch_size": "2", "workers": "0"}
DATA = "synthetic:videos=3,frames=8"


def test_recipe_defaults_are_the_papers():
    r = RGMPRecipe()
    assert (r.optimizer, r.lr, r.schedule, r.weight_decay) == ("adam", 1e-5, "constant", 0.0)  # fixed lr 1e-5 (3.4)
    assert (r.stage, r.deep_supervision, r.objects) == (1, False, 1)
    assert (r.s1_crop, r.s1_min_object, r.s1_strategy2) == ((256, 256), 0.5, 0.5)  # 256x256, >= 50%, equal odds
    assert (r.crop, r.clip_mode, r.clip_frames - 1) == ((256, 512), "sequential", 5)  # 256x512, 5 recurrences
    assert r.max_skip > 1 and r.affine_rotate > 0 and r.affine_scale != (1.0, 1.0)  # skips, affine augmentation
    assert make_options(RGMPRecipe, {"stage": "2"}).stage == 2
    for bad in ({"stage": "3"}, {"stage": "2", "crop": "100,100"}, {"s1_crop": "250,250"}, {"objects": "2"},
                {"clip_frames": "1"}, {"s1_min_object": "1.5"}):
        with pytest.raises(OptionError):
            make_options(RGMPRecipe, bad)


@pytest.mark.parametrize("shape", [(10, 10), (60, 40), (200, 30), (120, 280), (0, 0)])
def test_a_crop_keeps_at_least_half_of_the_object(shape):
    """Small, tall, wide and larger-than-the-crop objects (the image is then zoomed out), and none."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        mask = np.zeros((150, 300), dtype=bool)
        h, w = min(shape[0], 150), min(shape[1], 300)
        y, x = rng.integers(0, 151 - h), rng.integers(0, 301 - w)
        mask[y : y + h, x : x + w] = True
        image = rng.integers(0, 256, size=(150, 300, 3), dtype=np.uint8)
        patch, kept, whole = crop_with_object(image, mask, (64, 96), 0.5, rng)
        assert patch.shape == (64, 96, 3) and kept.shape == (64, 96)
        assert kept.sum() >= 0.5 * whole.sum()
        assert whole.sum() > 0 or not mask.any()


def test_strategies_transform_one_image_or_paste_behind_an_occluder():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(80, 100, 3), dtype=np.uint8)
    mask = np.zeros((80, 100), dtype=bool)
    mask[20:50, 30:70] = True
    still = PairSettings(rotate=0, scale=(1, 1), translate=0, colour=0)
    for view, view_mask in strategy1(rng, image, mask, still):  # no transform: the image itself, twice
        assert np.array_equal(view, image) and np.array_equal(view_mask, mask)
    views = strategy1(rng, image, mask, PairSettings())
    assert not np.array_equal(views[0][1], views[1][1])  # two different transforms
    background = rng.integers(0, 256, size=(80, 100, 3), dtype=np.uint8)
    occluder = np.zeros((80, 100), dtype=bool)
    occluder[30:40, :] = True
    for composite, shown in strategy2(rng, image, mask, background, occluder, PairSettings()):
        assert shown.any() and not (shown & occluder).any()  # the background's object is in front
        assert np.array_equal(composite[~shown], background[~shown])


def test_stage1_samples_hold_half_the_object_and_a_deformed_guidance():
    recipe = make_options(RGMPRecipe, STAGE1)
    dataset = RGMP.build().training_module(recipe).clip_dataset([open_source(DATA)], recipe, 0)
    dataset.set_epoch(0)
    strategies = []
    for i in range(len(dataset)):
        clip = dataset[i]
        assert clip["frames"].shape == (2, 3, 64, 64) and clip["labels"].shape == (2, 64, 64)
        assert clip["labels"].flatten(1).any(dim=1).all()  # reference and target both show the object
        target, guidance = clip["labels"][1].numpy() > 0, clip["guidance"][0].numpy() > 0
        affine = np.array(clip["info"]["guide_affine"])
        assert np.array_equal(guidance, warp_mask(target, affine))  # the guidance is the target, deformed
        assert not np.allclose(affine, [[1, 0, 0], [0, 1, 0]])
        strategies.append(clip["info"]["strategy"])
    assert len(strategies) >= 10 and set(strategies) == {1, 2}
    again = dataset[0]
    assert torch.equal(again["frames"], dataset[0]["frames"])  # reproducible by (seed, epoch, index)


def _fit(settings, data_size=None, steps=6, lr=1e-4):
    recipe = make_options(RGMPRecipe, settings)
    method = RGMP.build()
    module = method.training_module(recipe).train()
    dataset = module.clip_dataset([open_source(DATA, size=data_size)], recipe, 0)
    dataset.set_epoch(0)
    batch = collate([dataset[0], dataset[1]])
    losses, out = fit_fixed_batch(module, batch, steps, lr)
    assert set(out) == {"loss", "ce", "iou"}
    assert losses[-1] < 0.7 * losses[0], losses
    encoder = method.network.Encoder
    assert not encoder.bn1.training and not encoder.bn1.weight.requires_grad and encoder.conv1.weight.requires_grad
    return module, batch


def test_stage1_steps_on_a_fixed_batch_reduce_the_loss():
    _fit(STAGE1)


def test_stage2_steps_reduce_the_loss_and_backpropagate_through_time():
    module, batch = _fit(STAGE2, data_size=(64, 96))
    guides = []
    hook = module.network.Encoder.conv1_p.register_forward_hook(lambda m, inputs, out: guides.append(inputs[0]))
    module(batch)
    hook.remove()
    # reference mask, ground-truth first guidance, then the first target's soft output with its graph
    assert len(guides) == 1 + 2
    assert not guides[1].requires_grad and set(guides[1].unique().tolist()) <= {0.0, 1.0}
    assert guides[2].requires_grad and ((guides[2] > 0.01) & (guides[2] < 0.99)).any()


def test_stage2_starts_from_stage1_weights(tmp_path):
    runs = tmp_path / "runs"
    train("rgmp", [DATA], name="s1", runs_dir=runs, settings={**STAGE1, "lr": "0.01"}, steps=1,
          backbone_weights="none")
    first = torch.load(runs / "s1/last.pt", weights_only=True)["state_dict"]
    result = train("rgmp", [DATA], name="s2", runs_dir=runs, steps=1, backbone_weights="none",
                   settings={**STAGE2, "init": str(runs / "s1/last.pt")})
    assert result.step == 1
    second = torch.load(runs / "s2/last.pt", weights_only=True)["state_dict"]
    random = RGMP.build().network.state_dict()
    key = "Decoder.pred2.weight"
    assert (first[key] - random[key]).abs().max() > 1e-3  # stage 1 at lr 0.01 moved it ...
    assert (second[key] - first[key]).abs().max() < 1e-4  # ... and stage 2 (lr 1e-5) started there


def test_cli_dry_run_prints_the_plan(tmp_path):
    result = CliRunner().invoke(app, ["train", "rgmp", "--data", DATA, "--runs-dir", str(tmp_path / "runs"),
                                      "--backbone-weights", "none", "--dry-run", "--set", "stage=2"])
    assert result.exit_code == 0, result.output
    assert "recipe.stage" in result.output and "1e-05" in result.output and "steps_per_epoch" in result.output
    assert not (tmp_path / "runs").exists()
    bad = CliRunner().invoke(app, ["train", "rgmp", "--data", DATA, "--runs-dir", str(tmp_path / "runs"),
                                   "--backbone-weights", "none", "--dry-run", "--set", "stage=3"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and "stage" in bad.output


def test_deep_supervision_is_an_option_off_by_default():
    grads = {}
    for deep in ("false", "true"):
        recipe = make_options(RGMPRecipe, {**STAGE1, "deep_supervision": deep})
        module = RGMP.build().training_module(recipe).train()
        dataset = module.clip_dataset([open_source(DATA)], recipe, 0)
        dataset.set_epoch(0)
        module(collate([dataset[0]]))["loss"].backward()
        grads[deep] = module.network.Decoder.pred3.weight.grad
        assert module.find_unused_parameters == (deep == "false")
    assert grads["false"] is None and grads["true"].abs().sum() > 0


def test_backbone_weights_from_a_torchvision_file(tmp_path):
    import torchvision.models as tvm

    from vostool.errors import WeightsError
    from vostool.loader import load_backbone

    torch.manual_seed(1)
    state = tvm.resnet50(weights=None).state_dict()
    torch.save(state, tmp_path / "r50.pth")
    method = RGMP.build()
    mask_filters = method.network.Encoder.conv1_p.weight.clone()
    load_backbone(method, str(tmp_path / "r50.pth"))
    encoder = method.network.Encoder
    assert torch.equal(encoder.res3[0].conv1.weight, state["layer2.0.conv1.weight"])
    assert torch.equal(encoder.bn1.running_var, state["bn1.running_var"])
    assert torch.equal(encoder.conv1_p.weight, mask_filters)  # not part of a ResNet: kept
    torch.save({k: v for k, v in state.items() if not k.startswith("layer4.")}, tmp_path / "part.pth")
    with pytest.raises(WeightsError, match="res5"):
        load_backbone(method, str(tmp_path / "part.pth"))


def test_bn_affine_trains_the_encoder_batchnorm_scale_but_never_its_statistics():
    for affine in ("false", "true"):
        recipe = make_options(RGMPRecipe, {**STAGE1, "bn_affine": affine})
        module = RGMP.build().training_module(recipe).train()
        bn3 = module.network.Encoder.res2[0].bn3
        assert not bn3.training  # statistics frozen either way
        mean = bn3.running_mean.clone()
        dataset = module.clip_dataset([open_source(DATA)], recipe, 0)
        dataset.set_epoch(0)
        module(collate([dataset[0]]))["loss"].backward()
        assert torch.equal(bn3.running_mean, mean)
        if affine == "true":
            # zero-initialised, so only a trainable scale lets the residual branch ever contribute
            assert bn3.weight.requires_grad and bn3.weight.grad.abs().sum() > 0
        else:
            assert not bn3.weight.requires_grad and bn3.weight.grad is None


def test_freeze_bn_false_trains_the_encoder_batchnorm_on_batch_statistics():
    recipe = make_options(RGMPRecipe, {**STAGE1, "freeze_bn": "false"})
    assert RGMPRecipe().freeze_bn  # the authors' frozen BatchNorm by default (tested above)
    module = RGMP.build().training_module(recipe).train()
    bn3 = module.network.Encoder.res2[0].bn3
    assert bn3.training
    mean = bn3.running_mean.clone()
    dataset = module.clip_dataset([open_source(DATA)], recipe, 0)
    dataset.set_epoch(0)
    module(collate([dataset[0], dataset[1]]))["loss"].backward()
    assert not torch.equal(bn3.running_mean, mean)
    assert bn3.weight.grad.abs().sum() > 0
    assert not module.eval().network.Encoder.res2[0].bn3.training  # scored with the running statistics


def test_iou_weight_adds_a_soft_iou_term_off_by_default():
    from vostool.methods.rgmp.training import soft_iou_loss

    target = torch.zeros(2, 8, 8, dtype=torch.bool)
    target[0, 2:6, 2:6] = True
    assert float(soft_iou_loss(target.float(), target)) == 0  # perfect, and empty on empty
    assert float(soft_iou_loss(torch.zeros(2, 8, 8), target)) == pytest.approx((1 - 1 / 17) / 2)
    assert float(soft_iou_loss(target.float() * 0.5, target)) == pytest.approx((1 - 9 / 17) / 2)
    stray = torch.zeros(2, 8, 8, requires_grad=True)
    soft_iou_loss(stray + 0.1, torch.zeros(2, 8, 8, dtype=torch.bool)).backward()
    assert (stray.grad > 0).all()  # a prediction where the object has left is pushed towards empty
    assert RGMPRecipe().iou_weight == 0
    with pytest.raises(OptionError, match="iou_weight"):
        make_options(RGMPRecipe, {"iou_weight": "-1"})
    losses = []
    for weight in ("0", "2"):
        torch.manual_seed(0)
        recipe = make_options(RGMPRecipe, {**STAGE1, "iou_weight": weight})
        module = RGMP.build().training_module(recipe)
        logits = torch.randn(2, 2, 8, 8)
        losses.append(float(module._loss((logits,), target)[0]))
    expected = 2 * float(soft_iou_loss(torch.softmax(logits, dim=1)[:, 1], target))
    assert losses[1] - losses[0] == pytest.approx(expected, rel=1e-5)
