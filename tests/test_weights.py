"""Named weights: download with resume and checksum from a local HTTP server; checkpoint round trips."""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from frtm_keys import authors_checkpoint
from vostool import weights
from vostool.loader import resolve_weights
from vostool.errors import WeightsError


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves one payload with Range support; can cut the first response short or answer HTML."""

    payload = b""
    cut_first_at: int | None = None
    html = False
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        cls = type(self)
        cls.requests.append(self.headers.get("Range"))
        if cls.html:
            body = b"<html>quota exceeded</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = 0
        header = self.headers.get("Range")
        if header:
            start = int(header.split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(cls.payload) - 1}/{len(cls.payload)}")
        else:
            self.send_response(200)
        body = cls.payload[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cls.cut_first_at is not None and not header:
            self.wfile.write(body[: cls.cut_first_at])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection drops mid-file
            return
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    torch.save(authors_checkpoint("resnet18"), tmp_path / "served.pth")
    payload = (tmp_path / "served.pth").read_bytes()
    handler = type("Handler", (_Handler,), {"payload": payload, "cut_first_at": None, "html": False, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/rn18.pth", hashlib.sha256(payload).hexdigest()
    httpd.shutdown()


def test_download_verifies_the_checksum(server, tmp_path):
    handler, url, digest = server
    dest = tmp_path / "cache" / "rn18.pth"
    assert weights.download(url, dest, sha256=digest, progress=False) == digest
    assert dest.read_bytes() == handler.payload
    assert not dest.with_name("rn18.pth.part").exists()


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    handler, url, digest = server
    handler.cut_first_at = 5000
    dest = tmp_path / "rn18.pth"
    with pytest.raises(WeightsError, match="run the command again to resume|ended early"):
        weights.download(url, dest, sha256=digest, progress=False)
    part = dest.with_name("rn18.pth.part")
    assert part.exists() and part.stat().st_size == 5000 and not dest.exists()
    weights.download(url, dest, sha256=digest, progress=False)
    assert handler.requests[-1] == "bytes=5000-"
    assert dest.read_bytes() == handler.payload


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    _, url, _ = server
    with pytest.raises(WeightsError, match="checksum mismatch"):
        weights.download(url, tmp_path / "x.pth", sha256="0" * 64, progress=False)
    assert list(tmp_path.glob("x.pth*")) == []


def test_unknown_checksum_is_recorded_and_checked_later(server, tmp_path, monkeypatch):
    _, url, digest = server
    entry = weights.NamedWeights("test18", "frtm", url, "test18.pth", "test weights")
    monkeypatch.setitem(weights.NAMED_WEIGHTS, "test18", entry)
    path = weights.fetch_named(entry, progress=False)
    assert path.with_name("test18.pth.sha256").read_text().strip() == digest
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(WeightsError, match="do not match their checksum"):
        weights.fetch_named(entry, progress=False)


def test_a_web_page_instead_of_weights_is_refused(server, tmp_path):
    handler, url, _ = server
    handler.html = True
    with pytest.raises(WeightsError, match="web page"):
        weights.download(url, tmp_path / "x.pth", progress=False)


def test_offline_without_cache_names_the_ways_out(monkeypatch):
    entry = weights.NamedWeights("gone", "frtm", "http://127.0.0.1:9/nothing.pth", "gone.pth", "unreachable")
    monkeypatch.setitem(weights.NAMED_WEIGHTS, "gone", entry)
    with pytest.raises(WeightsError) as err:
        resolve_weights("frtm", "gone", None)
    text = str(err.value)
    assert "--weights FILE" in text and "vostool train" in text and "--untrained" in text


def test_resolve_rejects_unknown_names_and_other_methods(tmp_path):
    with pytest.raises(WeightsError, match="unknown weights 'nope'.*rn101_all"):
        resolve_weights("frtm", "nope", None)
    with pytest.raises(WeightsError, match="not found"):
        resolve_weights("frtm", str(tmp_path / "x.pth"), None)
    with pytest.raises(WeightsError, match="are for frtm, not rgmp"):
        resolve_weights("rgmp", "rn101_all", None)


def test_convert_writes_a_self_describing_checkpoint(tmp_path):
    from vostool.convert import convert_weights
    from vostool.loader import load_method

    source = authors_checkpoint("resnet18", seed=5)
    torch.save(source, tmp_path / "rn18_all.pth")
    summary = convert_weights(tmp_path / "rn18_all.pth", tmp_path / "frtm_rn18.pt", "frtm")
    assert "backbone=resnet18" in summary
    saved = torch.load(tmp_path / "frtm_rn18.pt", weights_only=True)
    assert saved["method"] == "frtm" and saved["arch"] == {"backbone": "resnet18"}
    assert saved["source_sha256"] == weights.sha256_file(tmp_path / "rn18_all.pth")
    with pytest.raises(Exception, match="exists"):
        convert_weights(tmp_path / "rn18_all.pth", tmp_path / "frtm_rn18.pt", "frtm")
    # A vostool checkpoint with the backbone embedded loads strictly without torchvision's cache.
    model = load_method("frtm", {"backbone": "resnet18"}, untrained=True)
    full = {**{f"refiner.{k[len('refiner.'):]}": v for k, v in source["model"].items()},
            **{k: v for k, v in model.network.state_dict().items() if k.startswith("backbone.")}}
    weights.save_checkpoint(tmp_path / "full.pt", "frtm", full, {"backbone": "resnet18"})
    loaded = load_method("frtm", weights=str(tmp_path / "full.pt"))
    key = "refiner.project.conv2.weight"
    assert torch.equal(loaded.network.state_dict()[key], source["model"][key])
    assert loaded.weights_sha256 == weights.sha256_file(tmp_path / "full.pt")


def test_vostool_checkpoint_of_another_method_is_refused(tmp_path):
    from vostool.loader import load_method

    weights.save_checkpoint(tmp_path / "other.pt", "rgmp", {"w": torch.zeros(1)}, {})
    with pytest.raises(WeightsError, match="holds rgmp weights, not frtm"):
        load_method("frtm", weights=str(tmp_path / "other.pt"))


def test_weights_url_is_downloaded_into_the_cache_once(server, monkeypatch):
    """--weights URL: cached under a key made from the URL, sha256 recorded, not fetched again."""
    handler, url, digest = server
    path, label = resolve_weights("frtm", url, None)
    assert label == url and path.parent == weights.cache_dir() / "frtm" and path.name.endswith("-rn18.pth")
    assert path.read_bytes() == handler.payload
    assert path.with_name(path.name + ".sha256").read_text().strip() == digest
    count = len(handler.requests)
    assert resolve_weights("frtm", url, None)[0] == path and len(handler.requests) == count  # from the cache
    other, _ = resolve_weights("frtm", url + "?v=2", None)  # another URL never shares the cached file
    assert other != path and other.read_bytes() == handler.payload
    from vostool.loader import checkpoint_for_method
    from vostool.registry import get_method_class

    frtm = get_method_class("frtm")
    checkpoint = checkpoint_for_method(frtm, url, frtm.Options())
    assert checkpoint.source == url and checkpoint.sha256 == digest
    with pytest.raises(WeightsError, match="only http"):
        weights.url_entry("ftp://host/x.pth", "frtm")


def test_a_mirror_serves_the_named_weights(server, tmp_path, monkeypatch):
    """$VOSTOOL_WEIGHTS_MIRROR: the entry's file name appended to an HTTP mirror, or a local folder."""
    handler, url, digest = server
    mirror = url.rsplit("/", 1)[0] + "/mirror/"
    entry = weights.NamedWeights("mirrored", "frtm", "http://127.0.0.1:9/gone/rn18.pth", "rn18.pth", "test", digest)
    monkeypatch.setitem(weights.NAMED_WEIGHTS, "mirrored", entry)
    with pytest.raises(WeightsError, match="VOSTOOL_WEIGHTS_MIRROR"):  # the original URL is unreachable
        resolve_weights("frtm", "mirrored", None)
    monkeypatch.setenv("VOSTOOL_WEIGHTS_MIRROR", mirror)
    assert weights.mirror_url(entry) == mirror + "rn18.pth"
    path, _ = resolve_weights("frtm", "mirrored", None)
    assert path == weights.cached_path(entry) and path.read_bytes() == handler.payload


