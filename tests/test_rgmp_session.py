"""RGMP's geometry and sessions on small synthetic clips: the batched streams against the authors'
per-stream procedure, the multi-object feedback, objects given on later frames."""

import pytest
import torch

from vostool.aggregate import soft_aggregate
from vostool.data.synthetic import make_clip
from vostool.loader import load_method
from vostool.options import make_options
from vostool.methods.rgmp import RGMP, RGMPOptions, reference
from vostool.methods.rgmp.geometry import Geometry, resize, round_up, scale_size


def _frames(clip):
    return [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]


@pytest.fixture(scope="module")
def clip():
    return make_clip(num_frames=4, height=60, width=90, num_objects=3, seed=3)


@pytest.fixture(scope="module")
def lively():
    """Untrained RGMP whose outputs spread over [0, 1] and depend on the guidance (untrained: ~0.5)."""
    method = load_method("rgmp", untrained=True)
    with torch.no_grad():
        method.network.Decoder.pred2.weight.mul_(30)
        method.network.Encoder.conv1_p.weight.mul_(10)
    return method


def test_padding_and_scale_sizes_follow_the_authors_rule():
    g = Geometry(480, 854, (0.5, 0.75, 1.0))
    assert g.padded == (512, 864) and g.pad == ((16, 16), (5, 5))
    assert g.sizes == {0.5: (288, 448), 0.75: (416, 672), 1.0: (512, 864)}
    # Odd sizes: 241 -> 256 (pad 7 | 8), 427 -> 448 (pad 10 | 11); 0.5 of 256 is 128, a multiple: +32.
    g = Geometry(241, 427, (0.5, 0.75, 1.0))
    assert g.padded == (256, 448) and g.pad == ((7, 8), (10, 11))
    assert g.sizes == {0.5: (160, 256), 0.75: (224, 352), 1.0: (256, 448)}
    assert [round_up(n) for n in (1, 31, 32, 33, 64)] == [32, 32, 64, 64, 96]
    assert [round_up(n, "ceil") for n in (1, 31, 32, 33, 64)] == [32, 32, 32, 64, 64]
    g = Geometry(480, 854, (0.5, 1.0), "ceil")
    assert g.padded == (480, 864) and g.pad == ((0, 0), (5, 5)) and g.sizes[0.5] == (256, 448)
    assert scale_size(512, 864, 1.0) == (512, 864)


@pytest.mark.parametrize("height,width,rule", [(60, 90, "authors"), (64, 96, "ceil"), (64, 96, "authors"), (33, 70, "ceil")])
def test_crop_undoes_the_padding_exactly(height, width, rule):
    g = Geometry(height, width, (1.0,), rule)
    x = torch.rand(2, height, width) + 1
    padded = g.pad_tensor(x)
    assert padded.shape[-2:] == g.padded and all(n % 32 == 0 for n in g.padded)
    assert torch.equal(g.crop(padded), x)
    g.crop(padded).zero_()
    assert not padded.any()  # zeros around


def test_resize_equals_opencv_inter_linear():
    cv2 = pytest.importorskip("cv2")
    image = torch.rand(1, 3, 512, 864)
    for size in ((288, 448), (416, 672)):
        ours = resize(image, size)[0].permute(1, 2, 0).numpy()
        theirs = cv2.resize(image[0].permute(1, 2, 0).numpy(), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        assert abs(ours - theirs).max() < 1e-4
    small = torch.rand(1, 1, 72, 112)
    up = cv2.resize(small[0, 0].numpy(), (864, 512), interpolation=cv2.INTER_LINEAR)
    assert abs(resize(small, (512, 864))[0, 0].numpy() - up).max() < 1e-4


@pytest.mark.parametrize("objects,options", [((2,), {}), ((1, 2, 3), {}), ((1, 2, 3), {"max_batch": "2", "scales": "0.75,1.0"}),
                                             ((1, 2, 3), {"max_batch": "4"})])
def test_batched_streams_equal_the_authors_per_stream_procedure(clip, lively, objects, options):
    method = RGMP(make_options(RGMPOptions, options), lively.network)
    labels = torch.from_numpy(clip.labels[0])
    labels = torch.where(torch.isin(labels, torch.tensor(objects)), labels, torch.zeros_like(labels))
    frames = _frames(clip)
    with torch.inference_mode():
        session = method.new_session()
        ours = [session.step(f, labels if t == 0 else None) for t, f in enumerate(frames)]
        theirs = reference.infer(method.network, frames, labels, objects, method.options.scales)
    assert session.object_ids == objects
    for t, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == (1 + len(objects), 60, 90)
        assert torch.allclose(a, b, atol=1e-4), (t, (a - b).abs().max())
        assert torch.allclose(a.sum(0), torch.ones(60, 90), atol=1e-5)
    assert torch.equal(torch.tensor([0, *objects])[ours[0].argmax(0)], labels.long())
    later = torch.stack(ours[1:])
    assert later.min() < 0.05 and later.max() > 0.95  # a test that can tell values apart


def test_streams_per_pass_is_one_on_the_cpu_and_all_on_a_gpu_unless_set():
    from vostool.methods.rgmp.session import streams_per_pass

    assert streams_per_pass(0, torch.device("cpu")) == 1
    assert streams_per_pass(0, torch.device("cuda", 0)) == 0  # 0 = every stream in one pass
    assert streams_per_pass(3, torch.device("cpu")) == 3
    assert streams_per_pass(2, torch.device("cuda", 0)) == 2


def test_inference_folds_the_encoders_batchnorm_and_training_does_not(lively):
    encoder = lively.network.Encoder
    image, mask = torch.rand(1, 3, 64, 96), torch.rand(1, 64, 96)
    with torch.inference_mode():
        plain = encoder(image, mask)
        fast = encoder.trunk(encoder.image_conv(image), mask)
    assert "_vostool_folded" in encoder.res2.__dict__  # the folded copy exists and was used
    for a, b in zip(plain, fast):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(a.abs().max()))
    with torch.enable_grad():
        encoder.res2.__dict__.pop("_vostool_folded")
        encoder.trunk(encoder.image_conv(image), mask)
    assert "_vostool_folded" not in encoder.res2.__dict__  # with autograd on, the modules themselves run


