"""Training STM (STM-cycle's recipe) and FlowVOS (two stages, flow losses, the released code's quirks)."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fixed_batch import fit_fixed_batch
from vostool.cli import app
from vostool.data.clip_settings import ClipSettings
from vostool.data.clips import ClipDataset, augment_clip, collate
from vostool.data.sources import open_source
from vostool.methods.flowvos import FlowVOS
from vostool.methods.flowvos.recipe import FlowVOSRecipe
from vostool.methods.stm import STM
from vostool.methods.stm.losses import bootstrapped_cross_entropy, soft_iou_loss
from vostool.methods.stm.recipe import STMRecipe
from vostool.methods.stm.training import Clip
from vostool.options import make_options

SIZE = {"size": "32,48", "workers": "0", "batch_size": "1", "max_skip": "2", "objects": "2"}
DATA = "synthetic:videos=2,frames=6,min_objects=2,max_objects=2"


def _module(cls, settings):
    method = cls.build({})
    recipe = make_options(cls.Recipe, {**SIZE, **settings})
    return method.training_module(recipe).train(), recipe


def _batch(recipe, index=0):
    dataset = ClipDataset([open_source(DATA, size=(32, 48))], recipe, seed=0)
    dataset.set_epoch(0)
    return collate([dataset[index]])


def _reduces_the_loss(module, batch, steps=4, lr=1e-4):
    losses, out = fit_fixed_batch(module, batch, steps, lr)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.9 * losses[0], losses
    return out


def test_stm_recipe_defaults_are_stm_cycles():
    r = STMRecipe()
    assert (r.optimizer, r.lr, r.betas, r.weight_decay, r.schedule, r.epochs, r.batch_size) == (
        "adam", 1e-5, (0.9, 0.999), 5e-4, "constant", 240, 4)
    assert (r.clip_mode, r.clip_frames, r.objects, r.repeats, r.ytvos_samples, r.size) == (
        "sequential", 3, 5, 5, 0, (240, 427))
    assert (r.max_skip, r.ytvos_max_skip, r.max_skip_growth, r.max_skip_every, r.max_skip_limit) == (50, 10, (5, 1), 5, 100)
    assert (r.crop_percent, r.affine_rotate, r.affine_scale, r.hflip, r.contrast, r.noise) == (
        0.1, 15.0, (0.95, 1.05), 0.5, 0.03, 5.0)
    assert r.affine_shear == pytest.approx(math.tan(math.radians(10)), abs=1e-3)
    assert (r.bootstrap, r.cycle, r.freeze_bn) == (0.4, True, True)
    f = FlowVOSRecipe()
    assert (f.epochs, f.base_epochs, f.freeze_seg_every, f.teacher_forcing) == (480, 240, 5, 0.5)
    assert (f.mask_flow_weight, f.visual_flow_weight, f.code_quirks) == (1.0, 1.0, False)
    shared = {x.name for x in dataclasses.fields(STMRecipe)}
    assert all(getattr(f, k) == getattr(r, k) for k in shared - {"epochs"})
    with pytest.raises(Exception, match="bootstrap"):
        make_options(STMRecipe, {"bootstrap": "0"})
    with pytest.raises(Exception, match="teacher_forcing"):
        make_options(FlowVOSRecipe, {"teacher_forcing": "2"})


def test_max_skip_grows_every_five_epochs_up_to_the_limit():
    r = STMRecipe()
    assert [r.max_skip_at("davis", e) for e in (0, 4, 5, 10, 49, 50, 1000)] == [50, 50, 55, 60, 95, 100, 100]
    assert [r.max_skip_at("ytvos", e) for e in (0, 5, 12)] == [10, 11, 12]
    assert ClipSettings(max_skip=3).max_skip_at("davis", 100) == 3


def test_clip_wide_contrast_noise_and_crop_percent():
    rng = np.random.default_rng(0)
    frames = rng.integers(20, 230, size=(3, 40, 60, 3), dtype=np.uint8)
    labels = np.zeros((3, 40, 60), dtype=np.uint8)
    labels[:, 10:30, 20:40] = 1
    s = ClipSettings(contrast=0.03, noise=5.0)
    out, same = augment_clip(frames, labels, s, np.random.default_rng(1))
    assert (same == labels).all()
    # one factor and one offset for the whole clip: out = frames * a + b up to rounding
    a, b = np.polyfit(frames.ravel().astype(float), out.ravel().astype(float), 1)
    assert 0.97 <= a <= 1.03 and -5.5 <= b <= 5.5 and abs(a - 1) + abs(b) > 1e-3
    assert np.abs(out - (frames * a + b)).max() <= 1.0
    cropped, cropped_labels = augment_clip(frames, labels, ClipSettings(crop_percent=0.1), np.random.default_rng(2))
    assert cropped.shape == frames.shape and cropped_labels.shape == labels.shape
    grown = (cropped_labels[0] > 0).sum()
    assert 400 < grown <= 400 / 0.8 ** 2 + 40  # zoomed in by at most 1 / 0.8 per axis


def test_bootstrapped_cross_entropy_averages_the_hardest_40_percent():
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(3, 10, 10), dim=0)
    target = torch.nn.functional.one_hot(torch.randint(0, 3, (10, 10)), 3).permute(2, 0, 1).float()
    per_pixel = -(target * torch.log(probs + 1e-5)).sum(0).flatten()
    hardest = per_pixel.sort(descending=True).values[:40]
    assert bootstrapped_cross_entropy(probs, target) == pytest.approx(float(hardest.mean()), rel=1e-6)
    assert bootstrapped_cross_entropy(probs, target) > float(per_pixel.mean())
    assert bootstrapped_cross_entropy(probs, target, 1.0) == pytest.approx(float(per_pixel.mean()), rel=1e-6)


def test_soft_iou_loss():
    target = torch.zeros(2, 4, 4)
    target[1, :2] = 1
    target[0] = 1 - target[1]
    assert float(soft_iou_loss(target, target)) == pytest.approx(0.0)
    half = target.clone()
    half[1, :, 2:] = 0  # 4 of the 8 object pixels
    half[0] = 1 - half[1]
    assert float(soft_iou_loss(half, target)) == pytest.approx(0.5)


def test_stm_steps_on_a_fixed_batch_reduce_the_loss():
    module, recipe = _module(STM, {})
    batch = _batch(recipe)
    assert int(batch["num_objects"][0]) == 2
    out = _reduces_the_loss(module, batch)
    assert float(out["cycle"]) > 0 and float(out["segmentation"]) > 0
    assert not module.network.Encoder_Q.bn1.training and module.network.Decoder.training  # BatchNorm frozen


def test_flowvos_steps_on_a_fixed_batch_reduce_the_loss():
    module, recipe = _module(FlowVOS, {"base_epochs": "0", "freeze_seg_every": "0"})
    out = _reduces_the_loss(module, _batch(recipe))
    assert float(out["flow_stage"]) == 1 and float(out["mask_flow"]) > 0 and float(out["visual_flow"]) > 0


def test_flowvos_stages_and_alternate_freezing():
    module, recipe = _module(FlowVOS, {"base_epochs": "2", "freeze_seg_every": "5"})
    stages = [module.schedule(e) for e in range(2, 17)]
    assert module.schedule(0) == module.schedule(1) == (False, True)
    assert [t for _, t in stages] == [False] * 4 + [True] * 5 + [False] * 5 + [True]  # ((e + 1) // 5) odd
    batch = _batch(recipe)
    batch["info"][0]["epoch"] = 0  # stage 1: no flow module
    out = module(batch)
    out["loss"].backward()
    assert float(out["flow_stage"]) == 0 and float(out["mask_flow"]) == 0
    assert module.network.FlowRegressor.outc.weight.grad is None
    module.zero_grad(set_to_none=True)
    batch["info"][0]["epoch"] = 2  # stage 2, first epoch: the segmentation network is frozen
    out = module(batch)
    out["loss"].backward()
    assert module.network.Encoder_Q.conv1.weight.grad is None and module.network.Decoder.pred2.weight.grad is None
    assert module.network.FlowRegressor.outc.weight.grad.abs().sum() > 0
    assert module.network.Decoder.flow_mixer.weight.grad.abs().sum() > 0


def test_code_quirks_switch_the_three_differences():
    paper, recipe = _module(FlowVOS, {"base_epochs": "0"})
    quirks, _ = _module(FlowVOS, {"base_epochs": "0", "code_quirks": "true"})
    # 1. freezing: the paper freezes the segmentation network in the stage's first epochs; the code never does
    assert paper.schedule(0) == (True, False) and quirks.schedule(0) == (True, True)
    # 2. BatchNorm: the paper's flow module trains its (new) BatchNorm; the code keeps every BatchNorm in eval mode
    assert paper.network.FlowRegressor.inc.double_conv[1].training
    assert not quirks.network.FlowRegressor.inc.double_conv[1].training
    assert not paper.network.Encoder_M.bn1.training and not quirks.network.Encoder_M.bn1.training
    # 3. round(): the Mask Flow Loss reaches the flow module only without it
    batch = _batch(recipe)
    grads = []
    for module in (paper, quirks):
        clip = Clip(module.network, batch["frames"][0], batch["labels"][0], 2, module.multiple)
        clip.teacher_forced = True
        _, extra = module.decoder_input(clip, 0, 1, clip.target[0])
        module.zero_grad(set_to_none=True)
        extra["mask_flow"].backward()
        grad = module.network.FlowRegressor.outc.weight.grad
        grads.append(0.0 if grad is None else float(grad.abs().sum()))
    assert grads[0] > 0 and grads[1] == 0


def test_teacher_forcing_is_drawn_once_per_clip_from_its_identity():
    module, _ = _module(FlowVOS, {"base_epochs": "0"})
    infos = [{"sequence": "a", "frames": [epoch, epoch + 1, epoch + 3], "epoch": epoch} for epoch in range(400)]
    draws = [module.teacher_forced(info) for info in infos]
    assert draws == [module.teacher_forced(dict(info)) for info in infos]
    assert 0.42 < np.mean(draws) < 0.58
    module.recipe = dataclasses.replace(module.recipe, teacher_forcing=0.0)
    assert not any(module.teacher_forced(info) for info in infos[:50])


@pytest.mark.parametrize("method", ["stm", "flowvos"])
def test_dry_run_shows_the_recipe(tmp_path, method):
    result = CliRunner().invoke(app, ["train", method, "--data", "synthetic:videos=2,frames=5", "--runs-dir",
                                      str(tmp_path), "--backbone-weights", "none", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "recipe.lr" in result.output and "1e-05" in result.output and "recipe.weight_decay" in result.output
    assert ("recipe.code_quirks" in result.output) == (method == "flowvos")
    assert not (tmp_path / method).exists()


def test_flowvos_stage_two_starts_from_an_stm_cycle_checkpoint(tmp_path):
    from vostool.methods.stm.network import STMNetwork

    with torch.random.fork_rng():
        torch.manual_seed(5)
        cycle = STMNetwork("background").state_dict()
    torch.save({"epoch": 240, "state_dict": cycle, "max_skip": [50, 10]}, tmp_path / "recurrent.pth.tar")
    fresh = FlowVOS.build({}).network.state_dict()
    module, _ = _module(FlowVOS, {"base_epochs": "0", "init": str(tmp_path / "recurrent.pth.tar")})
    state = module.network.state_dict()
    assert all(torch.equal(state[k], v) for k, v in cycle.items())
    flow = [k for k in state if k.startswith(("FlowRegressor.", "Decoder.flow_mixer."))]
    assert flow and all(torch.equal(state[k], fresh[k]) for k in flow)
    with pytest.raises(Exception, match="third_channel"):  # an STM file (others) is refused, not guessed
        torch.save(STMNetwork("others").state_dict(), tmp_path / "stm.pth")
        _module(FlowVOS, {"init": str(tmp_path / "stm.pth")})


def test_identity_flow_mixer_starts_the_flow_stage_from_the_segmentation_networks_output():
    torch.manual_seed(0)
    random_mixer, _ = _module(FlowVOS, {"base_epochs": "0"})
    identity, _ = _module(FlowVOS, {"base_epochs": "0", "flow_mixer_init": "identity"})
    assert random_mixer.network.Decoder.flow_mixer.weight[:, -1].abs().sum() > 0  # the authors': PyTorch's init
    decoder = identity.network.Decoder.eval()
    x, r3, r2 = torch.randn(1, 1024, 4, 6), torch.randn(1, 512, 8, 12), torch.randn(1, 256, 16, 24)
    with torch.no_grad():
        plain = decoder(x, r3, r2, (64, 96))
        warped = [decoder(x, r3, r2, (64, 96), (torch.rand(1, 1, 64, 96) > p).float()) for p in (0.2, 0.8)]
    assert torch.equal(warped[0], warped[1])  # the warped mask is ignored until its weights grow
    # the same logits up to where the upsampling happens (before pred2 instead of after it; random features
    # here are rougher than trained ones, so the two orders differ more)
    assert torch.corrcoef(torch.stack([plain.flatten(), warped[0].flatten()]))[0, 1] > 0.75
    assert (plain.argmax(1) == warped[0].argmax(1)).float().mean() > 0.85
    with pytest.raises(Exception, match="flow_mixer_init"):
        make_options(FlowVOSRecipe, {"flow_mixer_init": "zero"})
