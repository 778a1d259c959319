"""Label propagation by feature affinity (TVOS, ``lib/predict.py`` and ``lib/loss.py`` of the authors' code).

For a target frame with embedding ``q`` (hw target pixels) and N = n·hw reference pixels with
embeddings ``r`` and labels ``L`` (d channels), the authors compute::

    S = softmax_over_all_N(temperature · rᵀq)            # (N, hw), one softmax over every reference pixel
    S[frame j] *= W_σj                                    # spatial prior exp(-|Δ|²/σ²) in feature cells,
                                                          # after the softmax, not renormalised
    pred = L @ S                                          # (d, hw)

:func:`propagate` computes the same (up to float32 rounding) without the (N, hw) matrix: one block of target pixels (part
of one target row) at a time, with bounded memory. Two identities make it cheap:

* the softmax denominator is divided out of the d sums at the end instead of out of every entry;
* the prior is separable, ``W(r, q) = wy(ry, qy) · wx(rx, qx)``. Within one target row ``qy`` is fixed,
  so ``wy`` is folded into the labels, and the sum over reference rows becomes a batched matrix product
  over reference columns ``rx``; ``wx`` is then applied to the small (w, d, k) result. The prior never
  touches the big block, and the softmax denominator comes out of the same product (a row of ones).

:func:`soft_propagate` is the differentiable, batched form without a prior used by training.
"""

from __future__ import annotations

import functools
import threading
from typing import Sequence

import torch

# exp(x) for x < -87.3 is a float32 denormal or 0; the CPU's vectorised exp takes a 10-30x slower path
# there. Inputs below EXP_FLOOR are raised to it: each such term becomes 1.6e-38 instead of something
# smaller, which changes a prediction by less than N · 1.7e-38 (< 1e-32 at 480p).
EXP_FLOOR = -87.0
MAX_ROW_WORKERS = 8  # more Python threads would queue on the GIL between torch ops


