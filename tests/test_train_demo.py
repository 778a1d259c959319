"""`--weights demo`: trained on first use with a fixed recipe, cached, then loaded like any checkpoint."""

import pytest
import torch
from typer.testing import CliRunner

from vostool.cli import app
from vostool.errors import WeightsError
from vostool.loader import load_method
from vostool.methods.frtm import FRTM
from vostool.training import demo
from vostool.training.demo import DemoRecipe

TINY = DemoRecipe(data="synthetic:videos=2,frames=5",
                  settings={"backbone": "resnet18", "size": "48,64", "batch_size": "2", "workers": "0",
                            "tm_num_aug": "3", "tm_init_iters": "2,2", "tm_update_iters": "2"},
                  steps=2, max_minutes=1.0)


def test_demo_weights_are_trained_once_then_cached(monkeypatch):
    monkeypatch.setattr(FRTM, "demo_training", TINY)
    method = load_method("frtm", weights="demo")
    path = demo.demo_path("frtm")
    assert path.is_file() and method.weights_source == "demo" and method.options.backbone == "resnet18"
    raw = torch.load(path, weights_only=True)
    assert raw["vostool_checkpoint"] and raw["demo"]["steps"] == 2 and "training" not in raw
    assert any(k.startswith("backbone.") for k in raw["state_dict"])  # the random backbone travels with it
    assert not list(path.parent.glob(".demo-*"))  # the temporary run is gone

    def no_training(*args, **kwargs):
        raise AssertionError("the cached demo weights must be reused")

    monkeypatch.setattr(demo, "build_demo", no_training)
    again = load_method("frtm", weights="demo")
    assert all(torch.equal(v, again.network.state_dict()[k]) for k, v in method.network.state_dict().items())
    listing = CliRunner().invoke(app, ["weights", "list"])
    assert listing.exit_code == 0 and "demo" in listing.output


def test_methods_without_a_demo_recipe(monkeypatch):
    monkeypatch.setattr(FRTM, "demo_training", None)
    with pytest.raises(WeightsError, match="has no demo weights"):
        load_method("frtm", weights="demo")


def test_tvos_demo_weights_keep_the_recipes_backbone(monkeypatch):
    from vostool.methods.tvos import TVOS

    assert TVOS.demo_training is not None and TVOS.demo_training.max_minutes <= 5
    tiny = DemoRecipe(data="synthetic:videos=2,frames=12",
                      settings={"backbone": "resnet18", "crop": "64,64", "batch_size": "2", "workers": "0"},
                      steps=2, max_minutes=1.0)
    monkeypatch.setattr(TVOS, "demo_training", tiny)
    method = load_method("tvos", weights="demo")
    raw = torch.load(demo.demo_path("tvos"), weights_only=True)
    assert method.weights_source == "demo" and method.options.backbone == "resnet18" and raw["demo"]["steps"] == 2
    loaded = method.network.state_dict()
    assert raw["state_dict"].keys() == loaded.keys()
    assert all(torch.equal(v, loaded[k]) for k, v in raw["state_dict"].items())
