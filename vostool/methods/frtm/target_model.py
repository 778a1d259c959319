"""FRTM's target model D (discriminator.py): a 1x1 projection and a 3x3 filter learned per object.

``s = filter(project(x))`` on stride-16 backbone features gives a raw 1-channel score (no sigmoid).
On the object's first frame both layers are optimised with Gauss-Newton/CG on the augmented samples;
afterwards the projection is frozen and the filter is re-optimised every ``update_interval`` frames on
the sample memory. Everything here runs in float32 regardless of autocast.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from vostool.methods.frtm.memory import SampleMemory
from vostool.methods.frtm.problems import BilinearStencil, FilterProblem, ProjectFilterProblem
from vostool.methods.frtm.solver import GaussNewtonCG

MIN_UPDATE_PIXELS = 10  # fewer confident pixels than this: no memory insert, no update (authors' rule)


def hinge_pixel_weights(labels: torch.Tensor, tf: float) -> torch.Tensor:
    """Squared pixel weights w (the authors return sqrt(w)). labels: (N, 1, H, W) in {0, 1}.

    When the object covers less than ``tf`` of the frame, foreground pixels get ``tf / af`` and
    background ``(1 - tf) / (1 - af)``; objects under 10 px or larger than ``tf`` get weight 1 everywhere.
    """
    n, _, height, width = labels.shape
    y = labels.float()
    px = y.sum(dim=(2, 3), keepdim=True)
    af = px / (height * width)
    af = torch.where(px < 10, torch.full_like(af, tf), af)
    target = torch.where(af > tf, af, torch.full_like(af, tf))
    wf = target / af
    # A frame-filling object has af = 1 and 0/0 background weight in the authors' code (NaN); it has no
    # background pixels, so any finite value is correct.
    wb = torch.where(af < 1, (1 - target) / (1 - af).clamp(min=1e-12), torch.ones_like(af))
    return wf * y + wb * (1 - y)


def _default_conv_weight(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """nn.Conv2d's default init (kaiming_uniform_, a=sqrt(5)) drawn from ``generator``."""
    weight = torch.empty(shape)
    torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    return weight


class TargetModel:
    """One object's online-learned linear model, its memory and its update solver."""

    def __init__(self, in_channels: int, options: Any, stencil: BilinearStencil, device: torch.device) -> None:
        self.options = options
        self.stencil = stencil
        self.device = device
        c = options.c_channels
        # The authors seed torch with 0 before each object's first optimisation; objects after the first
        # therefore start from the first draws after manual_seed(0). We do that for every object.
        generator = torch.Generator().manual_seed(options.seed)
        self.project = _default_conv_weight((c, in_channels, 1, 1), generator).to(device)
        self.filter = _default_conv_weight((1, c, 3, 3), generator).to(device)
        self.memory = SampleMemory(options.memory_size, options.memory_lr, c, stencil.low_size, device)
        self.update_solver: GaussNewtonCG | None = None
        self.frame_num = 0
        self.current_sample: torch.Tensor | None = None

    @property
    def forget_factor(self) -> float:
        return (1 - self.options.precond_lr) ** self.options.cg_forgetting_rate

    def _pixel_weights(self, binary: torch.Tensor) -> torch.Tensor:
        if self.options.pixel_weighting == "none":
            return torch.ones_like(binary, dtype=torch.float32)
        return hinge_pixel_weights(binary, self.options.pixel_tf)

    def _stencils(self, weights: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 1, H, W) squared pixel weights and labels -> (N, 9, h, w) coefficients, (N, 1, h, w) rhs."""
        return self.stencil.coefficients(weights[:, 0]), self.stencil.project((weights * labels)[:, 0])

    def initialize(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """features: (K, C, h, w) of the augmented first-frame samples (original first);
        labels: (K, 1, H, W) binary masks."""
        opts = self.options
        with torch.autocast(self.device.type, enabled=False):
            features = features.float()
            labels = labels.float()
            weights = self._pixel_weights(labels)
            coeffs, rhs = self._stencils(weights, labels)
            k = features.shape[0]
            sample_weights = torch.full((k,), 1.0 / k)
            sample_weights[0] = 2.0 / k
            sample_weights = sample_weights / sample_weights.sum()
            problem = ProjectFilterProblem(features, coeffs, rhs, sample_weights, opts.filter_reg, opts.precond,
                                           opts.c_channels)
            solver = GaussNewtonCG(problem, torch.cat([self.project.flatten(), self.filter.flatten()]),
                                   opts.fletcher_reeves, self.forget_factor)
            x = solver.run(opts.resolved_init_iters)
            split = self.project.numel()
            self.project = x[:split].view_as(self.project).contiguous()
            self.filter = x[split:].view_as(self.filter).contiguous()
            projected = F.conv2d(features, self.project)
            self.memory.initialize(projected.permute(0, 2, 3, 1), coeffs, rhs)
            self.update_solver = GaussNewtonCG(self._filter_problem(), self.filter.flatten(), opts.fletcher_reeves,
                                               self.forget_factor)
            self._run_update()

    def _filter_problem(self) -> FilterProblem:
        samples, coeffs, rhs, weights = self.memory.active()
        return FilterProblem(samples, coeffs, rhs, weights, self.options.filter_reg[1], self.options.precond[1])

    def _run_update(self) -> None:
        assert self.update_solver is not None
        self.update_solver.problem = self._filter_problem()
        x = self.update_solver.run(self.options.resolved_update_iters)
        self.filter = x.view_as(self.filter).contiguous()

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Coarse target score (1, 1, h, w) from stride-16 features (1, C, h, w); remembers the sample."""
        self.frame_num += 1
        with torch.autocast(self.device.type, enabled=False):
            projected = F.conv2d(features.float(), self.project)
            self.current_sample = projected[0].permute(1, 2, 0)  # (h, w, c), the memory's layout
            return F.conv2d(projected, self.filter, padding=1)

    def update(self, merged: torch.Tensor) -> None:
        """Learn from the merged probability (H, W) of this object on the current frame."""
        if not self.options.update or self.current_sample is None:
            return
        with torch.autocast(self.device.type, enabled=False):
            merged = merged.float()
            confident = merged > 0.5
            if int(confident.sum()) < MIN_UPDATE_PIXELS:
                return
            weights = self._pixel_weights(confident.float()[None, None])
            coeffs, rhs = self._stencils(weights, merged[None, None])
            self.memory.insert(self.current_sample, coeffs[0], rhs[0])
            if self.frame_num % self.options.update_interval == 0:
                self._run_update()

    def correct(self, mask: torch.Tensor) -> None:
        """A correction: the user's mask (H, W) bool for the current frame (after :meth:`score`).

        The frame enters the memory as the newest sample (the memory's own rule gives it the largest
        weight) with the given mask as its label, and the filter is re-optimised at once instead of at
        the next ``update_interval`` frame; W_project stays fixed, as after any first frame. Unlike
        :meth:`update` this ignores ``update=false`` and the 10-pixel rule: the label is given, not guessed.
        """
        assert self.current_sample is not None  # score() ran on this frame
        with torch.autocast(self.device.type, enabled=False):
            label = mask.float()[None, None]
            coeffs, rhs = self._stencils(self._pixel_weights(label), label)
            self.memory.insert(self.current_sample, coeffs[0], rhs[0])
            self._run_update()
