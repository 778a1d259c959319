import numpy as np
import pytest
from PIL import Image

from vostool.errors import MaskError
from vostool.io.masks import davis_palette, fit_to_frame, object_ids, read_label_image, write_label_png


def _save_p(path, labels, palette=None):
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette((davis_palette() if palette is None else palette).ravel().tolist())
    image.save(path)


def _blocks(ids=(1, 2), shape=(40, 60)):
    labels = np.zeros(shape, dtype=np.uint8)
    for k, oid in enumerate(ids):
        labels[5 + 10 * k : 12 + 10 * k, 5 + 15 * k : 20 + 15 * k] = oid
    return labels


def test_davis_palette_matches_official_entries():
    pal = davis_palette()
    expected = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128), 7: (128, 128, 128),
                8: (64, 0, 0), 9: (192, 0, 0), 10: (64, 128, 0), 11: (192, 128, 0), 255: (224, 224, 192)}
    for index, colour in expected.items():
        assert tuple(pal[index]) == colour
    assert len({tuple(c) for c in pal}) == 256


def test_indexed_png_keeps_ids_and_palette(tmp_path):
    labels = _blocks(ids=(3, 17))
    palette = davis_palette().copy()
    palette[17] = (10, 200, 30)
    _save_p(tmp_path / "m.png", labels, palette)
    read = read_label_image(tmp_path / "m.png")
    assert read.mode == "P"
    assert np.array_equal(read.labels, labels)
    assert read.object_ids == [3, 17]
    assert tuple(read.palette[17]) == (10, 200, 30)


def test_grayscale_png_is_ids(tmp_path):
    labels = _blocks(ids=(1, 255))
    Image.fromarray(labels, mode="L").save(tmp_path / "g.png")
    read = read_label_image(tmp_path / "g.png")
    assert read.palette is None and object_ids(read.labels) == [1, 255]


def test_rgb_with_davis_colours_maps_to_davis_ids(tmp_path):
    labels = _blocks(ids=(2, 5))
    Image.fromarray(davis_palette()[labels]).save(tmp_path / "rgb.png")
    read = read_label_image(tmp_path / "rgb.png")
    assert np.array_equal(read.labels, labels)


def test_rgb_with_other_colours_gets_ids_in_raster_order_and_keeps_colours(tmp_path):
    labels = _blocks(ids=(1, 2))
    colours = np.array([[0, 0, 0], [250, 10, 10], [20, 30, 240]], dtype=np.uint8)
    Image.fromarray(colours[labels]).save(tmp_path / "rgb.png")
    read = read_label_image(tmp_path / "rgb.png")
    assert np.array_equal(read.labels, labels)
    assert tuple(read.palette[1]) == (250, 10, 10) and tuple(read.palette[2]) == (20, 30, 240)


def test_antialiased_rgb_is_rejected_with_a_fix(tmp_path):
    labels = _blocks(ids=(1,))
    rgb = davis_palette()[labels].astype(np.float32)
    # A one-pixel blended fringe around the object, as antialiasing produces.
    fringe = np.zeros(labels.shape, bool)
    fringe[4, 5:20] = True
    rgb[fringe] = (64, 0, 0)
    Image.fromarray(rgb.astype(np.uint8)).save(tmp_path / "aa.png")
    with pytest.raises(MaskError, match="antialias"):
        read_label_image(tmp_path / "aa.png")


