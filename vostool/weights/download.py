"""Downloading weights: HTTP with resume (Range requests), sha256 checks, atomic appearance.

Named weights come from the authors' URL, or from ``$VOSTOOL_WEIGHTS_MIRROR`` (a URL or a folder
that holds the same file names); ``--weights URL`` is cached the same way (:func:`url_entry`).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from vostool.errors import WeightsError
from vostool.progress import Progress, reporter
from vostool.weights.table import NamedWeights, cached_path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    progress: Progress | bool = True,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it, and return its sha256.

    ``progress``: True a tqdm bar in bytes (cleared when done), False none, or a
    :class:`~vostool.progress.Progress`. The file appears at ``dest`` only when complete and verified. When the expected hash is not known
    the computed one is stored beside the file (``dest.sha256``) and later loads are checked against it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "vostool"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the partial file is complete
            response = None
        else:
            raise WeightsError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"cannot download {url} ({reason})") from None
    if response is not None:
        with response:
            if "text/html" in (response.headers.get("Content-Type") or ""):
                raise WeightsError(
                    f"{url} returned a web page instead of a checkpoint (download quota or a sign-in page); "
                    f"download it in a browser and pass --weights FILE"
                )
            resumed = response.status == 206
            mode = "ab" if resumed else "wb"
            start = have if resumed else 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length and length.isdigit() else None
            bar = reporter(progress, leave=False)
            bar.start(total, dest.name, unit="B", done=start)
            try:
                with open(part, mode) as f:
                    while True:
                        block = response.read(CHUNK)
                        if not block:
                            break
                        f.write(block)
                        bar.advance(len(block))
            except (OSError, urllib.error.URLError) as exc:
                raise WeightsError(
                    f"download of {url} was interrupted ({exc}); run the command again to resume"
                ) from None
            finally:
                bar.stop()
            if total is not None and part.stat().st_size != total:
                raise WeightsError(
                    f"download of {url} ended early ({part.stat().st_size} of {total} bytes); run again to resume"
                )
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256:
        part.unlink(missing_ok=True)
        raise WeightsError(f"checksum mismatch for {url}: expected {sha256}, got {digest}; the partial file was removed")
    os.replace(part, dest)
    if sha256 is None:
        dest.with_name(dest.name + ".sha256").write_text(digest + "\n")
    return digest

MIRROR_ENV = "VOSTOOL_WEIGHTS_MIRROR"


def mirror_url(entry: NamedWeights) -> str | None:
    """Where ``$VOSTOOL_WEIGHTS_MIRROR`` says to fetch ``entry`` from: the mirror with the entry's file
    name appended (``https://host/path/`` + ``rn101_all.pth``); a local folder or ``file://`` URL works
    too (a copy of the published files). None when the variable is not set."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return None
    if "://" not in mirror:  # a plain folder
        return (Path(mirror).expanduser().absolute() / entry.filename).as_uri()
    return mirror.rstrip("/") + "/" + urllib.parse.quote(entry.filename)


def url_entry(url: str, method: str) -> NamedWeights:
    """A cache entry for ``--weights URL``: cached like a named entry under a name made from the URL
    (a hash of the whole URL, so that two URLs never share a file, plus its last path component)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise WeightsError(f"--weights {url}: only http:// and https:// URLs are downloaded")
    base = Path(urllib.parse.unquote(parsed.path)).name or "weights"
    base = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[-80:]
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return NamedWeights(url, method, url, f"url-{key}-{base}", f"downloaded from {url}")


def fetch_named(entry: NamedWeights, progress: Progress | bool = True) -> Path:
    """Path of named weights in the cache, downloading them first if needed (from the mirror when
    ``$VOSTOOL_WEIGHTS_MIRROR`` is set; the checksum rules are the same)."""
    path = cached_path(entry)
    if path.exists():
        expected = entry.sha256
        recorded = path.with_name(path.name + ".sha256")
        if expected is None and recorded.exists():
            expected = recorded.read_text().strip()
        if expected is not None and sha256_file(path) != expected:
            raise WeightsError(
                f"cached weights {path} do not match their checksum (damaged?); delete the file to download again"
            )
        return path
    mirror = None if entry.url == entry.name else mirror_url(entry)  # --weights URL is fetched as given
    try:
        download(mirror or entry.url, path, entry.sha256, progress=progress)
    except WeightsError as exc:
        via = f" (through {MIRROR_ENV})" if mirror else f", set {MIRROR_ENV} to a mirror or a folder holding it"
        raise WeightsError(
            f"{exc}. Ways out: pass --weights FILE (e.g. {entry.filename} downloaded elsewhere), place the file at "
            f"{path}{via}, train your own with `vostool train`, or use --untrained for speed tests"
        ) from None
    return path
