"""FRTM's sample memory (memory.py in the authors' code), holding low-resolution samples.

Each slot keeps a projected feature map (pixels-last: (h, w, c)), its stencil coefficients and right-hand side (see
problems.py) and a sample weight. Weights follow the authors' rule: the first-frame samples get 1/K
each with the original frame at 2/K, normalised; every insert replaces the slot with the lowest weight
(an empty slot while the memory is not full; nothing protects the first frame) and gives the new sample
``w_prev_newest / (1 - lr)`` (``lr`` itself for the first insert, after dividing all by ``1 - lr``),
then renormalises. That is exponential forgetting at rate ``lr``.
"""

from __future__ import annotations

import torch


class SampleMemory:
    def __init__(self, capacity: int, learning_rate: float, channels: int, low_size: tuple[int, int],
                 device: torch.device | str) -> None:
        h, w = low_size
        self.capacity = capacity
        self.learning_rate = learning_rate
        self.samples = torch.zeros(capacity, h, w, channels, device=device)
        self.coeffs = torch.zeros(capacity, 9, h, w, device=device)
        self.rhs = torch.zeros(capacity, 1, h, w, device=device)
        # Weights live on the CPU in float32, like the authors' arithmetic, without device syncs.
        self.weights = torch.zeros(capacity, dtype=torch.float32)
        self.size = 0
        self.previous_index: int | None = None

    def initialize(self, samples: torch.Tensor, coeffs: torch.Tensor, rhs: torch.Tensor) -> None:
        """The first-frame samples (K, h, w, c); index 0 must be the original (unaugmented) frame."""
        k = samples.shape[0]
        self.samples[:k] = samples
        self.coeffs[:k] = coeffs
        self.rhs[:k] = rhs
        self.weights[:k] = 1.0 / k
        self.weights[0] = 2.0 / k
        self.weights[:k] = self.weights[:k] / self.weights[:k].sum()
        self.size = k

    def _next_index(self) -> int:
        lr = self.learning_rate
        w = self.weights
        if self.size == 0 or lr == 1:
            w[:] = 0
            w[0] = 1
            index = 0
        else:
            index = int(torch.argmin(w))
            if self.previous_index is None:
                w /= 1 - lr
                w[index] = lr
            else:
                w[index] = w[self.previous_index] / (1 - lr)
        w /= w.sum()
        return index

    def insert(self, sample: torch.Tensor, coeffs: torch.Tensor, rhs: torch.Tensor) -> int:
        """Store one sample ((h, w, c), (9, h, w), (1, h, w)); returns its slot."""
        index = self._next_index()
        self.previous_index = index
        self.samples[index] = sample
        self.coeffs[index] = coeffs
        self.rhs[index] = rhs
        self.size = min(self.size + 1, self.capacity)
        return index

    def active(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(samples, coeffs, rhs, weights) of the slots with a positive weight."""
        mask = self.weights > 0
        if bool(mask.all()):
            return self.samples, self.coeffs, self.rhs, self.weights
        index = torch.nonzero(mask).flatten()
        dev_index = index.to(self.samples.device)
        return self.samples[dev_index], self.coeffs[dev_index], self.rhs[dev_index], self.weights[index]
