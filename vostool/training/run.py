"""``vostool train``: put a run together (method, recipe, data, processes), then hand it to the Trainer.

Everything the user can get wrong is checked before the first step: the method and its recipe keys,
the data and validation sources, the run folder (an existing run needs ``--resume`` or
``--overwrite``), the checkpoint to resume from and the backbone weights.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from vostool.errors import MethodError, OptionError, OutputError
from vostool.progress import Progress
from vostool.training.contract import TrainingEnv, training_hooks
from vostool.training import distributed, state
from vostool.training.recipe import recipe_to_dict, split_assignments
from vostool.training.trainer import Trainer, TrainResult


def _method_class(method: str):
    from vostool.registry import get_method_class

    cls = get_method_class(method)
    if getattr(cls, "Recipe", None) is None:
        raise MethodError(f"training {cls.name} is not available in this version yet")
    return cls


def build_method(cls, options: Any, device: torch.device, backbone_weights: str):
    """The method with its backbone from ImageNet (torchvision's cache), at random (``none``) or from a file."""
    from vostool.loader import build_method as build, load_backbone

    if backbone_weights == "imagenet":
        return build(cls, options, device=device, pretrained_backbone=True)
    method = build(cls, options, device=device)
    if backbone_weights != "none":
        path = Path(backbone_weights).expanduser()
        if not path.is_file():
            raise OptionError(f"--backbone-weights {backbone_weights}: expected imagenet, none or a weights file")
        load_backbone(method, str(path))
    return method


def _fingerprint(method) -> str:
    """sha1 of the frozen backbone's weights: caches built on other backbone weights must not be reused."""
    backbone = getattr(method.network, "backbone", None)
    if backbone is None:
        return ""
    digest = hashlib.sha1()
    for key, value in sorted(backbone.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _cache(recipe: Any, method_name: str):
    from vostool.training.cache import TensorCache
    from vostool.paths import cache_dir

    where = getattr(recipe, "cache", "")
    if where == "off":
        return None
    return TensorCache(Path(where).expanduser() if where else cache_dir() / method_name / "cache")


def _open_sources(specs: Sequence[str], role: str, recipe: Any, procs: distributed.Processes) -> list:
    from vostool.data.sources import open_source

    def open_all() -> list:
        return [open_source(s, role, recipe.size, recipe.min_frames if role == "train" else 1, recipe.ytvos_split)
                for s in specs]

    # Rank 0 counts the datasets' labels (and caches the counts) before the others read them.
    sources = open_all() if procs.main else None
    distributed.barrier(procs)
    return sources if sources is not None else open_all()


RUN_FILES = state.RUN_FILES


def _run_dir(runs_dir: Path, name: str, resume: bool, overwrite: bool) -> Path:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise OptionError(f"--name {name!r}: give a plain folder name for runs/NAME")
    run_dir = Path(runs_dir) / name
    from vostool.preflight import check_writable

    check_writable(run_dir, "--runs-dir")  # issue 21: before the data and the model, not at the first save
    if not resume and any((run_dir / f).exists() for f in RUN_FILES) and not overwrite:
        raise OutputError(f"{run_dir} holds a run already; pass --resume to continue it or --overwrite to start again")
    return run_dir


def _clear_run(run_dir: Path) -> None:
    """--overwrite: remove the files of the old run (only those: the folder may hold the user's own files)."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def _config(name: str, method: str, recipe: Any, options: Any, data: Sequence[str], val: Sequence[str], seed: int,
            backbone_weights: str, procs: distributed.Processes, precision: str) -> dict[str, Any]:
    from vostool.options import options_to_dict

    return {"name": name, "method": method, "recipe": recipe_to_dict(recipe), "options": options_to_dict(options),
            "data": list(data), "val": list(val), "seed": seed, "backbone_weights": backbone_weights,
            "world_size": procs.world, "precision": precision}


def _resumed_settings(cls, raw: dict, settings: Mapping[str, str], data: Sequence[str], val: Sequence[str] | None,
                      seed: int | None, backbone_weights: str | None) -> dict[str, Any]:
    """The saved configuration; what the command line gives again must agree with it (so the same
    command plus ``--resume`` continues a run, and a changed one is refused)."""
    from vostool.options import make_options, options_to_dict

    saved = raw["training"]["config"]
    recipe_values, option_values = split_assignments(cls.Recipe, cls.Options, settings, cls.name)
    for kind, values, section, klass in (("recipe", recipe_values, "recipe", cls.Recipe),
                                         ("option", option_values, "options", cls.Options)):
        base = make_options(klass, saved[section])
        changed = options_to_dict(make_options(klass, values, base=base))
        differs = [k for k in values if changed[k] != saved[section][k]]
        if differs:
            raise OptionError(f"--resume: --set {differs[0]} differs from the run's {kind} "
                              f"({saved[section][differs[0]]}); a resumed run keeps its config (runs/NAME/config.json)")
    for flag, given, key in (("--data", list(data) or None, "data"), ("--val", list(val) if val else None, "val"),
                             ("--seed", seed, "seed"), ("--backbone-weights", backbone_weights, "backbone_weights")):
        if given is not None and given != saved[key]:
            raise OptionError(f"--resume: {flag} differs from the run's ({saved[key]}); drop it to continue the run")
    return saved


def train(method: str, data: Sequence[str] = (), *, name: str, runs_dir: str | Path = "runs",
          val: Sequence[str] | None = None, settings: Mapping[str, str] | None = None, steps: int | None = None,
          max_minutes: float | None = None, seed: int | None = None, device: str = "auto", precision: str = "fp32",
          backbone_weights: str | None = None, resume: bool = False, overwrite: bool = False,
          progress: Progress | None = None, dry_run: bool = False) -> TrainResult | dict[str, Any]:
    """Train ``method`` (see ``vostool train --help``); returns the result, or the plan with ``dry_run``."""
    from vostool.data.clips import ClipDataset
    from vostool.devices import check_precision
    from vostool.options import make_options

    check_precision(precision)
    if steps is not None and steps < 1:
        raise OptionError("--steps must be at least 1")
    if max_minutes is not None and max_minutes <= 0:
        raise OptionError("--max-minutes must be positive")
    cls = _method_class(method)
    run_dir = _run_dir(Path(runs_dir), name, resume, overwrite)
    raw = state.load(run_dir / "last.pt", cls.name) if resume else None
    if raw is not None:
        saved = _resumed_settings(cls, raw, settings or {}, data, val, seed, backbone_weights)
        recipe = make_options(cls.Recipe, saved["recipe"])
        options = make_options(cls.Options, saved["options"])
        data, val, seed, backbone_weights = saved["data"], saved["val"], saved["seed"], saved["backbone_weights"]
    else:
        recipe_values, option_values = split_assignments(cls.Recipe, cls.Options, settings or {}, cls.name)
        recipe = make_options(cls.Recipe, recipe_values)
        options = make_options(cls.Options, option_values)
        seed = 0 if seed is None else seed
        backbone_weights = backbone_weights or "imagenet"
        val = list(val or [])
    if not data:
        raise OptionError("no training data: give --data (davis:ROOT, ytvos:ROOT, a DAVIS-layout folder or synthetic)")
    procs, torch_device = distributed.setup(device)
    try:
        if recipe.batch_size % procs.world:
            raise OptionError(f"batch_size {recipe.batch_size} must be divisible by the {procs.world} processes")
        # The data first: a wrong dataset path is the likelier mistake, and it is reported before the
        # (possibly missing) backbone weights are looked for.
        sources = _open_sources(data, "train", recipe, procs)
        val_sources = _open_sources(val, "val", recipe, procs)
        method_obj = build_method(cls, options, torch_device, backbone_weights)
        env = TrainingEnv(torch_device, _cache(recipe, cls.name), backbone_weights,
                          "" if backbone_weights == "imagenet" else _fingerprint(method_obj))
        module = method_obj.training_module(recipe, env).to(torch_device)
        hooks = training_hooks(module)
        if hooks.clip_dataset is not None:  # a method with its own samples (RGMP's simulated pairs)
            dataset = hooks.clip_dataset(sources, recipe, seed)
        else:
            dataset = ClipDataset(sources, recipe, seed, hooks.visible_frames)
        from vostool.training.validate import held_out_videos

        config = _config(name, cls.name, recipe, options, data, val, seed, backbone_weights, procs, precision)
        trainer = Trainer(method=method_obj, module=module, recipe=recipe, config=config, dataset=dataset,
                          val_videos=held_out_videos(val_sources), run_dir=run_dir, procs=procs,
                          device=torch_device, precision=precision, progress=progress)
        if dry_run:
            return {**config, "sources": [s.description for s in sources], "val_sources": [s.description for s in val_sources],
                    "clips_per_epoch": len(dataset.epoch_units(0)), "steps_per_epoch": trainer.steps_per_epoch,
                    "total_steps": trainer.total_steps, "run_dir": str(run_dir)}
        if raw is not None:
            trainer.restore(raw)
        if procs.main:
            if overwrite and raw is None:
                _clear_run(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_config(run_dir, config)
        distributed.barrier(procs)
        return trainer.fit(max_steps=steps, max_minutes=max_minutes)
    finally:
        distributed.teardown(procs)


def _write_config(run_dir: Path, config: dict[str, Any]) -> None:
    from vostool import __version__
    from vostool.io.masks import atomic_save

    text = json.dumps({**config, "vostool_version": __version__, "torch": torch.__version__,
                       "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}, indent=2)
    atomic_save(run_dir / "config.json", lambda tmp: tmp.write_text(text + "\n"))
