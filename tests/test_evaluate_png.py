"""Label PNGs are read with exactly PIL's values, through the fast path or PIL itself."""

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from vostool.errors import ResultsError
from vostool.evaluation.pngread import read_simple_png
from vostool.evaluation.scoring import read_labels


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    out = np.zeros((37, 53), np.uint8)
    out[5:20, 8:40] = 3
    out[rng.random(out.shape) < 0.1] = 255
    out[30:, :10] = 17
    return out


def _pil(path):
    with Image.open(path) as image:
        return np.asarray(image)


def test_fast_path_for_pil_indexed_pngs(tmp_path, labels):
    indexed = Image.fromarray(labels, mode="L").convert("P")
    indexed.putpalette(list(range(256)) * 3)
    indexed.save(tmp_path / "p.png")  # PIL never filters the rows of indexed images
    fast = read_simple_png(str(tmp_path / "p.png"))
    assert fast is not None and np.array_equal(fast, _pil(tmp_path / "p.png"))
    (tmp_path / "l.png").write_bytes(_unfiltered_gray_png(labels))  # e.g. libpng with filters off
    fast = read_simple_png(str(tmp_path / "l.png"))
    assert fast is not None and np.array_equal(fast, _pil(tmp_path / "l.png"))


def _unfiltered_gray_png(values):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width = values.shape
    rows = b"".join(b"\0" + values[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_other_pngs_fall_back_to_pil_with_the_same_values(tmp_path, labels):
    ramp = (np.arange(37 * 53).reshape(37, 53) % 251).astype(np.uint8)  # libpng picks row filters for this
    cv2.imwrite(str(tmp_path / "filtered.png"), ramp)
    Image.fromarray(labels, mode="L").save(tmp_path / "gray.png")  # PIL filters grayscale rows
    small = Image.fromarray((labels > 0).astype(np.uint8), mode="L").convert("P")
    small.putpalette([0, 0, 0, 255, 255, 255])  # two colours: PIL writes a 1-bit PNG
    small.save(tmp_path / "onebit.png")
    Image.fromarray(np.where(labels == 255, 1, labels).astype(np.uint16) * 3).save(tmp_path / "sixteen.png")
    for name in ("filtered.png", "gray.png", "onebit.png", "sixteen.png"):
        assert read_simple_png(str(tmp_path / name)) is None, name
        values = read_labels(str(tmp_path / name), ResultsError, "result")
        assert values.dtype == np.uint8 and np.array_equal(values, _pil(tmp_path / name)), name


def test_unreadable_files_are_one_line_errors(tmp_path, labels):
    Image.fromarray(labels, mode="L").save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultsError, match="cut.png"):
        read_labels(str(tmp_path / "cut.png"), ResultsError, "result")
    Image.fromarray(labels.astype(np.uint16) * 256).save(tmp_path / "big.png")
    with pytest.raises(ResultsError, match="big.png: result has values 0..65280"):
        read_labels(str(tmp_path / "big.png"), ResultsError, "result")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ResultsError, match="rgb.png: result is a RGB image"):
        read_labels(str(tmp_path / "rgb.png"), ResultsError, "result")
