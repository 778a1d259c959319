"""The optional loss on the STM memory read's attention (``read_loss``): what it measures, and that STM,
FlowVOS and MUNet add exactly its weighted value to their loss."""

import dataclasses

import pytest
import torch

from vostool.data.clips import ClipDataset, collate
from vostool.data.sources import open_source
from vostool.methods.flowvos import FlowVOS
from vostool.methods.munet import MUNet
from vostool.methods.stm import STM
from vostool.methods.stm.read_loss import grid_masks, propagation_loss, read_attention
from vostool.options import make_options

TINY = {"size": "32,48", "workers": "0", "batch_size": "1", "objects": "2", "clip_frames": "3", "min_frames": "3",
        "affine_rotate": "0", "affine_shear": "0", "affine_scale": "1,1", "hflip": "0"}
DATA = "synthetic:videos=2,frames=6,min_objects=2,max_objects=2"


def test_grid_masks_are_the_covered_share_of_each_cell():
    masks = torch.zeros(1, 1, 32, 48)
    masks[..., :16, :16] = 1  # the top-left cell of a 2x3 grid
    masks[..., 16:, 40:] = 1  # half of the bottom-right cell
    assert grid_masks(masks, (2, 3)).tolist() == [[[1.0, 0.0, 0.0, 0.0, 0.0, 0.5]]]


def test_the_loss_is_low_for_a_matching_read_and_high_for_a_collapsed_one():
    keys = 20 * torch.eye(4).unsqueeze(0)  # 4 memory positions, each its own direction
    masks = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    matching = propagation_loss(keys, keys, masks, masks)  # every query reads its own position
    hub = propagation_loss(keys, keys[:, :1].expand(1, 4, 4), masks, masks)  # every query reads position 0
    assert matching < 1e-3 < 1 < hub
    assert torch.allclose(read_attention(keys, keys).sum(-1), torch.ones(1, 4))


def test_the_loss_sends_gradients_to_both_keys():
    mem = torch.randn(2, 6, 8, requires_grad=True)
    query = torch.randn(1, 5, 8, requires_grad=True)
    propagation_loss(mem, query, torch.rand(2, 6).round(), torch.rand(2, 5).round()).backward()
    assert mem.grad.abs().sum() > 0 and query.grad.abs().sum() > 0


@pytest.mark.parametrize("cls", [STM, FlowVOS, MUNet])
def test_the_weighted_term_is_added_to_the_loss(cls):
    torch.manual_seed(0)
    settings = dict(TINY, **({"base_epochs": "0", "teacher_forcing": "0"} if cls is FlowVOS else {}))
    settings.update({"crop": "none", "colour_jitter": "0"} if cls is MUNet else {"max_skip": "2"})
    recipe = make_options(cls.Recipe, {**settings, "read_loss": "2"})
    assert recipe.read_loss == 2
    module = cls.build({}).training_module(recipe).train()
    dataset = ClipDataset([open_source(DATA, size=(32, 48))], recipe, seed=0)
    dataset.set_epoch(0)
    batch = collate([dataset[0]])
    with torch.no_grad():
        on = module(batch)
        module.recipe = dataclasses.replace(recipe, read_loss=0.0)
        off = module(batch)
    assert "read" not in off or off["read"] == 0
    assert float(on["read"]) > 0
    expected = off["loss"] + on["read"]  # "read" is logged with its weight, as the other weighted terms
    assert torch.allclose(on["loss"], expected, rtol=1e-5, atol=1e-6)
