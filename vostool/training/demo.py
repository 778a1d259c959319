"""``vostool weights build-demo``: train a method's demo weights on synthetic video, check, pack.

Offline on a fresh machine there are no published weights to download, so the README's first
command uses demo weights: TVOS ships them inside the package (``vostool/weights/packaged``), and
any method that declares ``demo_training`` (a :class:`DemoRecipe`) can build its own here. A build
is the same on every machine: it stops after the recipe's number of steps (never after some
minutes), runs under a lock on its output file (two processes never race on it), refuses to write
weights that score below copying the first mask on held-out synthetic videos, and writes the
float16 checkpoint atomically. Nothing is ever trained when ``--weights demo`` is resolved.
"""

from __future__ import annotations

import fcntl
import logging
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from vostool.errors import OutputError, WeightsError
from vostool.progress import NoProgress, Progress
from vostool.training.contract import DemoRecipe
from vostool.weights import PACKAGED_DEMO, demo_path, packaged_demo, save_checkpoint, sha256_file

__all__ = ["DemoBuild", "DemoRecipe", "build_demo", "demo_rows", "output_lock", "pack_demo", "weights_rows"]

log = logging.getLogger("vostool")


@dataclass(frozen=True)
class DemoBuild:
    path: Path
    steps: int
    score: dict[str, float]  # J&F, J, F of the written (float16) weights on the held-out videos
    copy: dict[str, float]  # the same for copying the first mask
    sha256: str


def weights_rows() -> list[tuple[str, str, str, str]]:
    """(name, method, where, description) of the named weights and every method's demo weights, for
    ``vostool weights list``."""
    from vostool.weights import NAMED_WEIGHTS, cached_path

    rows = [(e.name, e.method, "cached" if cached_path(e).exists() else "not downloaded", e.description)
            for e in NAMED_WEIGHTS.values()]
    return rows + demo_rows()


def demo_rows() -> list[tuple[str, str, str, str]]:
    """(name, method, where, description) of every method's demo weights."""
    from vostool.registry import get_card, method_names

    rows = []
    for name in method_names():
        if name in PACKAGED_DEMO:
            rows.append(("demo", name, "packaged", PACKAGED_DEMO[name].description))
        elif get_card(name).demo is not None:
            built = "built" if demo_path(name).is_file() else "not built"
            rows.append(("demo", name, built, f"`vostool weights build-demo {name}` trains them on synthetic video"))
    return rows


@contextmanager
def output_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (through ``path.lock``) so that two builds never race on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning(f"another process is building {path}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _held_out_scores(method: Any, recipe: DemoRecipe) -> tuple[dict[str, float], dict[str, float]]:
    from vostool.data.sources import open_source
    from vostool.training.validate import copy_baseline, evaluate, held_out_videos

    videos = held_out_videos([open_source(recipe.val, "val", recipe.val_size)])
    method.network.eval()
    trained = evaluate(method, videos, recipe.val_size, torch.device("cpu"))
    return trained.as_dict(), copy_baseline(videos, recipe.val_size).as_dict()


def pack_demo(method: Any, recipe: DemoRecipe, out: Path, steps: int) -> DemoBuild:
    """Round ``method``'s weights to float16, score them on ``recipe.val``, and write them to ``out``.

    Raises WeightsError (and writes nothing) when they score no better than copying the first mask.
    """
    from vostool.options import architecture_fields, options_to_dict

    half = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
            for k, v in method.network.state_dict().items()}
    # Score exactly what is shipped: the float16 weights, loaded back as every checkpoint is.
    method.network.load_state_dict(half, strict=True)
    score, copy = _held_out_scores(method, recipe)
    if score["J&F"] <= copy["J&F"]:
        raise WeightsError(f"the {method.name} demo model scores J&F {score['J&F']:.1f} on the held-out videos "
                           f"({recipe.val}), not above copying the first mask ({copy['J&F']:.1f}); nothing written")
    note = (f"demo weights: {steps} steps on {recipe.data} from random weights "
            f"({', '.join(f'{k}={v}' for k, v in recipe.settings.items())}), float16")
    arch = {key: getattr(method.options, key) for key in architecture_fields(type(method.options))}
    save_checkpoint(out, method.name, half, arch, options_to_dict(method.options), source=note,
                    extra={"demo": {"steps": steps, "data": recipe.data, "seed": recipe.seed,
                                    "settings": dict(recipe.settings), "val": recipe.val,
                                    "score": score, "copy": copy, "threads": torch.get_num_threads()}})
    return DemoBuild(out, steps, score, copy, sha256_file(out))


def build_demo(method: str, out: Path | None = None, *, steps: int | None = None, overwrite: bool = False,
               device: str = "cpu", progress: Progress | None = None) -> DemoBuild:
    """Train ``method``'s demo recipe for a fixed number of steps and pack it into ``out``.

    ``out`` defaults to the cache entry that ``--weights demo`` uses for methods that ship no demo
    weights. ``steps`` overrides the recipe's (for tests). The same command gives the same weights on
    the same thread count. A run cut short (Ctrl-C, SIGTERM) writes nothing.
    """
    from vostool.registry import get_method_class
    from vostool.training.run import train

    cls = get_method_class(method)
    recipe: DemoRecipe | None = getattr(cls, "demo_training", None)
    if recipe is None:
        raise WeightsError(f"{cls.name} has no demo recipe; train it with `vostool train {cls.name}`")
    out = Path(out) if out is not None else demo_path(cls.name)
    if out.is_dir():
        raise OutputError(f"{out} is a folder; give the checkpoint file to write")
    if cls.name in PACKAGED_DEMO and out == demo_path(cls.name):
        log.warning(f"--weights demo of {cls.name} uses the packaged weights ({packaged_demo(cls.name)}); "
                    f"pass --weights {out} to use the ones built now")
    total = steps if steps is not None else recipe.steps
    with output_lock(out):
        if out.exists() and not overwrite:
            raise OutputError(f"{out} exists; pass --overwrite to build it again")
        with tempfile.TemporaryDirectory(prefix=".demo-", dir=out.parent) as tmp:
            # Per-sample caches of these clips (FRTM's target models) are of no use later: keep them in tmp.
            settings = {"cache": str(Path(tmp) / "cache"), **recipe.settings}
            result = train(cls.name, [recipe.data], name="demo", runs_dir=tmp, settings=settings, steps=total,
                           seed=recipe.seed, device=device, backbone_weights="none",
                           progress=progress if progress is not None else NoProgress())
            if result.step < total:
                raise WeightsError(f"the demo training of {cls.name} stopped at step {result.step} of {total} "
                                   f"({result.reason}); nothing written")
            return pack_demo(result.method, recipe, out, result.step)
