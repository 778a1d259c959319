"""Gauss-Newton with preconditioned conjugate gradients, as FRTM's optimizer.py does it.

Parameters are one flat vector. Each Gauss-Newton step linearises the residuals at the current
point, solves the normal equations ``JᵀJ Δ = -Jᵀr`` approximately with a fixed number of CG
iterations, and takes the full step. Details kept from the authors' solver, because they change the
result after a fixed iteration count:

* one global inner product over all parameters (``ip_input``);
* Polak-Ribière by default (``fletcher_reeves=False``), beta clamped at 0, ``alpha = rho / pᵀq``;
* the search direction, ``rho`` and the previous residual survive between CG runs of the same solver
  object; each new run divides ``rho`` by ``direction_forget_factor`` (0 means a clean restart);
* the last iteration does not update the residual; ``step_alpha`` grows by 1.2 up to 1.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import torch


class LeastSquaresProblem(Protocol):
    """A sum of squared residuals seen through its Gauss-Newton quantities (flat vectors)."""

    def linearize(self, x: torch.Tensor) -> None:
        """Set the point at which :meth:`gradient` and :meth:`normal_product` are evaluated."""

    def gradient(self) -> torch.Tensor:
        """Jᵀr at the linearisation point."""

    def normal_product(self, v: torch.Tensor) -> torch.Tensor:
        """JᵀJ v."""

    def precondition(self, r: torch.Tensor) -> torch.Tensor:
        """Apply the inverse preconditioner to a residual of the normal equations."""


class ResidualProblem:
    """A problem given by its residual function ``f(x) -> flat residuals``; derivatives by torch.func.

    Used for small problems and as the literal reference for FRTM's specialised problems.
    """

    def __init__(self, residuals: Callable[[torch.Tensor], torch.Tensor], preconditioner: torch.Tensor | None = None) -> None:
        self.residuals = residuals
        self.preconditioner = preconditioner
        self._r: torch.Tensor | None = None

    def linearize(self, x: torch.Tensor) -> None:
        from torch.func import vjp

        self._x = x
        self._r, self._vjp = vjp(self.residuals, x)

    def gradient(self) -> torch.Tensor:
        return self._vjp(self._r)[0]

    def normal_product(self, v: torch.Tensor) -> torch.Tensor:
        from torch.func import jvp

        return self._vjp(jvp(self.residuals, (self._x,), (v,))[1])[0]

    def precondition(self, r: torch.Tensor) -> torch.Tensor:
        return r if self.preconditioner is None else r / self.preconditioner


class GaussNewtonCG:
    """Stateful GN-CG solver (see module docstring). ``x`` holds the current parameters."""

    def __init__(
        self,
        problem: LeastSquaresProblem,
        x0: torch.Tensor,
        fletcher_reeves: bool = False,
        direction_forget_factor: float = 0.0,
        step_alpha: float = 1.0,
    ) -> None:
        self.problem = problem
        self.x = x0.detach().clone()
        self.fletcher_reeves = fletcher_reeves
        self.direction_forget_factor = direction_forget_factor
        self.step_alpha = step_alpha
        self._reset()

    def _reset(self) -> None:
        self.p: torch.Tensor | None = None
        self.rho = torch.ones((), dtype=self.x.dtype, device=self.x.device)
        self.r_prev: torch.Tensor | None = None

    def run(self, cg_iterations: Sequence[int]) -> torch.Tensor:
        """One Gauss-Newton step per entry, each with that many CG iterations. Returns ``x``."""
        for count in cg_iterations:
            self.problem.linearize(self.x)
            b = -self.problem.gradient()
            delta = self._conjugate_gradient(b, count)
            if delta is not None:
                self.x = self.x + self.step_alpha * delta
            self.step_alpha = min(self.step_alpha * 1.2, 1.0)
        return self.x

    def _conjugate_gradient(self, b: torch.Tensor, iterations: int) -> torch.Tensor | None:
        if self.direction_forget_factor == 0:
            self._reset()
        elif self.p is not None:
            self.rho = self.rho / self.direction_forget_factor
        r = b.clone()
        x = None
        for i in range(iterations):
            z = self.problem.precondition(r)
            rho_prev = self.rho
            self.rho = torch.dot(r, z)
            if self.p is None:
                self.p = z.clone()
            else:
                if self.fletcher_reeves:
                    beta = self.rho / rho_prev
                else:
                    beta = (self.rho - torch.dot(self.r_prev, z)) / rho_prev
                self.p = z + self.p * beta.clamp(min=0)
            q = self.problem.normal_product(self.p)
            pq = torch.dot(self.p, q)
            if pq == 0:
                # A zero gradient (or direction) would make alpha 0/0 = NaN in the authors' code;
                # the minimum along the remaining directions is the current point.
                break
            alpha = self.rho / pq
            if not self.fletcher_reeves:
                self.r_prev = r.clone()
            x = self.p * alpha if x is None else x + self.p * alpha
            if i < iterations - 1:
                r = r - q * alpha
        return x