def prior_factor(size: int, sigma: float | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """One axis of the spatial prior: (size, size) ``exp(-(i - j)² / σ²)`` (all ones for ``σ=None``).

    The authors' row index is ``index // W`` (PyTorch <= 1.4 semantics), i.e. integer cell rows,
    which is what a separable prior over integer rows and columns computes.
    """
    if sigma is None:
        return torch.ones(size, size, device=device)
    i = torch.arange(size, device=device, dtype=torch.float32)
    return torch.exp(-((i[:, None] - i[None, :]) ** 2) / (sigma**2))


@functools.lru_cache(maxsize=1)
def _onednn_linear_works() -> bool:
    """Whether oneDNN's fp32 linear can be called (checked once, on a tiny input, against ``mm``).

    On CPUs where MKL's sgemm runs its AVX2 kernels (e.g. AMD EPYC) oneDNN's AVX-512 kernels are about
    twice as fast for these shapes; the results are the same float32 products summed in another order.
    """
    op = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
    if op is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        with torch.inference_mode():
            a = torch.arange(24, dtype=torch.float32).view(6, 4) / 7
            b = torch.arange(12, dtype=torch.float32).view(3, 4) / 5
            out = op(a, b.to_mkldnn(), None, "none", [], "")
            return bool(torch.allclose(out, a @ b.t(), rtol=1e-6, atol=1e-6)) and not out.is_mkldnn
    except (RuntimeError, TypeError):
        return False


def affinity(refs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dot products ``refs @ targets.T``: (N, C) x (k, C) -> (N, k) float32."""
    cpu_fp32 = refs.device.type == "cpu" and refs.dtype == torch.float32
    if cpu_fp32 and not torch.is_grad_enabled() and _onednn_linear_works():
        return torch.ops.mkldnn._linear_pointwise(refs, targets.contiguous().to_mkldnn(), None, "none", [], "")
    return refs @ targets.t()


def _sigma_groups(sigmas: Sequence[float | None]) -> list[tuple[int, int, float | None]]:
    """Runs of equal sigma: [(first ref, end ref, sigma)]."""
    groups: list[tuple[int, int, float | None]] = []
    for j, sigma in enumerate(sigmas):
        if groups and groups[-1][2] == sigma:
            groups[-1] = (groups[-1][0], j + 1, sigma)
        else:
            groups.append((j, j + 1, sigma))
    return groups


def propagate(
    refs: torch.Tensor,
    labels: torch.Tensor,
    target: torch.Tensor,
    grid: tuple[int, int],
    sigmas: Sequence[float | None],
    temperature: float = 1.0,
    chunk: int = 128,
    workers: int | None = None,
) -> torch.Tensor:
    """The authors' prediction for one target frame, computed block by block.

    refs: (n·h·w, C) embeddings of n reference frames, frame-major then row-major pixels.
    labels: (d, n·h·w) their labels (soft or one-hot). target: (h·w, C). grid: (h, w).
    sigmas: the spatial prior's sigma of each reference frame (None: no prior).
    chunk: at most this many target pixels per block; peak extra memory ~ 4·n·h·w·chunk bytes per worker.
    workers: CPU threads sharing the target rows (default: torch's thread count), see :func:`_run_rows`.
    Returns (d, h·w) float32, unnormalised (sums over d are <= 1) like the authors'.
    """
    h, w = grid
    n = len(sigmas)
    if refs.shape[0] != n * h * w or labels.shape[1] != n * h * w or target.shape[0] != h * w:
        raise ValueError(f"shapes do not match: refs {tuple(refs.shape)}, labels {tuple(labels.shape)}, "
                         f"target {tuple(target.shape)}, {n} references of {h}x{w}")
    with torch.autocast(device_type=refs.device.type, enabled=False):
        rows = _Rows(refs, labels, target, grid, sigmas, temperature, max(1, min(chunk, w)))
        if refs.device.type != "cpu":
            workers = 1
        _run_rows(rows, torch.get_num_threads() if workers is None else workers)
        return rows.out.view(rows.d, h * w)


class _Rows:
    """The per-frame constants of :func:`propagate` and the computation of one target row."""

    def __init__(self, refs, labels, target, grid, sigmas, temperature, step) -> None:
        self.h, self.w = grid
        self.n, self.d = len(sigmas), labels.shape[0]
        self.refs, self.target = refs.float().contiguous(), target.float().contiguous()
        self.temperature, self.step = temperature, step
        device = refs.device
        self.groups = _sigma_groups(sigmas)
        self.wy = [prior_factor(self.h, s, device) for _, _, s in self.groups]
        self.wx = [prior_factor(self.w, s, device) for _, _, s in self.groups]
        # Labels as (rx, d, ref frame, ry): the batched product runs over reference columns rx.
        self.by_column = labels.float().reshape(self.d, self.n, self.h, self.w).permute(3, 0, 1, 2).contiguous()
        self.out = torch.empty(self.d, self.h, self.w, device=device)

    def scratch(self) -> list[torch.Tensor]:
        """Per group (w, d+1, J·h): rows < d will hold the labels times wy of the current target row;
        row d stays 1 and sums the softmax denominator."""
        buffers = []
        for j0, j1, _ in self.groups:
            buf = torch.empty(self.w, self.d + 1, (j1 - j0) * self.h, device=self.refs.device)
            buf[:, self.d] = 1
            buffers.append(buf)
        return buffers

    def row(self, folded: list[torch.Tensor], qy: int) -> None:
        """Fill ``out[:, qy]``."""
        h, w, d = self.h, self.w, self.d
        for g, (j0, j1, _) in enumerate(self.groups):
            torch.mul(self.by_column[:, :, j0:j1], self.wy[g][:, qy], out=folded[g][:, :d].view(w, d, j1 - j0, h))
        for qx0 in range(0, w, self.step):
            qx1 = min(qx0 + self.step, w)
            self.out[:, qy, qx0:qx1] = self.block(folded, self.target[qy * w + qx0: qy * w + qx1], qx0)

    def block(self, folded: list[torch.Tensor], targets: torch.Tensor, qx0: int) -> torch.Tensor:
        """(d, k) predictions of k targets of one row starting at column qx0."""
        n, h, w, d = self.n, self.h, self.w, self.d
        k = targets.shape[0]
        scores = affinity(self.refs, targets)  # (N, k)
        if self.temperature != 1.0:
            scores.mul_(self.temperature)
        # The max over all N reference pixels, in two steps: a wide inner dimension reduces faster.
        top = scores.view(n * h, w * k).amax(dim=0).view(w, k).amax(dim=0)
        scores.sub_(top).clamp_min_(EXP_FLOOR).exp_()
        weights = scores.view(n, h, w, k)
        numerator = torch.zeros(d, k, device=scores.device)
        denominator = torch.zeros(k, device=scores.device)
        for g, (j0, j1, _) in enumerate(self.groups):
            block = weights[j0:j1].reshape((j1 - j0) * h, w, k).permute(1, 0, 2)  # (rx, J·ry, k)
            sums = torch.bmm(folded[g], block)  # (rx, d+1, k)
            numerator += (sums[:, :d] * self.wx[g][:, None, qx0:qx0 + k]).sum(dim=0)
            denominator += sums[:, d].sum(dim=0)
        return numerator / denominator


def _run_rows(rows: _Rows, workers: int) -> None:
    """Compute every target row, on ``workers`` threads that each take the next free row.

    Each thread runs single-threaded torch ops on its own rows. Splitting every op across threads
    instead costs a barrier per op (~7 per row); on a busy machine a descheduled thread then stalls
    the other at each of them, which made 2 threads slower than 1. Torch's thread count is lowered
    meanwhile (to 1 up to 8 workers; beyond 8 threads each of 8 workers gets its share) and restored.
    """
    # ``workers`` threads in all: up to 8 Python threads, each with its share of torch threads.
    per_worker = max(1, workers // MAX_ROW_WORKERS)
    workers = min(workers, MAX_ROW_WORKERS, rows.h)
    if workers <= 1:
        folded = rows.scratch()
        for qy in range(rows.h):
            rows.row(folded, qy)
        return
    queue = iter(range(rows.h))
    lock = threading.Lock()
    errors: list[BaseException] = []

    previous = torch.get_num_threads()

    def work(inference: bool) -> None:
        try:
            torch.set_num_threads(per_worker)
            # Grad mode, inference mode and autocast are per thread: the helpers start with defaults.
            # (inference_mode(False) turns grad mode on, so no_grad comes after it.)
            with torch.inference_mode(inference), torch.no_grad(), torch.autocast("cpu", enabled=False):
                folded = rows.scratch()
                while not errors:
                    with lock:
                        qy = next(queue, None)
                    if qy is None:
                        return
                    rows.row(folded, qy)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    inference = torch.is_inference_mode_enabled()
    torch.set_num_threads(per_worker)
    try:
        helpers = [threading.Thread(target=work, args=(inference,), daemon=True) for _ in range(workers - 1)]
        for thread in helpers:
            thread.start()
        work(inference)
        for thread in helpers:
            thread.join()
    finally:
        torch.set_num_threads(previous)
    if errors:
        raise errors[0]


def soft_propagate(
    refs: torch.Tensor, labels: torch.Tensor, target: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Differentiable propagation without a spatial prior (the authors' training loss, ``lib/loss.py``).

    refs: (B, N, C) reference embeddings, labels: (B, d, N), target: (B, M, C).
    Returns (B, d, M): ``labels @ softmax_N(temperature · refs @ targetᵀ)``.
    """
    scores = torch.bmm(refs, target.transpose(1, 2)) * temperature  # (B, N, M)
    return torch.bmm(labels, torch.softmax(scores, dim=1))
