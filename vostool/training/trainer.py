"""The training loop: batches in, optimiser steps, logs, validation, checkpoints; stop and resume exactly.

Step ``s`` (0-based) uses the clips of epoch ``s // steps_per_epoch`` at batch ``s % steps_per_epoch``
and the learning rate of :func:`~vostool.training.recipe.lr_factor`, so a run resumed from a
checkpoint of step ``s`` continues with exactly the batches and rates it would have used.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vostool.data.clips import ClipDataset, collate, rank_batches
from vostool.devices import autocast
from vostool.errors import ModelFailure
from vostool.progress import NoProgress, Progress
from vostool.signals import StopRequest, sigterm_as_interrupt
from vostool.training import distributed, state
from vostool.training.contract import training_hooks
from vostool.training.recipe import Recipe, lr_factor
from vostool.training.validate import Scores, copy_baseline, evaluate


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    steps_per_epoch: int
    stopped: str  # "done", "--steps", "--max-minutes" or "interrupted"
    seconds: float  # this call's time (log.jsonl's "time" counts over all resumes)
    last_loss: float | None = None
    best: dict[str, Any] = field(default_factory=dict)  # {"score", "step"} of best.pt
    last_val: dict[str, float] | None = None
    baseline: dict[str, float] | None = None
    method: Any = field(default=None, repr=False)  # the trained Method, ready for new_session()
    new_steps: int = 0  # steps trained by this call (0: a resumed run that had reached its end already)
    exit_code: int = 0  # 0, or 128 + the signal that interrupted the run (130 Ctrl-C, 143 SIGTERM)

    @property
    def reason(self) -> str:
        """Why training stopped, in words."""
        if self.stopped == "interrupted":
            return "interrupted (Ctrl-C or SIGTERM); last.pt holds the last step"
        if self.new_steps == 0 and self.stopped in ("done", "--steps"):
            what = "all epochs" if self.stopped == "done" else "--steps"
            return f"nothing to train: the run had reached {what} already"
        return {"done": "all epochs done", "--steps": "reached --steps",
                "--max-minutes": "reached --max-minutes"}.get(self.stopped, self.stopped)

    @property
    def files(self) -> list[str]:
        """The run's files that exist now (best.pt only once a validation wrote it)."""
        return [name for name in state.RUN_FILES if (self.run_dir / name).is_file()]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a container's limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity masks
        return os.cpu_count() or 1


