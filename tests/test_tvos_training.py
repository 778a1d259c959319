"""TVOS training: the recipe is the paper's, the loss is the authors', clips are theirs, and it learns."""

import dataclasses
import json
import math
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fixed_batch import fit_fixed_batch
from vostool.cli import app
from vostool.data.clips import ClipDataset, collate
from vostool.data.sources import open_source
from vostool.training.contract import TrainingEnv
from vostool.methods.tvos import TVOS
from vostool.methods.tvos.recipe import TVOSRecipe
from vostool.methods.tvos.training import (TVOSTraining, onehot_grid_labels, palette_grid_labels,
                                           propagation_nll)
from vostool.options import make_options
from vostool.training.recipe import lr_factor, split_assignments
from vostool.training.trainer import make_optimizer

# The paper (section 4) and the authors' main.py / dataset/davis.py (../shared/specs/tvos.md 2.4).
PAPER = {
    "optimizer": "sgd", "lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 3e-4,
    "schedule": "cosine", "lr_min": 4e-5, "cosine_per_epoch": True, "epochs": 240, "batch_size": 16,
    "clip_mode": "sequential", "clip_frames": 10, "max_skip": 1, "clips_per_frame": True, "crop": (256, 256),
    "hflip": 0.5, "vflip": 0.5, "colour_jitter": 0.0, "size": None, "loss_temperature": 1.0,
    "label_downsample": "palette", "affine_rotate": 0.0, "affine_scale": (1.0, 1.0),
}
TINY = {"backbone": "resnet18", "crop": "64,64", "clip_frames": "4", "batch_size": "2", "workers": "0",
        "min_frames": "4"}


def test_recipe_defaults_are_the_papers():
    recipe = TVOSRecipe()
    assert {k: getattr(recipe, k) for k in PAPER} == PAPER
    assert TVOS.Recipe is TVOSRecipe


def test_every_value_is_settable_and_checked():
    values, options = split_assignments(TVOSRecipe, TVOS.Options,
                                        {"lr": "0.1", "nesterov": "false", "crop": "128,96", "temperature": "2",
                                         "loss_temperature": "0.5", "label_downsample": "onehot"}, "tvos")
    recipe = make_options(TVOSRecipe, values)
    assert (recipe.lr, recipe.nesterov, recipe.crop, recipe.loss_temperature, recipe.label_downsample) == (
        0.1, False, (128, 96), 0.5, "onehot")
    assert options == {"temperature": "2"}  # the inference option keeps its name
    for bad in ({"clip_frames": "1"}, {"loss_temperature": "0"}, {"lr_min": "1"},
                {"clips_per_frame": "true", "clip_mode": "reference"}):
        with pytest.raises(Exception, match=next(iter(bad))):
            make_options(TVOSRecipe, bad)


def test_dry_run_prints_the_recipe(tmp_path):
    result = CliRunner().invoke(app, ["train", "tvos", "--data", "synthetic:videos=2,frames=12", "--runs-dir",
                                      str(tmp_path), "--name", "dry", "--backbone-weights", "none", "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = {}
    for line in result.output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if len(cells) == 2 and cells[0].startswith("recipe."):
            printed[cells[0][len("recipe."):]] = cells[1]
    for key, value in PAPER.items():
        shown = f"[{value[0]}, {value[1]}]" if isinstance(value, tuple) else str(value)
        assert printed[key] == shown, (key, printed.get(key))
    assert "clips_per_epoch" in result.output and "24" in result.output  # 2 videos x 12 frames
    assert not (tmp_path / "dry").exists()


def test_schedule_is_pytorchs_cosine_annealing_per_epoch():
    recipe = make_options(TVOSRecipe, {"epochs": "5"})
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=recipe.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5, eta_min=4e-5)
    for epoch in range(5):
        for step in range(3):
            assert recipe.lr * lr_factor(recipe, epoch * 3 + step, 3) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()


def _direct_nll(ref, target, ref_labels, target_labels, classes, temperature):
    """The authors' CrossEntropy pixel by pixel, in float64."""
    total, count = 0.0, 0
    num, refs, channels = ref.shape[:3]
    for b in range(num):
        keys = ref[b].permute(0, 2, 3, 1).reshape(-1, channels).double()
        labels = ref_labels[b].reshape(-1)
        for i, query in enumerate(target[b].reshape(channels, -1).T.double()):
            weights = torch.softmax(keys @ query * temperature, dim=0)
            p = sum(float(weights[labels == c].sum()) for c in [int(target_labels[b].reshape(-1)[i])])
            total -= math.log(p + 1e-14)
            count += 1
    return total / count


def test_loss_is_the_authors_propagation_nll():
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 3, 8, 4, 5, generator=gen)
    target = torch.randn(2, 8, 4, 5, generator=gen)
    ref_labels = torch.randint(0, 3, (2, 3, 4, 5), generator=gen)
    target_labels = torch.randint(0, 3, (2, 4, 5), generator=gen)
    loss, prediction = propagation_nll(ref, target, ref_labels, target_labels, 4, temperature=0.7)
    assert loss.item() == pytest.approx(_direct_nll(ref, target, ref_labels, target_labels, 4, 0.7), rel=1e-5)
    assert torch.allclose(prediction.sum(dim=1), torch.ones(2, 4, 5), atol=1e-5)
    assert prediction[:, 3].abs().max() == 0  # a class absent from the references gets nothing


