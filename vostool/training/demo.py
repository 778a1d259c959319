"""``--weights demo``: small weights trained here on synthetic video, once, then cached.

Offline on a fresh machine there are no published weights to download. A method that declares
``demo_training`` (a :class:`DemoRecipe`) gets ``demo`` weights: the first use trains it with that
fixed recipe on the built-in synthetic videos (a few minutes on a CPU, from random weights) and
caches the result as ``$VOSTOOL_CACHE/<method>/demo.pt``; later uses load the cached file.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from vostool.errors import WeightsError
from vostool.training.contract import DemoRecipe
from vostool.weights import demo_path

__all__ = ["DemoRecipe", "build_demo", "demo_path", "demo_rows", "demo_weights", "weights_rows"]

log = logging.getLogger("vostool")


class _TqdmProgress:
    def start(self, total: int, done: int, description: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, initial=done, desc=description, unit="step")

    def update(self, step: int, metrics: dict[str, float]) -> None:
        self._bar.update(step - self._bar.n)
        if "loss" in metrics:
            self._bar.set_postfix(loss=f"{metrics['loss']:.3f}")

    def message(self, text: str) -> None:
        self._bar.write(text)

    def stop(self) -> None:
        self._bar.close()


def weights_rows() -> list[tuple[str, str, str, str]]:
    """(name, method, cached, description) of the named weights and every method's demo weights, for
    ``vostool weights list``."""
    from vostool.weights import NAMED_WEIGHTS, cached_path

    rows = [(e.name, e.method, "yes" if cached_path(e).exists() else "no", e.description) for e in NAMED_WEIGHTS.values()]
    return rows + demo_rows()


def demo_rows() -> list[tuple[str, str, str, str]]:
    """(name, method, cached, description) of every method's demo weights, for ``vostool weights list``."""
    from vostool.registry import get_method_class, method_names

    rows = []
    for name in method_names():
        recipe = getattr(get_method_class(name), "demo_training", None)
        if recipe is not None:
            cached = "yes" if demo_path(name).is_file() else "no"
            rows.append(("demo", name, cached, f"trained here on synthetic video on first use "
                         f"(at most {recipe.max_minutes:g} min on a CPU), then cached"))
    return rows


def demo_weights(method: str, progress: bool = True) -> Path:
    """The cached demo checkpoint of ``method``, trained first when it is missing."""
    from vostool.registry import get_method_class

    path = demo_path(method)
    if path.is_file():
        return path
    cls = get_method_class(method)
    recipe: DemoRecipe | None = getattr(cls, "demo_training", None)
    if recipe is None:
        raise WeightsError(f"{method} has no demo weights; pass --weights FILE or train with `vostool train {method}`")
    return build_demo(method, recipe, path, progress)


def build_demo(method: str, recipe: DemoRecipe, path: Path, progress: bool = True, device: str = "auto") -> Path:
    """Train ``recipe`` and write a plain weights checkpoint (no optimiser state) to ``path``."""
    from vostool.training.run import train
    from vostool.training.trainer import QuietProgress
    from vostool.weights import read_checkpoint, save_checkpoint

    path.parent.mkdir(parents=True, exist_ok=True)
    log.warning(f"no cached demo weights for {method}: training them on synthetic video (once, at most "
                f"{recipe.max_minutes:g} minutes; cached at {path})")
    with tempfile.TemporaryDirectory(prefix=".demo-", dir=path.parent) as tmp:
        # Target models and other per-sample caches of these clips are of no use later: keep them in tmp.
        settings = {"cache": str(Path(tmp) / "cache"), **recipe.settings}
        result = train(method, [recipe.data], name="demo", runs_dir=tmp, settings=settings, steps=recipe.steps,
                       max_minutes=recipe.max_minutes, seed=recipe.seed, device=device, backbone_weights="none",
                       progress=_TqdmProgress() if progress else QuietProgress())
        raw = read_checkpoint(Path(tmp) / "demo" / "last.pt")
        note = (f"demo weights: {result.step} steps on {recipe.data} from random weights "
                f"({', '.join(f'{k}={v}' for k, v in recipe.settings.items())})")
        save_checkpoint(path, method, raw["state_dict"], raw["arch"], raw["options"], source=note,
                        extra={"demo": {"steps": result.step, "stopped": result.stopped, "data": recipe.data,
                                        "settings": dict(recipe.settings)}})
        shutil.rmtree(Path(tmp) / "demo", ignore_errors=True)
    return path
