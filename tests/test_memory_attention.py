"""The proof's memory-attention probe (benchmarks/memory_attention.py) tells a matching memory read
from one collapsed onto a single memory position."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from memory_attention import memory_attention  # noqa: E402

from vostool.data.sources import open_source  # noqa: E402
from vostool.methods.stm.network import STMNetwork  # noqa: E402
from vostool.training.validate import held_out_videos  # noqa: E402

SIZE = (96, 176)


@pytest.fixture(scope="module")
def videos():
    return held_out_videos([open_source("synthetic:videos=3,seed=1", "val", SIZE)])


def _network(seed: int = 0) -> STMNetwork:
    torch.manual_seed(seed)
    return STMNetwork(third_channel="others").eval()


def test_collapsed_read_is_reported(videos) -> None:
    net = _network()
    with torch.no_grad():  # every query key the same vector: all queries attend to one position
        net.KV_Q_r4.Key.weight.zero_()
        net.KV_Q_r4.Key.bias.fill_(1.0)
    stats = memory_attention(net, videos, SIZE)
    assert stats["memory positions"] == (96 // 16) * (176 // 16)
    assert stats["distinct targets"] == pytest.approx(1 / stats["memory positions"], abs=1e-3)


def test_matching_read_is_reported(videos) -> None:
    net = _network()
    with torch.no_grad():  # one embedding for both sides, as a matching network: sharp, spread attention
        net.Encoder_M.load_state_dict(net.Encoder_Q.state_dict(), strict=False)
        net.Encoder_M.conv1_m.weight.zero_()
        net.Encoder_M.conv1_o.weight.zero_()
        net.KV_M_r4.Key.load_state_dict(net.KV_Q_r4.Key.state_dict())
        for kv in (net.KV_M_r4, net.KV_Q_r4):
            kv.Key.weight.mul_(300.0)
            kv.Key.bias.zero_()
    stats = memory_attention(net, videos, SIZE)
    assert stats["peak attention"] > 0.5
    assert stats["distinct targets"] > 5 / stats["memory positions"]
    assert stats["object queries on their object"] > 0.3
