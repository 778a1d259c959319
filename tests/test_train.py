"""The Trainer with FRTM at tiny sizes: learning, exact resumption, caches, checkpoints, validation."""

import json

import numpy as np
import pytest
import torch

from fixed_batch import fit_fixed_batch
from vostool.data.clips import ClipDataset, collate
from vostool.data.sources import open_source
from vostool.loader import load_method
from vostool.training.contract import TrainingEnv
from vostool.methods.frtm import FRTM
from vostool.methods.frtm.recipe import FRTMRecipe
from vostool.options import make_options
from vostool.training import train
from vostool.training.cache import TensorCache
from vostool.training.recipe import lr_factor, split_assignments

TINY = {"backbone": "resnet18", "size": "48,64", "batch_size": "2", "workers": "0", "tm_num_aug": "3",
        "tm_init_iters": "2,2", "tm_update_iters": "2"}
DATA = ["synthetic:videos=3,frames=6"]


def _train(tmp_path, name="run", steps=2, settings=None, cache="cache", **kw):
    values = {**TINY, "cache": str(tmp_path / cache), **(settings or {})}
    return train("frtm", kw.pop("data", DATA), name=name, runs_dir=tmp_path / "runs", settings=values, steps=steps,
                 backbone_weights="none", **kw)


def test_recipe_defaults_are_the_authors():
    r = FRTMRecipe()
    assert (r.optimizer, r.lr, r.betas, r.amsgrad, r.weight_decay) == ("adam", 1e-3, (0.9, 0.999), True, 1e-5)
    assert (r.schedule, r.lr_step, r.lr_gamma, r.epochs, r.batch_size) == ("step", 127, 0.1, 260, 16)
    assert (r.clip_mode, r.clip_frames, r.size, r.repeats, r.ytvos_samples) == ("reference", 3, (480, 854), 8, 4000)
    tm = r.target_options("resnet18")
    assert (tm.num_aug, tm.c_channels, tm.memory_size, tm.filter_reg, tm.precond) == (15, 32, 20, (1e-5, 1e-4), (1e-5, 1e-4))
    assert (tm.cg_forgetting_rate, tm.pixel_weighting, tm.resolved_init_iters, tm.resolved_update_iters) == (
        75.0, "none", (5, 10, 10, 10, 10), (10,))


def test_set_keys_go_to_the_recipe_or_the_options():
    recipe, options = split_assignments(FRTMRecipe, FRTM.Options, {"lr": "0.01", "backbone": "resnet18"}, "frtm")
    assert recipe == {"lr": "0.01"} and options == {"backbone": "resnet18"}
    with pytest.raises(Exception, match="unknown key 'lrate'.*recipe fields: .*lr.*method options: .*backbone"):
        split_assignments(FRTMRecipe, FRTM.Options, {"lrate": "1"}, "frtm")
    with pytest.raises(Exception, match="clip_frames"):
        make_options(FRTMRecipe, {"clip_frames": "1"})


