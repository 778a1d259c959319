"""Model weights: the table of named weights, the download cache, checkpoint reading and writing.

* Named weights (``--weights rn101_all``) are downloaded once into the cache
  (``$VOSTOOL_CACHE``, default ``~/.cache/vostool``) with a progress bar, resumed with HTTP Range
  requests when interrupted, and checked against their sha256 once it is known.
* Checkpoints are read with ``torch.load(weights_only=True)``: no code from a file is ever run.
  Training-time objects the authors pickled next to the weights (e.g. FRTM's ``stats`` of
  ``lib.utils.AverageMeter``) are read into inert stand-ins.
* A *vostool checkpoint* is a dict with ``vostool_checkpoint``, ``method``, ``arch``, ``options`` and
  ``state_dict`` in vostool's names; anything else is handed to the method's converter.
* Loading is strict: missing, unexpected or mis-shaped tensors are one WeightsError line.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vostool.errors import WeightsError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vostool.methods.base import Checkpoint, Method

CHECKPOINT_FORMAT = 1
CHUNK = 1 << 20


@dataclass(frozen=True)
class NamedWeights:
    name: str
    method: str
    url: str
    filename: str
    description: str
    sha256: str | None = None  # None until someone has verified the published file
    arch: dict[str, Any] = field(default_factory=dict)


def _gdrive(file_id: str) -> str:
    # The usercontent endpoint with confirm=t skips Drive's "file too large to scan" page.
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


NAMED_WEIGHTS: dict[str, NamedWeights] = {
    w.name: w
    for w in [
        NamedWeights("rn101_all", "frtm", _gdrive("1GqaB80sznVkonprCdYhURwGwqiPRhP-v"), "rn101_all.pth",
                     "FRTM ResNet-101, YouTube-VOS + DAVIS (paper's DAVIS results)", arch={"backbone": "resnet101"}),
        NamedWeights("rn101_ytvos", "frtm", _gdrive("1KFg7ZjdJyhLE58WzEBlznOrDpKmQqviC"), "rn101_ytvos.pth",
                     "FRTM ResNet-101, YouTube-VOS (paper's YouTube-VOS results)", arch={"backbone": "resnet101"}),
        NamedWeights("rn101_dv", "frtm", _gdrive("1gRFn2NojH47BjURSws2XIyuTjzFkmuSV"), "rn101_dv.pth",
                     "FRTM ResNet-101, DAVIS only", arch={"backbone": "resnet101"}),
        NamedWeights("rn18_all", "frtm", _gdrive("1t21DG1ts-2NQXDVvuQjW9LY9VVkYuXU5"), "rn18_all.pth",
                     "FRTM ResNet-18 (run with fast=true), YouTube-VOS + DAVIS", arch={"backbone": "resnet18"}),
        NamedWeights("rn18_ytvos", "frtm", _gdrive("1anOEzUMxXR4ff2qaUJNojAABWuAmaGvw"), "rn18_ytvos.pth",
                     "FRTM ResNet-18 (run with fast=true), YouTube-VOS", arch={"backbone": "resnet18"}),
        NamedWeights("tvos_davis_train", "tvos", _gdrive("1N5lanFvdRf4CgjjZX4uQU1MMiRinANz9"), "tvos_davis_train.pth.tar",
                     "TVOS ResNet-50, DAVIS-2017 train (paper's DAVIS val results)", arch={"backbone": "resnet50"}),
        NamedWeights("tvos_davis_trainval", "tvos", _gdrive("1Zw7FOMXVcoOTczvLiyQ49ABEZRpIlfkR"),
                     "tvos_davis_trainval.pth.tar", "TVOS ResNet-50, DAVIS-2017 train+val (for test-dev)",
                     arch={"backbone": "resnet50"}),
        NamedWeights("tvos_youtube_train", "tvos", _gdrive("1U6sX9EUpOvDRFyaqDVpsi3plTnI2Witp"),
                     "tvos_youtube_train.pth.tar", "TVOS ResNet-50, YouTube-VOS train", arch={"backbone": "resnet50"}),
        NamedWeights("stm", "stm", "https://www.dropbox.com/s/mtfxdr93xc3q55i/STM_weights.pth?dl=1", "STM_weights.pth",
                     "STM (Oh et al.), the authors' released model (their DAVIS 2016/2017 evaluation)",
                     arch={"third_channel": "others"}),
    ]
}


def cache_dir() -> Path:
    """The weights cache: ``$VOSTOOL_CACHE`` or ``~/.cache/vostool`` (read at call time)."""
    root = os.environ.get("VOSTOOL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "vostool"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _default_progress(total: int | None, initial: int, label: str) -> Callable[[int], None]:
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=label, leave=False)

    def update(n: int) -> None:
        if n < 0:
            bar.close()
        else:
            bar.update(n)

    return update


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it, and return its sha256.

    The file appears at ``dest`` only when complete and verified. When the expected hash is not known
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
            update = _default_progress(total, start, dest.name) if progress else (lambda n: None)
            try:
                with open(part, mode) as f:
                    while True:
                        block = response.read(CHUNK)
                        if not block:
                            break
                        f.write(block)
                        update(len(block))
            except (OSError, urllib.error.URLError) as exc:
                raise WeightsError(
                    f"download of {url} was interrupted ({exc}); run the command again to resume"
                ) from None
            finally:
                update(-1)
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


def fetch_named(entry: NamedWeights, progress: bool = True) -> Path:
    """Path of named weights in the cache, downloading them first if needed."""
    path = cache_dir() / entry.method / entry.filename
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
    try:
        download(entry.url, path, entry.sha256, progress=progress)
    except WeightsError as exc:
        raise WeightsError(
            f"{exc}. Ways out: pass --weights FILE (e.g. {entry.filename} downloaded elsewhere), place the file at "
            f"{path}, train your own with `vostool train`, or use --untrained for speed tests"
        ) from None
    return path


def named_for_method(method: str) -> list[NamedWeights]:
    return [w for w in NAMED_WEIGHTS.values() if w.method == method]


def resolve(method: str, spec: str | os.PathLike | None, default: str | None) -> tuple[Path, str]:
    """Turn ``--weights`` (a path, a name, or None for the default) into a local file and a label."""
    if spec is None:
        if default is None:
            raise WeightsError(
                f"{method} has no default weights; pass --weights FILE or use --untrained for speed tests"
            )
        spec = default
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return path, str(path)
    if text == "demo":  # trained here on synthetic video on first use, then cached (vostool.training.demo)
        from vostool.training.demo import demo_weights

        return demo_weights(method), "demo"
    if path.is_dir():
        raise WeightsError(f"--weights {text} is a folder; give a checkpoint file")
    if text in NAMED_WEIGHTS:
        entry = NAMED_WEIGHTS[text]
        if entry.method != method:
            raise WeightsError(f"weights {text!r} are for {entry.method}, not {method}")
        return fetch_named(entry), text
    if os.sep in text or "/" in text or path.suffix in (".pth", ".pt", ".tar", ".ckpt"):
        raise WeightsError(f"weights file not found: {text}")
    names = ", ".join(w.name for w in named_for_method(method)) or "none"
    raise WeightsError(f"unknown weights {text!r} for {method}; named weights: {names}; or give a file path")


def read_checkpoint(path: Path) -> Any:
    """Unpickle a checkpoint without running code from it (see vostool.safe_pickle)."""
    from vostool.safe_pickle import read_checkpoint as read_safely

    return read_safely(path)


def is_vostool_checkpoint(raw: Any) -> bool:
    return isinstance(raw, dict) and "vostool_checkpoint" in raw and "state_dict" in raw


def checkpoint_for_method(method_cls: "type[Method]", spec: str | os.PathLike | None, options: Any) -> "Checkpoint":
    """Resolve, read and convert weights for ``method_cls`` into a Checkpoint in vostool's names."""
    from vostool.methods.base import Checkpoint

    # "OTHER:SPEC": initialise from another method's weights (e.g. munet from stm:STM_weights.pth)
    other, sep, rest = str(spec if spec is not None else method_cls.default_weights(options) or "").partition(":")
    if sep and other in method_cls.init_methods:
        from vostool.registry import get_method_class

        other_cls = get_method_class(other)
        return method_cls.checkpoint_from(other, checkpoint_for_method(other_cls, rest, other_cls.Options()))
    path, label = resolve(method_cls.name, spec, method_cls.default_weights(options))
    raw = read_checkpoint(path)
    digest = sha256_file(path)
    if is_vostool_checkpoint(raw):
        if raw.get("method") != method_cls.name:
            raise WeightsError(f"{path} holds {raw.get('method')} weights, not {method_cls.name}")
        checkpoint = Checkpoint(dict(raw["state_dict"]), dict(raw.get("arch") or {}), label, digest)
    else:
        checkpoint = method_cls.convert_checkpoint(raw, label)
        checkpoint.source = label
        checkpoint.sha256 = digest
    return checkpoint