def _record_propagate(session):
    calls = []
    propagate = session.bank.propagate

    def spy(frame, keys, guidance):
        out = propagate(frame, keys, guidance)
        calls.append((list(keys), guidance.clone(), out.clone()))
        return out

    session.bank.propagate = spy
    return calls


def test_multi_object_merges_with_the_background_stream_and_feeds_the_merged_maps_back(clip, lively):
    labels = torch.from_numpy(clip.labels[0])
    session = lively.new_session()
    g = Geometry(60, 90, lively.options.scales)
    with torch.inference_mode():
        first = session.step(_frames(clip)[0], labels)
        calls = _record_propagate(session)
        outputs = [first] + [session.step(f) for f in _frames(clip)[1:]]
    assert [c[0] for c in calls] == [[1, 2, 3, "background"]] * 3
    for t, (keys, guidance, out) in enumerate(calls):
        previous = g.pad_tensor(outputs[t][1:])
        inside = (slice(None), slice(g.pad[0][0], g.pad[0][0] + 60), slice(g.pad[1][0], g.pad[1][0] + 90))
        assert torch.allclose(guidance[:3][inside], previous[inside], atol=1e-6)  # the merged maps, soft
        assert torch.allclose(guidance[3], guidance[:3].sum(0), atol=1e-6)  # background stream: their union
        merged = soft_aggregate(out[:3], 1 - out[3])
        assert torch.allclose(g.crop(merged), outputs[t + 1], atol=1e-6)
    assert ((calls[1][1] > 0.05) & (calls[1][1] < 0.95)).any()  # never binarised


def test_single_object_feeds_its_own_output_back_without_a_background_stream(clip, lively):
    labels = torch.from_numpy((clip.labels[0] == 2).astype("uint8")) * 2
    session = lively.new_session()
    with torch.inference_mode():
        outputs = [session.step(_frames(clip)[0], labels)]
        calls = _record_propagate(session)
        outputs += [session.step(f) for f in _frames(clip)[1:]]
    assert session.object_ids == (2,) and list(session.bank.refs) == [2]
    for t, (keys, guidance, out) in enumerate(calls):
        assert keys == [2]
        assert torch.allclose(session.geometry.crop(out[0]), outputs[t + 1][1])
        assert torch.allclose(outputs[t + 1][0], 1 - outputs[t + 1][1])


def test_objects_given_on_a_later_frame_join_with_their_own_stream(clip, lively):
    labels = torch.from_numpy(clip.labels[0])
    frames = _frames(clip)
    first = torch.where(labels == 1, labels, torch.zeros_like(labels))
    later = torch.from_numpy(clip.labels[2])
    session = lively.new_session()
    with torch.inference_mode():
        session.step(frames[0], first)
        session.step(frames[1])
        assert list(session.bank.refs) == [1]  # one object: the single-object path
        joined = session.step(frames[2], later)
        assert session.object_ids == (1, 2, 3) and set(session.bank.refs) == {1, 2, 3, "background"}
        new = torch.isin(later, torch.tensor([2, 3]))
        assert torch.equal(joined.argmax(0)[new], later[new].long())
        assert torch.equal(joined[2:][:, new], torch.stack([later[new] == 2, later[new] == 3]).float())
        assert torch.allclose(joined.sum(0), torch.ones(60, 90), atol=1e-5)
        after = session.step(frames[3])
    assert after.shape == (4, 60, 90) and torch.allclose(after.sum(0), torch.ones(60, 90), atol=1e-5)


def test_frames_before_the_first_mask_are_background(clip, lively):
    session = lively.new_session()
    with torch.inference_mode():
        out = session.step(_frames(clip)[0])
    assert out.shape == (1, 60, 90) and torch.equal(out, torch.ones(1, 60, 90))
