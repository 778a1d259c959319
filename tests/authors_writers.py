"""Checkpoints written the way each method's authors' own code writes them (../shared/specs), with
small random tensors of their key names and shapes (frtm_keys, rgmp_keys, tvos_keys, stm_keys).

The training-time objects are the real ones: FRTM's ``stats`` is a ``defaultdict`` of an
``AverageMeter`` class living in a module named ``lib.utils`` (installed only while saving, so the
reader cannot import it), filled with the numpy float32 scalars ``acc.mean().cpu().numpy()`` gives;
optimizer and scheduler entries are ``state_dict()``s of the authors' optimizer and schedule after
one step. Files of methods published before PyTorch 1.6 use the pre-zip ("legacy") format.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sys
import types
from pathlib import Path

import torch

import frtm_keys
import rgmp_keys
import stm_keys
import tvos_keys

LEGACY = {"_use_new_zipfile_serialization": False}


class AverageMeter:
    """FRTM's lib/utils.py AverageMeter (the pytracking one): val, avg, sum, count."""

    def __init__(self):
        self.val = self.avg = self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


@contextlib.contextmanager
def authors_modules():
    """``lib.utils.AverageMeter`` importable while saving, gone afterwards (as on a user's machine)."""
    lib, utils = types.ModuleType("lib"), types.ModuleType("lib.utils")
    AverageMeter.__module__ = "lib.utils"
    utils.AverageMeter = AverageMeter
    lib.utils = utils
    saved = {name: sys.modules.get(name) for name in ("lib", "lib.utils")}
    sys.modules.update({"lib": lib, "lib.utils": utils})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _stepped(params: list[torch.Tensor], make_optimizer, make_scheduler) -> tuple[dict, dict]:
    """(optimizer.state_dict(), scheduler.state_dict()) after one step on ``params``' copies."""
    leaves = [p.detach().clone().float().requires_grad_(True) for p in params]
    optimizer = make_optimizer(leaves)
    scheduler = make_scheduler(optimizer)
    sum((p * p).sum() for p in leaves).backward()
    optimizer.step()
    scheduler.step()
    return optimizer.state_dict(), scheduler.state_dict()


def write_frtm(path: Path, backbone: str = "resnet18", legacy: bool = True) -> dict:
    """lib/training.py save_checkpoint: dict(name, epoch, stats, model, optimizer, scheduler)."""
    model = frtm_keys.authors_checkpoint(backbone, seed=11)["model"]
    params = [v for k, v in model.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    optimizer, scheduler = _stepped(
        params,
        lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-5, amsgrad=True),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=127, gamma=0.1))
    with authors_modules():
        stats = collections.defaultdict(AverageMeter)
        for step in range(3):  # model/training_model.py: iter_acc += acc.mean().cpu().numpy()
            iter_acc = 0
            iter_acc += torch.rand(4).mean().cpu().numpy()
            stats["train/acc"].update(iter_acc)
            stats["train/loss"].update(torch.rand(()).cpu().numpy() + step)
        checkpoint = dict(name="rn18_all" if backbone == "resnet18" else "rn101_all", epoch=260, stats=stats,
                          model=model, optimizer=optimizer, scheduler=scheduler)
        torch.save(checkpoint, path, **(LEGACY if legacy else {}))
    return checkpoint


def write_rgmp(path: Path) -> dict:
    """weights.pth: ``nn.DataParallel(RGMP()).state_dict()`` from PyTorch 0.3.1 (no num_batches_tracked,
    the pre-zip format)."""
    state = rgmp_keys.authors_state_dict(seed=12, legacy_bn=True)
    torch.save(state, path, **LEGACY)
    return state


def write_tvos(path: Path) -> dict:
    """main.py: {'epoch', 'state_dict' (DistributedDataParallel: ``module.``), 'optimizer', 'scheduler'};
    SGD (nesterov, lr 0.02, wd 3e-4) and CosineAnnealingLR(240, 4e-5). The optimizer state covers the
    head only (the same entries and types, a smaller file)."""
    checkpoint = tvos_keys.authors_checkpoint("resnet50", seed=13)
    head = [v for k, v in checkpoint["state_dict"].items() if k.startswith("module.adjust_dim")]
    checkpoint["optimizer"], checkpoint["scheduler"] = _stepped(
        head,
        lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, nesterov=True, weight_decay=3e-4),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=240, eta_min=4e-5))
    checkpoint["epoch"] = 240
    torch.save(checkpoint, path, **LEGACY)
    return checkpoint


def _with_metadata(state: dict) -> collections.OrderedDict:
    """A state dict as ``Module.state_dict()`` returns it: an OrderedDict carrying ``_metadata``."""
    ordered = collections.OrderedDict(state)
    prefixes = {k.rsplit(".", 1)[0] for k in state}
    ordered._metadata = collections.OrderedDict((p, {"version": 1}) for p in sorted(prefixes))
    return ordered


def write_stm(path: Path) -> dict:
    """STM_weights.pth: ``nn.DataParallel(STM()).state_dict()`` (``module.``), PyTorch 1.0 era."""
    state = _with_metadata(stm_keys.state_dict(stm_keys.stm_shapes("conv1_o", "module."), seed=14))
    torch.save(state, path, **LEGACY)
    return state


def write_stm_cycle(path: Path, flow: bool = False) -> dict:
    """STM-Training / FlowVOS utility.save_checkpoint: {'epoch', 'state_dict' (unwrapped), 'max_skip'}."""
    shapes = stm_keys.flowvos_shapes() if flow else stm_keys.stm_shapes("conv1_bg")
    checkpoint = {"epoch": 240, "state_dict": _with_metadata(stm_keys.state_dict(shapes, seed=15)),
                  "max_skip": [50, 10]}
    torch.save(checkpoint, path)
    return checkpoint


def write_with_args(path: Path, checkpoint: dict) -> None:
    """A trainer that also pickles its ``args`` (argparse.Namespace) and numpy arrays next to the weights."""
    import numpy as np

    extra = dict(checkpoint)
    extra["args"] = argparse.Namespace(lr=1e-3, dset="all", size=(480, 854), seed=np.int64(0))
    extra["history"] = np.linspace(0, 1, 5, dtype=np.float32)
    torch.save(extra, path)