def test_photo_is_not_a_label_image(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    with pytest.raises(MaskError, match="not a label image"):
        read_label_image(tmp_path / "photo.png")
    Image.fromarray(rng.integers(0, 255, (30, 40), dtype=np.uint8), mode="L").save(tmp_path / "gray.png")
    with pytest.raises(MaskError, match="not a label image"):
        read_label_image(tmp_path / "gray.png")


def test_missing_and_non_image_masks(tmp_path):
    with pytest.raises(MaskError, match="not found"):
        read_label_image(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(MaskError, match="not an image"):
        read_label_image(tmp_path / "text.png")


def test_partial_alpha_is_rejected(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[5:15, 5:15] = (128, 0, 0, 255)
    rgba[4, 5:15] = (128, 0, 0, 100)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    with pytest.raises(MaskError, match="transparent"):
        read_label_image(tmp_path / "a.png")


def test_same_aspect_mask_is_resized_with_a_warning():
    labels = _blocks(ids=(4,), shape=(480, 853))
    fitted, warning = fit_to_frame(labels, (480, 854), "m.png")
    assert fitted.shape == (480, 854) and warning and "nearest" in warning
    assert object_ids(fitted) == [4]
    half, warning = fit_to_frame(_blocks(ids=(1, 2), shape=(24, 32)), (48, 64), "m.png")
    assert object_ids(half) == [1, 2] and set(np.unique(half)) == {0, 1, 2}


def test_different_aspect_is_an_error():
    with pytest.raises(MaskError, match="aspect"):
        fit_to_frame(np.zeros((480, 640), np.uint8), (480, 854), "m.png")


def test_write_is_atomic_and_round_trips(tmp_path):
    labels = _blocks(ids=(1, 9))
    write_label_png(tmp_path / "00000.png", labels)
    assert [p.name for p in tmp_path.iterdir()] == ["00000.png"]
    with Image.open(tmp_path / "00000.png") as image:
        assert image.mode == "P"
        assert np.array_equal(np.array(image), labels)
        assert image.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from vostool.io import masks

    def broken(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(Exception, match="No space"):
        masks.write_label_png(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_short_palette_takes_the_missing_colours_from_davis(tmp_path):
    # Three palette entries (0, 1, 2) but objects 1 and 5: object 5's colour is not in the file.
    labels = _blocks(ids=(1, 5))
    image = Image.fromarray(labels, mode="P")
    image.putpalette([0, 0, 0, 250, 10, 10, 10, 250, 10])
    image.save(tmp_path / "short.png")
    read = read_label_image(tmp_path / "short.png")
    assert tuple(read.palette[1]) == (250, 10, 10) and tuple(read.palette[2]) == (10, 250, 10)
    assert tuple(read.palette[5]) == tuple(davis_palette()[5]) != (0, 0, 0)
    write_label_png(tmp_path / "out.png", read.labels, read.palette)
    with Image.open(tmp_path / "out.png") as out:
        assert out.getpalette()[15:18] == list(davis_palette()[5]) and out.getpalette()[3:6] == [250, 10, 10]


def _many_objects(order: str) -> np.ndarray:
    """255 objects, 15x15-pixel squares on a 16x16 grid (ids in raster order or shuffled), touching."""
    ids = np.arange(1, 256)
    if order == "shuffled":
        ids = np.random.default_rng(0).permutation(ids)
    grid = np.concatenate([ids, [0]]).reshape(16, 16).astype(np.uint8)
    return np.kron(grid, np.ones((15, 15), np.uint8))


@pytest.mark.parametrize("order", ["raster", "shuffled"])
def test_255_objects_are_a_label_image(tmp_path, order):
    labels = _many_objects(order)
    _save_p(tmp_path / "p.png", labels)
    Image.fromarray(labels, mode="L").save(tmp_path / "l.png")
    Image.fromarray(davis_palette()[labels]).save(tmp_path / "rgb.png")
    for name in ("p.png", "l.png", "rgb.png"):
        read = read_label_image(tmp_path / name)
        assert np.array_equal(read.labels, labels) and len(read.object_ids) == 255


def test_soft_mask_with_many_values_is_not_a_label_image(tmp_path):
    # A disc blurred into a ramp: 0..255 in steps of one, every ring wide enough to have interior pixels.
    yy, xx = np.mgrid[:400, :400]
    radius = np.hypot(yy - 200, xx - 200)
    soft = np.clip(255 - (radius - 20) * 1.5, 0, 255).astype(np.uint8)
    assert len(np.unique(soft)) > 200
    Image.fromarray(soft, mode="L").save(tmp_path / "soft.png")
    with pytest.raises(MaskError, match="not a label image"):
        read_label_image(tmp_path / "soft.png")
    Image.fromarray(np.stack([soft] * 3, axis=2)).save(tmp_path / "soft_rgb.png")
    with pytest.raises(MaskError, match="not a label image"):
        read_label_image(tmp_path / "soft_rgb.png")
