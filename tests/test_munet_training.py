"""MUNet's training: the loss terms, learning on a fixed batch with gradients into the motion branch,
and a run through the shared Trainer whose checkpoint segments."""

import torch

from fixed_batch import fit_fixed_batch
from vostool.data.clips import ClipDataset, collate
from vostool.data.sources import open_source
from vostool.loader import load_method
from vostool.training.contract import TrainingEnv
from vostool.methods.munet import MUNet
from vostool.methods.munet.losses import bootstrapped_bce, munet_loss, soft_iou_loss
from vostool.methods.munet.recipe import MUNetRecipe
from vostool.options import make_options
from vostool.training import train

TINY = {"size": "32,48", "crop": "none", "batch_size": "1", "workers": "0", "clip_frames": "3", "objects": "2",
        "min_frames": "3", "affine_rotate": "0", "affine_shear": "0", "affine_scale": "1,1", "colour_jitter": "0",
        "hflip": "0"}
DATA = "synthetic:videos=2,frames=5,min_objects=2"


def test_recipe_defaults_are_the_papers():
    r = MUNetRecipe()
    assert (r.optimizer, r.lr, r.betas, r.weight_decay) == ("adamw", 2e-5, (0.9, 0.999), 0.5)
    assert (r.clip_frames, r.max_skip, r.crop, r.bootstrap_fraction, r.iou_weight) == (6, 1, (400, 400), 0.4, 1.0)
    assert r.hflip > 0 and r.colour_jitter > 0 and r.affine_rotate > 0 and r.affine_scale[0] < 1 < r.affine_scale[1]


def test_bootstrapped_ce_keeps_the_hardest_pixels_and_soft_iou_is_one_minus_min_over_max():
    prob = torch.tensor([[[0.9, 0.6, 0.2, 0.5, 0.99]]])  # (1, 1, 5)
    target = torch.tensor([[[1.0, 1.0, 1.0, 0.0, 1.0]]])
    per_pixel = -torch.log(torch.tensor([0.9, 0.6, 0.2, 0.5, 0.99]))
    hardest = per_pixel.sort(descending=True).values[:2]  # 40% of 5 pixels
    assert torch.allclose(bootstrapped_bce(prob, target, 0.4), hardest.mean())
    assert torch.allclose(bootstrapped_bce(prob, target, 1.0), per_pixel.mean())
    expected_iou = 1 - (0.9 + 0.6 + 0.2 + 0.0 + 0.99) / (1 + 1 + 1 + 0.5 + 1)
    assert torch.allclose(soft_iou_loss(prob, target), torch.tensor(expected_iou))
    assert soft_iou_loss(target, target) == 0 and soft_iou_loss(1 - target, target) == 1
    assert soft_iou_loss(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)) == 0  # nothing to get wrong
    total, bsce, miou = munet_loss(prob, target, 0.4, 2.0)
    assert torch.allclose(total, bsce + 2 * miou)


def _batch(recipe):
    dataset = ClipDataset([open_source(DATA, size=(32, 48))], recipe, seed=0)
    dataset.set_epoch(0)
    return collate([dataset[0]])


def test_a_few_steps_on_a_fixed_batch_reduce_the_loss():
    method = MUNet.build()
    recipe = make_options(MUNetRecipe, TINY)
    module = method.training_module(recipe, TrainingEnv()).train()
    batch = _batch(recipe)
    assert batch["frames"].shape[:2] == (1, 3) and int(batch["num_objects"][0]) == 2
    def gradients_reach_the_new_modules(step: int) -> None:
        if step == 0:
            for param in (method.network.MULayer.reduce.weight, method.network.MULayer.motion.layers[0].weight,
                          method.network.MSAM.attention.weight, method.network.Encoder_M.conv1_m.weight):
                assert param.grad is not None and param.grad.abs().sum() > 0

    losses, out = fit_fixed_batch(module, batch, 8, optimizer=torch.optim.Adam(module.parameters(), lr=2e-4),
                                  after_backward=gradients_reach_the_new_modules)
    assert set(out) == {"loss", "bsce", "miou", "iou"}
    assert losses[-1] < 0.85 * losses[0], losses
    assert not method.network.Encoder_Q.bn1.training  # BatchNorm statistics frozen (freeze_bn)


def test_a_run_through_the_trainer_gives_a_checkpoint_that_segments(tmp_path):
    result = train("munet", [DATA], name="run", runs_dir=tmp_path, settings={**TINY, "motion": "false"}, steps=2,
                   backbone_weights="none")
    assert result.step == 2
    method = load_method("munet", weights=str(tmp_path / "run/last.pt"))
    assert method.options.motion is False
    trained = result.method.network.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in method.network.state_dict().items())


def test_init_starts_a_run_from_an_earlier_runs_weights(tmp_path):
    first = train("munet", [DATA], name="first", runs_dir=tmp_path, settings={**TINY, "motion": "false"}, steps=1,
                  backbone_weights="none")
    saved = first.method.network.state_dict()
    recipe = make_options(MUNetRecipe, {**TINY, "init": str(tmp_path / "first/last.pt")})
    fresh = MUNet.build({"motion": "false"})
    assert not all(torch.equal(v, saved[k]) for k, v in fresh.network.state_dict().items())
    fresh.training_module(recipe, TrainingEnv())
    assert all(torch.equal(v, saved[k]) for k, v in fresh.network.state_dict().items())