def test_palette_labels_are_the_authors():
    labels = torch.zeros(1, 1, 16, 24, dtype=torch.uint8)
    labels[0, 0, :8, :8] = 1  # cell (0, 0): object 1 everywhere
    labels[0, 0, 8:, :8] = 2  # cell (1, 0): object 2 (dataset id 3) around a centre of object 1
    labels[0, 0, 11:13, 3:5] = 1
    labels[0, 0, 3:5, 11:13] = 2  # cell (0, 1): background, centre half object 1, half dataset id 3
    labels[0, 0, 3:5, 11] = 1
    labels[0, 0, :, 16:] = 2  # cell (*, 2): dataset id 3, but for one pixel outside the centre
    labels[0, 0, 0, 16] = 1
    grid = palette_grid_labels(labels, [[1, 3]], (2, 3))
    # Only each cell's central 2x2 pixels count (bilinear 1/8, align_corners=False); colours are the
    # dataset ids' palette colours; (128,0,0) and (128,128,0) average to (128,64,0), which is class 17.
    assert grid.tolist() == [[[[1, 17, 3], [1, 0, 3]]]]
    onehot = onehot_grid_labels(labels, 3, (2, 3))
    assert onehot.tolist() == [[[[1, 1, 2], [1, 0, 2]]]]  # a tie takes the first class


def _tiny_batch(settings=None):
    recipe = make_options(TVOSRecipe, {**{k: v for k, v in TINY.items() if k != "backbone"}, **(settings or {})})
    dataset = ClipDataset([open_source("synthetic:videos=3,frames=6,min_objects=2,max_objects=2", size=(64, 96))], recipe, seed=0,
                          visibility=TVOSTraining.visible_frames)
    dataset.set_epoch(0)
    return recipe, dataset


def test_clips_start_at_every_frame_and_label_every_object():
    recipe, dataset = _tiny_batch()
    assert len(dataset) == 18  # one clip per frame of each of the 3 videos
    starts = {}
    for index in range(len(dataset)):
        clip = dataset[index]
        frames = clip["info"]["frames"]
        assert frames == list(range(frames[0], frames[0] + 4))  # consecutive
        unit = dataset.order[index]
        assert frames[0] == min(unit.start, 2)  # moved back so the clip fits the 6 frames
        starts.setdefault(unit.video, []).append(frames[0])
        assert clip["info"]["objects"] == dataset.sources[0].object_ids(unit.video)
        assert clip["frames"].shape == (4, 3, 64, 64)
    assert all(sorted(s) == [0, 1, 2, 2, 2, 2] for s in starts.values())


def test_a_few_steps_on_a_fixed_batch_reduce_the_loss():
    method = TVOS.build({"backbone": "resnet18"})
    recipe, dataset = _tiny_batch({"hflip": "0", "vflip": "0"})
    batch = collate([dataset[0], dataset[7]])
    assert (batch["labels"][:, -1] > 0).any()
    module = method.training_module(recipe, TrainingEnv()).train()
    assert all(p.requires_grad for p in module.parameters())
    # The recipe's optimiser (SGD, Nesterov) at half its rate: at 0.02 the path on one tiny batch of
    # random-init features swings with float rounding (thread count); at 0.01 it settles on any.
    optimizer = make_optimizer(dataclasses.replace(recipe, lr=recipe.lr / 2), list(module.parameters()))
    assert optimizer.param_groups[0]["nesterov"] and optimizer.param_groups[0]["weight_decay"] == 3e-4
    losses, out = fit_fixed_batch(module, batch, 10, optimizer=optimizer)
    assert set(out) == {"loss", "accuracy", "fg_accuracy"}
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses


def test_train_then_segment(tmp_path):
    from vostool.data.synthetic import make_clip
    from vostool.loader import load_method
    from vostool.training import train

    result = train("tvos", ["synthetic:videos=2,frames=6"], name="t", runs_dir=tmp_path, steps=2,
                   settings=TINY, backbone_weights="none")
    assert result.step == 2
    log = [json.loads(line) for line in (tmp_path / "t/log.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in log if "loss" in r] == [0.02, 0.02]
    method = load_method("tvos", {"backbone": "resnet18"}, weights=str(tmp_path / "t/last.pt"))
    clip = make_clip(num_frames=3, height=48, width=64, num_objects=2, seed=3)
    session = method.new_session()
    frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255
    out = [session.step(frames[0], torch.from_numpy(clip.labels[0]).long())]
    out += [session.step(f) for f in frames[1:]]
    assert all(o.shape == (3, 48, 64) and torch.allclose(o.sum(0), torch.ones(48, 64), atol=1e-4) for o in out)
    trained = torch.load(tmp_path / "t/last.pt", weights_only=True)["state_dict"]
    untrained = TVOS.build({"backbone": "resnet18"}).network.state_dict()
    assert any(not torch.equal(untrained[k], trained[k]) for k in trained if k.startswith("backbone.layer4"))
    assert np.isfinite([r["loss"] for r in log if "loss" in r]).all()