def test_schedules_match_pytorch():
    params = [torch.nn.Parameter(torch.zeros(1))]
    recipe = make_options(FRTMRecipe, {"lr_step": "2", "epochs": "6"})
    opt = torch.optim.SGD(params, lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    for epoch in range(6):
        for step in range(3):  # 3 steps per epoch; StepLR steps once per epoch
            assert lr_factor(recipe, epoch * 3 + step, 3) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    cosine = make_options(FRTMRecipe, {"schedule": "cosine", "epochs": "2"})
    opt = torch.optim.SGD(params, lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)
    for step in range(8):
        assert lr_factor(cosine, step, 4) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()


def test_a_few_steps_on_a_fixed_batch_reduce_the_loss():
    method = FRTM.build({"backbone": "resnet18"})
    recipe = make_options(FRTMRecipe, {k: v for k, v in TINY.items() if k != "backbone"})
    module = method.training_module(recipe, TrainingEnv()).train()
    dataset = ClipDataset([open_source(DATA[0], size=(48, 64))], recipe, seed=0)
    dataset.set_epoch(0)
    batch = collate([dataset[0], dataset[1]])
    losses, out = fit_fixed_batch(module, batch, 6, lr=1e-3)
    assert set(out) >= {"loss", "bce", "iou", "tm_cache_hits"}
    assert losses[-1] < 0.7 * losses[0], losses
    assert all(not p.requires_grad for p in method.network.backbone.parameters())
    assert not method.network.backbone.training and method.network.refiner.training


def _refiner(path):
    raw = torch.load(path, weights_only=True)
    return raw["state_dict"], raw["training"]


def test_resume_continues_exactly(tmp_path):
    straight = _train(tmp_path, "straight", steps=4, cache="cache_a")
    first = _train(tmp_path, "split", steps=2, cache="cache_b")
    assert first.step == 2 and first.stopped == "--steps"
    resumed = train("frtm", name="split", runs_dir=tmp_path / "runs", steps=4, resume=True)
    assert resumed.step == 4
    a, ta = _refiner(tmp_path / "runs/straight/last.pt")
    b, tb = _refiner(tmp_path / "runs/split/last.pt")
    assert a.keys() == b.keys()
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())
    assert worst == 0.0, worst
    assert ta["step"] == tb["step"] == 4
    moments = [(ta["optimizer"]["state"][i]["exp_avg"], tb["optimizer"]["state"][i]["exp_avg"]) for i in ta["optimizer"]["state"]]
    assert all(torch.equal(x, y) for x, y in moments)
    log = [json.loads(line) for line in (tmp_path / "runs/split/log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]
    # ... and the trained weights differ from the untrained ones.
    untrained = FRTM.build({"backbone": "resnet18"}).network.state_dict()
    assert any(not torch.equal(untrained[k], a[k]) for k in a if k.startswith("refiner."))


def test_target_models_are_cached_and_reused(tmp_path):
    first = _train(tmp_path, "one", steps=3, settings={"repeats": "1"})
    files = sorted((tmp_path / "cache").rglob("*.layer4.pth"))
    assert files and all(f.parent.parent.name.startswith("resnet18-c32-") for f in files)
    entry = torch.load(files[0], weights_only=True)
    assert set(entry) == {"project.weight", "filter.weight"}
    assert entry["project.weight"].shape == (32, 256, 1, 1) and entry["filter.weight"].shape == (1, 32, 3, 3)
    files[0].write_bytes(b"damaged")  # a damaged entry is learned again and rewritten
    _train(tmp_path, "two", steps=3, settings={"repeats": "1"})
    log = [json.loads(line) for line in (tmp_path / "runs/two/log.jsonl").read_text().splitlines()]
    assert sum(r["tm_cache_hits"] for r in log) > 0
    assert torch.load(files[0], weights_only=True).keys() == entry.keys()
    assert first.step == 3


def test_cache_reads_damaged_entries_as_missing(tmp_path):
    cache = TensorCache(tmp_path)
    cache.save("a/b.pth", {"x": torch.ones(2)})
    assert torch.equal(cache.load("a/b.pth")["x"], torch.ones(2)) and cache.load("nope") is None
    (tmp_path / "a/b.pth").write_bytes(b"\0" * 10)
    assert cache.load("a/b.pth") is None and (cache.hits, cache.misses) == (1, 2)


def test_checkpoints_segment_and_validation(tmp_path):
    result = _train(tmp_path, "val", steps=2, val=["synthetic:videos=2,frames=5,seed=1"])
    run = tmp_path / "runs/val"
    assert {p.name for p in run.iterdir()} >= {"last.pt", "best.pt", "log.jsonl", "curves.png", "config.json"}
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"]["size"] == [48, 64] and config["options"]["backbone"] == "resnet18"
    assert result.last_val is not None and result.baseline is not None and 0 <= result.baseline["J&F"] <= 100
    method = load_method("frtm", weights=str(run / "best.pt"))  # a vostool checkpoint, random backbone inside
    assert method.options.backbone == "resnet18"
    trained = result.method.network.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in method.network.state_dict().items())
    with open(run / "curves.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_validation_scores_follow_the_davis_rules():
    from conftest import shared_path
    from vostool.training.validate import score_sequence

    root = shared_path("conformance", "davis_small")
    from PIL import Image

    official = json.loads((root / "official/per_frame.json").read_text())
    checked = 0
    for seq in sorted({k.rsplit("_", 1)[0] for k in official}):
        stems = sorted(p.stem for p in (root / "Annotations/480p" / seq).glob("*.png"))
        gt = np.stack([np.array(Image.open(root / "Annotations/480p" / seq / f"{s}.png")) for s in stems])
        pred = np.stack([np.array(Image.open(root / "results/synth" / seq / f"{s}.png")) for s in stems])
        gt = np.where(gt == 255, 0, gt)
        for k, (j, f) in enumerate(score_sequence(pred, gt), start=1):
            frames = official[f"{seq}_{k}"]
            assert j == pytest.approx(np.mean(frames["J"]), abs=1e-12)
            assert f == pytest.approx(np.mean(frames["F"]), abs=1e-12)
            checked += 1
    assert checked > 5


def test_training_on_davis_and_youtube_vos_layouts_together(tmp_path):
    from test_clips import _ytvos
    from vostool.data.synth_dataset import write_dataset
    from vostool.data.synth_video import SynthConfig

    davis = tmp_path / "davis"
    write_dataset(davis, 2, SynthConfig(height=48, width=64, frames=6), seed=3, split="train")
    write_dataset(davis, 1, SynthConfig(height=48, width=64, frames=6), seed=4, split="val", overwrite=True)
    ytvos = _ytvos(tmp_path / "ytvos", videos=2, frames=5)
    result = _train(tmp_path, "real", steps=2, data=[f"davis:{davis}", f"ytvos:{ytvos}"], val=[f"davis:{davis}"],
                    settings={"ytvos_samples": "3", "min_object_pixels": "20"})
    assert result.step == 2 and result.last_val["objects"] >= 1
    plan = _train(tmp_path, "plan", data=[f"davis:{davis}", f"ytvos:{ytvos}"],
                  settings={"ytvos_samples": "3", "min_object_pixels": "20"}, dry_run=True)
    davis_units = sum(len(u) for u in ClipDataset([open_source(f"davis:{davis}", min_frames=4)],
                                                  FRTMRecipe(min_object_pixels=20)).units)
    assert plan["clips_per_epoch"] == 8 * davis_units + 3
