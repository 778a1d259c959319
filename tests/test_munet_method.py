"""MUNet as a method: initialisation from STM checkpoints, the per-frame flow of features in a
session (Enc-Q once per frame, t-1's feature reused), options, and the CLI end to end."""

import pytest
import torch

from stm_keys import flowvos_shapes, state_dict, stm_shapes
from test_end_to_end import _segment_late_object_clip
from vostool.data.synthetic import make_clip
from vostool.errors import OptionError, WeightsError
from vostool.loader import load_method
from vostool.methods.munet.network import NEW_PREFIXES
from vostool.weights import save_checkpoint


@pytest.fixture(scope="module")
def stm_file(tmp_path_factory):
    """The authors' STM_weights.pth layout (DataParallel prefix, conv1_o), distinct values per key."""
    raw = state_dict(stm_shapes("conv1_o", "module."), seed=7)
    path = tmp_path_factory.mktemp("stm") / "STM_weights.pth"
    torch.save(raw, path)
    return path, {k.removeprefix("module."): v for k, v in raw.items()}


@pytest.fixture(scope="module")
def untrained():
    return load_method("munet", untrained=True)


def _assert_initialised_from(method, stm, untrained):
    own = method.network.state_dict()
    shared = [k for k in own if not k.startswith(NEW_PREFIXES)]
    # every key MUNet shares with STM comes from the file: all but the new modules and STM's third map
    assert set(shared) == set(stm) - {"Encoder_M.conv1_o.weight"}
    for key in shared:
        assert torch.equal(own[key], stm[key]), key
    fresh = untrained.network.state_dict()
    new = [k for k in own if k.startswith(NEW_PREFIXES)]
    assert len(new) == 20  # reduce, 8 motion convs, MSAM's attention: weight + bias each
    for key in new:
        assert torch.equal(own[key], fresh[key]), key


@pytest.mark.parametrize("how", ["prefix", "path", "init_from", "init_from_weights"])
def test_initialisation_from_an_stm_checkpoint_loads_every_shared_key(stm_file, untrained, how):
    path, stm = stm_file
    if how == "prefix":
        method = load_method("munet", weights=f"stm:{path}")
        assert method.weights_source == f"stm:{path}"
    elif how == "path":
        method = load_method("munet", weights=str(path))
    elif how == "init_from":
        method = load_method("munet", {"init_from": str(path)}, untrained=True)
    else:
        method = load_method("munet", {"init_from": str(path)})  # no --untrained: init_from is the weights
    _assert_initialised_from(method, stm, untrained)


def test_stms_third_map_is_kept_when_enc_r_is_asked_for_it(stm_file):
    path, stm = stm_file
    method = load_method("munet", {"third_channel": "others"}, weights=f"stm:{path}")
    assert torch.equal(method.network.state_dict()["Encoder_M.conv1_o.weight"], stm["Encoder_M.conv1_o.weight"])
    with pytest.raises(WeightsError, match="missing .*conv1_bg"):
        load_method("munet", {"third_channel": "background"}, weights=f"stm:{path}")


def test_a_vostool_munet_checkpoint_round_trips_and_foreign_files_get_one_line(tmp_path, stm_file, untrained):
    method = load_method("munet", weights=f"stm:{stm_file[0]}")
    saved = tmp_path / "munet.pth"
    save_checkpoint(saved, "munet", method.network.state_dict(), {}, source="test")
    again = load_method("munet", weights=str(saved))
    for key, value in method.network.state_dict().items():
        assert torch.equal(again.network.state_dict()[key], value)
    # a MUNet checkpoint that lacks one of its new modules' tensors is not mistaken for an STM one
    partial = {k: v for k, v in method.network.state_dict().items() if k != "MSAM.attention.bias"}
    save_checkpoint(tmp_path / "partial.pth", "munet", partial, {}, source="test")
    with pytest.raises(WeightsError, match="missing"):
        load_method("munet", weights=str(tmp_path / "partial.pth"))
    flow = tmp_path / "flowvos.pth"
    torch.save(state_dict(flowvos_shapes(), seed=3), flow)
    with pytest.raises(WeightsError, match="FlowVOS"):
        load_method("munet", weights=f"stm:{flow}")
    with pytest.raises(WeightsError, match="not found"):
        load_method("munet", weights=f"stm:{tmp_path / 'nothing.pth'}")
    with pytest.raises(WeightsError, match="no default weights"):
        load_method("munet")


@pytest.mark.parametrize("bad, message", [({"window": 24}, "odd"), ({"temperature": 0}, "positive"),
                                          ({"displacement_sign": 2}, "must be one of")])
def test_bad_options_are_one_line(bad, message):
    with pytest.raises(OptionError, match=message):
        load_method("munet", bad, untrained=True)


def _frames(clip):
    return [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]


def test_enc_q_runs_once_per_frame_and_the_mu_layer_compares_t_with_t_minus_1(untrained, monkeypatch):
    network = untrained.network
    clip = make_clip(num_frames=5, height=48, width=64, num_objects=2, seed=2)  # multiples of 16: no padding
    frames = _frames(clip)
    encoded, enhanced = {}, []  # frame index -> Enc-Q output; MU-Layer inputs per call
    encode, enhance = network.encode_query_backbone, network.enhance

    def spy_encode(x):
        index = next(t for t, f in enumerate(frames) if torch.allclose(x, network.normalize(f[None])))
        assert index not in encoded, f"Enc-Q ran twice on frame {index}"
        encoded[index] = encode(x)
        return encoded[index]

    monkeypatch.setattr(network, "encode_query_backbone", spy_encode)
    monkeypatch.setattr(network, "enhance", lambda r4, cur, prev: enhanced.append((r4, cur, prev)) or enhance(r4, cur, prev))
    session = untrained.new_session()
    with torch.inference_mode():
        outputs = [session.step(frame, torch.from_numpy(clip.labels[0]) if t == 0 else None)
                   for t, frame in enumerate(frames)]
        assert sorted(encoded) == [0, 1, 2, 3, 4]  # frame 0 too: it is frame 1's t-1
        assert len(enhanced) == 4
        for t, (r4, current, previous) in enumerate(enhanced, start=1):
            assert r4 is encoded[t][0]
            assert torch.allclose(current, network.reduce(encoded[t][0]))
            assert torch.allclose(previous, network.reduce(encoded[t - 1][0]))
    assert session.memory_frames() == {0: [0, 3]}  # STM's schedule: frame 0 and the previous frame at frame 4
    for probs in outputs:
        assert probs.shape == (3, 48, 64) and torch.allclose(probs.sum(0), torch.ones(48, 64), atol=1e-5)


@pytest.mark.parametrize("options", [{"fusion": "add"}, {"displacement_sign": -1, "window": 5, "mem_every": 2}])
def test_variants_run_through_a_session(options):
    method = load_method("munet", options, untrained=True)
    clip = make_clip(num_frames=4, height=32, width=48, num_objects=1, seed=1)
    session = method.new_session()
    with torch.inference_mode():
        for t, frame in enumerate(_frames(clip)):
            probs = session.step(frame, torch.from_numpy(clip.labels[0]) if t == 0 else None)
    assert probs.shape == (2, 32, 48) and torch.isfinite(probs).all()


def test_munet_untrained_through_the_cli_with_an_object_that_appears_later(tmp_path):
    _segment_late_object_clip(tmp_path, "munet")