def make_optimizer(recipe: Recipe, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                               weight_decay=recipe.weight_decay)
    cls = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay, amsgrad=recipe.amsgrad)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class Trainer:
    """Runs one training run; build it with :func:`vostool.training.run.train`."""

    def __init__(self, *, method, module: torch.nn.Module, recipe: Recipe, config: dict[str, Any],
                 dataset: ClipDataset, val_videos: list, run_dir: Path, procs: distributed.Processes,
                 device: torch.device, precision: str, progress: Progress | None = None) -> None:
        self.method, self.module, self.recipe, self.config = method, module, recipe, config
        self.dataset, self.val_videos, self.run_dir = dataset, val_videos, Path(run_dir)
        self.procs, self.device, self.precision = procs, device, precision
        self.progress = progress or NoProgress()
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ModelFailure(f"the {method.name} training module has no trainable parameters")
        self.optimizer = make_optimizer(recipe, params)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and device.type == "cuda" else None
        self.model = module
        if procs.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.model = DistributedDataParallel(
                module, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=training_hooks(module).find_unused_parameters)
        self.drop_last = procs.distributed  # every process needs a share of every batch
        self.steps_per_epoch = dataset.steps_per_epoch(recipe.batch_size, self.drop_last)
        if self.steps_per_epoch < 1:
            raise ModelFailure(f"an epoch has fewer clips than one batch ({recipe.batch_size}); add data or lower batch_size")
        self.total_steps = recipe.epochs * self.steps_per_epoch
        self.step = 0
        self.best: dict[str, Any] = {}
        self.baseline: Scores | None = None
        self.last_val: Scores | None = None
        self.records: list[dict] = []
        self.time_offset = 0.0  # training seconds before this call (a resumed run's log keeps counting)
        # More loader processes than CPUs only compete with the training process (and each holds a
        # copy of the dataset's state): at most one per CPU this process may use.
        self.workers = min(recipe.workers, usable_cpus())
        self.omit = tuple(method.completed_prefixes) if config.get("backbone_weights") == "imagenet" else ()

    # -- checkpoints ------------------------------------------------------------------------------

    def restore(self, raw: dict[str, Any]) -> None:
        """Continue from a checkpoint read by :func:`state.load`."""
        training = raw["training"]
        state.restore_model(self.method, raw, "the checkpoint")
        self.optimizer.load_state_dict(training["optimizer"])
        if self.scaler is not None and training.get("scaler"):
            self.scaler.load_state_dict(training["scaler"])
        self.step = int(training["step"])
        self.best = dict(training.get("best") or {})
        per_rank = training["rng"]
        mine = per_rank[self.procs.rank] if self.procs.rank < len(per_rank) else per_rank[0]
        state.set_rng_state(mine["rng"])
        load_training_state = training_hooks(self.module).load_training_state
        if load_training_state is not None and mine.get("module") is not None:
            load_training_state(mine["module"])
        if len(per_rank) != self.procs.world and self.procs.main:
            self.progress.message(f"note: the checkpoint was written by {len(per_rank)} process(es), this run has "
                                  f"{self.procs.world}; training continues but not bit for bit")
        log = self.run_dir / "log.jsonl"
        if log.is_file():  # drop what was logged after the checkpoint (those steps are redone)
            self.records = [r for r in map(json.loads, log.read_text().splitlines()) if r.get("step", 0) <= self.step]
            self.time_offset = max((float(r["time"]) for r in self.records if "time" in r), default=0.0)

    def _sync_buffers(self) -> None:
        """Rank 0's buffers (BatchNorm statistics) everywhere: DDP syncs them before each forward only."""
        if self.procs.distributed:
            import torch.distributed as dist

            for buffer in self.module.buffers():
                dist.broadcast(buffer.data, src=0)

    def _checkpoint(self, name: str) -> None:
        self._sync_buffers()
        training_state = training_hooks(self.module).training_state
        module_state = training_state() if training_state is not None else None
        per_rank = distributed.gather(self.procs, {"rng": state.rng_state(), "module": module_state})
        if not self.procs.main:
            return
        lr = self.optimizer.param_groups[0]["lr"]
        training = {
            "step": self.step, "steps_per_epoch": self.steps_per_epoch, "config": self.config,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"schedule": self.recipe.schedule, "step": self.step, "lr": lr},
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "rng": per_rank, "best": self.best,
        }
        from vostool.options import architecture_fields, options_to_dict

        options = self.method.options
        arch = {k: getattr(options, k) for k in architecture_fields(type(options))}
        state.save(self.run_dir / name, self.method, options_to_dict(options), arch,
                   state.model_state(self.method, self.omit), training,
                   source=f"vostool train {self.config.get('name', '')} step {self.step}")

    # -- logging and validation -------------------------------------------------------------------

    def _log(self, record: dict) -> None:
        if not self.procs.main:
            return
        self.records.append(record)
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _rewrite_log(self) -> None:
        if self.procs.main:
            from vostool.io.masks import atomic_save

            text = "".join(json.dumps(r) + "\n" for r in self.records)
            atomic_save(self.run_dir / "log.jsonl", lambda tmp: tmp.write_text(text))

    def _plot(self) -> None:
        if self.procs.main:
            from vostool.training.plot import draw_curves

            draw_curves(self.records, self.run_dir / "curves.png", f"{self.method.name}: {self.config.get('name', '')}")

    def validate(self) -> Scores | None:
        """Validation J&F on rank 0 (the other processes wait); writes best.pt when it improves."""
        if not self.val_videos:
            return None
        result = None
        improved = False
        if self.procs.main:
            size = self.recipe.size
            if self.baseline is None:
                self.baseline = copy_baseline(self.val_videos, size)
            self.module.eval()
            try:
                result = evaluate(self.method, self.val_videos, size, self.device, self.precision)
            finally:
                self.module.train()
            self.last_val = result
            self._log({"step": self.step, "val": {**result.as_dict(), "copy J&F": round(self.baseline.JF, 3)}})
            self.progress.message(f"step {self.step}: validation J&F {result.JF:.1f} (J {result.J:.1f}, F {result.F:.1f}) "
                                  f"on {result.objects} objects; copying the first mask: {self.baseline.JF:.1f}")
            improved = not self.best or result.JF > self.best.get("score", -1.0)
            if improved:
                self.best = {"score": result.JF, "step": self.step}
        improved, self.best = distributed.broadcast(self.procs, (improved, self.best))
        if improved:
            self._checkpoint("best.pt")
        self._plot()
        return result

    # -- the loop ---------------------------------------------------------------------------------

    def _train_step(self, batch: dict) -> dict[str, float]:
        for group in self.optimizer.param_groups:
            group["lr"] = self.recipe.lr * lr_factor(self.recipe, self.step, self.steps_per_epoch)
        self.optimizer.zero_grad(set_to_none=True)
        batch = _to_device(batch, self.device)
        with autocast(self.device, self.precision):
            out = self.model(batch)
        loss = out["loss"]
        if not torch.isfinite(loss.detach()).all():
            raise ModelFailure(f"the training loss is {loss.item()} at step {self.step + 1}; lower --set lr=… "
                               "or resume from the last checkpoint")
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.recipe.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                           self.recipe.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        metrics = {k: float(v.detach().float().mean()) if isinstance(v, torch.Tensor) else float(v)
                   for k, v in out.items()}
        return distributed.mean_metrics(self.procs, metrics, self.device)

    def _loader(self, epoch: int, first_batch: int):
        self.dataset.set_epoch(epoch)
        batches = list(rank_batches(len(self.dataset), self.recipe.batch_size, first_batch, self.procs.rank,
                                    self.procs.world, self.drop_last))
        return torch.utils.data.DataLoader(self.dataset, batch_sampler=batches, collate_fn=collate,
                                           num_workers=self.workers, pin_memory=self.device.type == "cuda")

    def fit(self, max_steps: int | None = None, max_minutes: float | None = None) -> TrainResult:
        """Train until the recipe's epochs are done, ``max_steps`` (total, counting resumed steps) or the budget.

        Ctrl-C or SIGTERM stops after the current step and saves last.pt (the result's ``exit_code``
        is then 130 or 143); a second one aborts with KeyboardInterrupt, leaving the last saved files.
        """
        with sigterm_as_interrupt():  # a SIGTERM outside the loop (saving, validating) aborts cleanly too
            return self._fit(max_steps, max_minutes)

    def _fit(self, max_steps: int | None, max_minutes: float | None) -> TrainResult:
        started = time.perf_counter()
        first_step = self.step
        stop_at = min(self.total_steps, max_steps) if max_steps is not None else self.total_steps
        if self.procs.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._rewrite_log()
        self.module.train()
        self.progress.start(stop_at, f"{self.method.name} {self.config.get('name', '')}", unit="steps", done=self.step)
        stopped = ""
        if self.step >= stop_at:
            stopped = "done" if self.step >= self.total_steps else "--steps"
            self.progress.message(f"the run is at step {self.step} of {self.total_steps}, at or past --steps "
                                  f"{stop_at}: nothing to train (raise --steps to continue)")
        if self.workers < self.recipe.workers:
            self.progress.message(f"note: {self.workers} data loading process(es) instead of {self.recipe.workers}: "
                                  f"this process may use {usable_cpus()} CPU(s)")
        last_loss = None
        save_every = self.recipe.save_every or self.steps_per_epoch
        val_every = self.recipe.val_every or self.steps_per_epoch
        last_saved = last_validated = self.step
        try:
            with StopRequest() as flag:
                while not stopped:
                    epoch, first = divmod(self.step, self.steps_per_epoch)
                    for batch in self._loader(epoch, first):
                        metrics = self._guarded_step(batch)
                        self.step += 1
                        last_loss = metrics.get("loss")
                        record = {"step": self.step, "epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"],
                                  **{k: round(v, 6) for k, v in metrics.items()},
                                  "time": round(self.time_offset + time.perf_counter() - started, 2)}
                        self._log(record)
                        self.progress.update(metrics, done=self.step)
                        over_time = max_minutes is not None and time.perf_counter() - started > 60 * max_minutes
                        if distributed.any_rank(self.procs, flag.requested or over_time, self.device):
                            stopped = "interrupted" if flag.requested else "--max-minutes"
                        elif self.step >= stop_at:
                            stopped = "done" if stop_at == self.total_steps else "--steps"
                        if self.step - last_validated >= val_every and not stopped:
                            self.validate()
                            last_validated = self.step
                        if self.step - last_saved >= save_every or stopped:
                            self._checkpoint("last.pt")
                            last_saved = self.step
                        if stopped:
                            break
        finally:
            self.progress.stop()
        if self.step != last_saved:
            self._checkpoint("last.pt")
        # An interrupted run stops now: validation can take minutes, and --resume validates later.
        if self.val_videos and self.step != last_validated and stopped != "interrupted":
            self.validate()
        self._plot()
        self._sync_buffers()
        self.module.eval()
        return TrainResult(self.run_dir, self.step, self.total_steps, self.steps_per_epoch, stopped,
                           time.perf_counter() - started, last_loss, dict(self.best),
                           self.last_val.as_dict() if self.last_val else None,
                           self.baseline.as_dict() if self.baseline else None, self.method,
                           new_steps=self.step - first_step, exit_code=flag.exit_code if stopped == "interrupted" else 0)

    def _guarded_step(self, batch: dict) -> dict[str, float]:
        """One step; running out of memory becomes one line that says what to lower."""
        try:
            return self._train_step(batch)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            text = str(exc)
            if not isinstance(exc, torch.cuda.OutOfMemoryError) and "can't allocate memory" not in text:
                raise
            self.optimizer.zero_grad(set_to_none=True)
            shape = self.recipe.crop or self.recipe.size
            what = f"{'crop' if self.recipe.crop else 'size'} {shape[0]}x{shape[1]}" if shape else "native size"
            raise ModelFailure(
                f"out of {self.device.type} memory at step {self.step + 1} (batch_size {self.recipe.batch_size}, "
                f"{what}): lower --set batch_size, crop or size, or train with --precision bf16"
            ) from None