@pytest.mark.parametrize("as_uri", [False, True])
def test_a_local_folder_mirror_is_copied_and_checked(tmp_path, monkeypatch, as_uri):
    folder = tmp_path / "copies"
    folder.mkdir()
    payload = b"not really weights, but bytes with a known hash"
    (folder / "local.pth").write_bytes(payload)
    digest = weights.sha256_file(folder / "local.pth")
    entry = weights.NamedWeights("local", "frtm", "http://127.0.0.1:9/local.pth", "local.pth", "test", digest)
    monkeypatch.setenv("VOSTOOL_WEIGHTS_MIRROR", folder.as_uri() if as_uri else str(folder))
    path = weights.fetch_named(entry, progress=False)
    assert path.read_bytes() == payload and path != folder / "local.pth"
    bad = weights.NamedWeights("bad", "frtm", "http://127.0.0.1:9/local.pth", "local2.pth", "test", "0" * 64)
    (folder / "local2.pth").write_bytes(payload)
    with pytest.raises(WeightsError, match="checksum mismatch.*through VOSTOOL_WEIGHTS_MIRROR"):
        weights.fetch_named(bad, progress=False)
    missing = weights.NamedWeights("missing", "frtm", "http://127.0.0.1:9/x.pth", "absent.pth", "test")
    with pytest.raises(WeightsError, match="cannot download file://"):
        weights.fetch_named(missing, progress=False)