def save_checkpoint(
    path: Path,
    method: str,
    state_dict: "dict[str, torch.Tensor]",
    arch: dict[str, Any],
    options: dict[str, Any] | None = None,
    source: str = "",
    source_sha256: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a vostool checkpoint atomically."""
    import torch

    from vostool import __version__
    from vostool.io.masks import atomic_save

    payload = {
        "vostool_checkpoint": CHECKPOINT_FORMAT,
        "method": method,
        "arch": arch,
        "options": options or {},
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "source": source,
        "source_sha256": source_sha256,
        "vostool_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    atomic_save(Path(path), lambda tmp: torch.save(payload, tmp))


def check_state(own: "dict[str, torch.Tensor]", state: "dict[str, torch.Tensor]", source: str, method: str) -> None:
    """Raise one WeightsError line unless ``state`` has exactly the keys and shapes of ``own``."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]

    def sample(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({sample(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({sample(unexpected)})")
        raise WeightsError(f"{source} does not fit the {method} model: {'; '.join(parts)} tensors")
    if shapes:
        k = shapes[0]
        raise WeightsError(
            f"{source} does not fit the {method} model: {k} is {tuple(state[k].shape)}, expected "
            f"{tuple(own[k].shape)}" + (f" ({len(shapes) - 1} more mismatches)" if len(shapes) > 1 else "")
        )


def load_state_strict(module: "nn.Module", state: "dict[str, torch.Tensor]", source: str, method: str) -> None:
    """``load_state_dict(strict=True)`` with one readable line instead of PyTorch's report.

    BatchNorm's ``num_batches_tracked`` did not exist before PyTorch 0.4; files saved earlier lack it
    and PyTorch itself fills it in, so its absence is not an error.
    """
    import torch

    own = module.state_dict()
    state = dict(state)
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    check_state(own, state, source, method)
    module.load_state_dict(state, strict=True)
