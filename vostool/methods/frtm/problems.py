"""FRTM's target-model least-squares problems, evaluated at feature resolution.

The authors' loss for sample k (discriminator.py) is ``γ_k ‖w_k ⊙ (B s_k − y_k)‖²`` where ``s_k`` is the
(h, w) score at stride 16, ``B`` bilinear upsampling to the (H, W) image and ``w_k``, ``y_k`` full-size
pixel weights and labels. Every Gauss-Newton quantity only needs

* ``M_k = Bᵀ diag(w_k²) B`` — an (hw × hw) matrix with 9 non-zero diagonals, because bilinear
  upsampling couples each output pixel to a 2×2 input neighbourhood, and
* ``z_k = Bᵀ (w_k² ⊙ y_k)`` — an (h, w) map,

since ``Jᵀr = J_sᵀ(M s − z)`` and ``JᵀJ v = J_sᵀ M J_s v``. Both are computed once when a sample enters
the memory, so the optimiser never touches full-resolution tensors again. This is the same quadratic
form, not an approximation (tests compare it with the literal full-resolution residuals); it turns
FRTM's memory update from seconds into milliseconds and stores 80 samples without their 480p labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_input, conv2d_weight


def interpolation_matrix(n_in: int, n_out: int, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> torch.Tensor:
    """The (n_out, n_in) matrix of 1-D linear interpolation as ``F.interpolate(align_corners=False)``."""
    eye = torch.eye(n_in, dtype=dtype, device=device).unsqueeze(0)  # (1, n_in basis signals, n_in)
    out = F.interpolate(eye, size=n_out, mode="linear", align_corners=False)  # (1, n_in, n_out)
    return out[0].transpose(0, 1).contiguous()


def _shift_products(b: torch.Tensor) -> torch.Tensor:
    """(N, n) interpolation matrix -> (N, 3n): for d in (-1, 0, 1), column a holds b[:, a] * b[:, a + d]."""
    n_out, n = b.shape
    out = b.new_zeros(n_out, 3, n)
    out[:, 0, 1:] = b[:, 1:] * b[:, :-1]  # d = -1: partner a - 1
    out[:, 1, :] = b * b
    out[:, 2, :-1] = b[:, :-1] * b[:, 1:]  # d = +1: partner a + 1
    return out.reshape(n_out, 3 * n)


class BilinearStencil:
    """Turns full-resolution pixel weights into 9-point stencils at feature resolution.

    ``coefficients(w)[:, 3*(dy+1) + (dx+1)][a]`` is ``M[a, a + (dy, dx)]``; :func:`apply_stencil` applies M.
    """

    def __init__(self, low_size: tuple[int, int], high_size: tuple[int, int], device: torch.device | str = "cpu") -> None:
        (h, w), (H, W) = low_size, high_size
        self.low_size, self.high_size = (h, w), (H, W)
        self.by = interpolation_matrix(h, H, device=device)  # (H, h)
        self.bx = interpolation_matrix(w, W, device=device)  # (W, w)
        self.py = _shift_products(self.by)  # (H, 3h)
        self.px = _shift_products(self.bx)  # (W, 3w)

    def coefficients(self, weight: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """weight: (N, H, W) squared pixel weights -> (N, 9, h, w) stencil coefficients."""
        h, w = self.low_size
        t = weight.to(self.px.dtype) @ self.px  # (N, H, 3w)
        c = self.py.transpose(0, 1) @ t  # (N, 3h, 3w)
        c = c.view(-1, 3, h, 3, w).permute(0, 1, 3, 2, 4).reshape(-1, 9, h, w)
        return c.to(dtype)

    def project(self, image: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Bᵀ image: (N, H, W) -> (N, 1, h, w)."""
        out = self.by.transpose(0, 1) @ image.to(self.by.dtype) @ self.bx
        return out.to(dtype).unsqueeze(1)


def apply_stencil(coeffs: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """M s for stencils (N, 9, h, w) and maps s (N, 1, h, w) -> (N, 1, h, w)."""
    h, w = s.shape[-2:]
    padded = F.pad(s, (1, 1, 1, 1))
    out = torch.zeros_like(s)
    for i, dy in enumerate((-1, 0, 1)):
        for j, dx in enumerate((-1, 0, 1)):
            out += coeffs[:, 3 * i + j : 3 * i + j + 1] * padded[:, :, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return out


class FilterProblem:
    """Only the 3x3 filter (1, c, 3, 3) on memorised projected samples: linear least squares.

    The memory keeps samples pixels-last, (N, h, w, c); seen as NCHW that is a channels-last tensor,
    which oneDNN convolves 2.4x faster than NCHW when there is a single output channel.
    """

    def __init__(self, samples: torch.Tensor, coeffs: torch.Tensor, rhs: torch.Tensor, sample_weights: torch.Tensor,
                 reg: float, precond: float) -> None:
        self.samples = samples.permute(0, 3, 1, 2)  # (N, c, h, w) view, channels-last strides
        self.coeffs, self.rhs = coeffs, rhs  # (N, 9, h, w), (N, 1, h, w)
        self.gamma = sample_weights.view(-1, 1, 1, 1).to(samples)
        self.reg2, self.precond = reg * reg, precond
        self.shape = (1, samples.shape[-1], 3, 3)

    def linearize(self, x: torch.Tensor) -> None:
        self.x = x
        self.s = F.conv2d(self.samples, x.view(self.shape), padding=1)

    def _jt(self, g: torch.Tensor) -> torch.Tensor:
        return conv2d_weight(self.samples, self.shape, g, padding=1).flatten()

    def gradient(self) -> torch.Tensor:
        g = self.gamma * (apply_stencil(self.coeffs, self.s) - self.rhs)
        return self._jt(g) + self.reg2 * self.x

    def normal_product(self, v: torch.Tensor) -> torch.Tensor:
        sv = F.conv2d(self.samples, v.view(self.shape), padding=1)
        return self._jt(self.gamma * apply_stencil(self.coeffs, sv)) + self.reg2 * v

    def precondition(self, r: torch.Tensor) -> torch.Tensor:
        return r / self.precond


class ProjectFilterProblem:
    """The 1x1 projection (c, C, 1, 1) and the 3x3 filter (1, c, 3, 3) together (first frame)."""

    def __init__(self, features: torch.Tensor, coeffs: torch.Tensor, rhs: torch.Tensor, sample_weights: torch.Tensor,
                 regs: tuple[float, float], preconds: tuple[float, float], c_channels: int) -> None:
        n, cin, h, w = features.shape
        self.features = features
        # (C, N*h*w): the 1x1 convolution and its weight gradient become single matrix products.
        self.flat = features.permute(1, 0, 2, 3).reshape(cin, n * h * w)
        self.coeffs, self.rhs = coeffs, rhs
        self.gamma = sample_weights.view(-1, 1, 1, 1).to(features)
        self.p_shape, self.f_shape = (c_channels, cin, 1, 1), (1, c_channels, 3, 3)
        self.split = c_channels * cin
        like = {"dtype": features.dtype, "device": features.device}
        self.regs2 = torch.cat([
            torch.full((self.split,), regs[0] ** 2, **like), torch.full((9 * c_channels,), regs[1] ** 2, **like)
        ])
        self.diag = torch.cat([
            torch.full((self.split,), preconds[0], **like), torch.full((9 * c_channels,), preconds[1], **like)
        ])
        self.n, self.h, self.w = n, h, w

    def _project(self, p: torch.Tensor) -> torch.Tensor:
        """1x1 conv of the samples with p (c, C) -> (N, c, h, w)."""
        y = p @ self.flat  # (c, N*h*w)
        return y.view(-1, self.n, self.h, self.w).permute(1, 0, 2, 3)

    def linearize(self, x: torch.Tensor) -> None:
        self.x = x
        self.p = x[: self.split].view(self.p_shape[:2])
        self.f = x[self.split :].view(self.f_shape)
        self.y = self._project(self.p)
        self.s = F.conv2d(self.y, self.f, padding=1)

    def _jt(self, g: torch.Tensor) -> torch.Tensor:
        grad_f = conv2d_weight(self.y, self.f_shape, g, padding=1)
        grad_y = conv2d_input(self.y.shape, self.f, g, padding=1)  # (N, c, h, w)
        grad_p = grad_y.permute(1, 0, 2, 3).reshape(grad_y.shape[1], -1) @ self.flat.T  # (c, C)
        return torch.cat([grad_p.flatten(), grad_f.flatten()])

    def gradient(self) -> torch.Tensor:
        g = self.gamma * (apply_stencil(self.coeffs, self.s) - self.rhs)
        return self._jt(g) + self.regs2 * self.x

    def normal_product(self, v: torch.Tensor) -> torch.Tensor:
        vp = v[: self.split].view(self.p_shape[:2])
        vf = v[self.split :].view(self.f_shape)
        sv = F.conv2d(self._project(vp), self.f, padding=1) + F.conv2d(self.y, vf, padding=1)
        return self._jt(self.gamma * apply_stencil(self.coeffs, sv)) + self.regs2 * v

    def precondition(self, r: torch.Tensor) -> torch.Tensor:
        return r / self.diag


def fullres_residuals(features: torch.Tensor, labels: torch.Tensor, sqrt_weights: torch.Tensor, sample_weights: torch.Tensor,
                      regs: tuple[float, ...], shapes: list[tuple[int, ...]]):
    """The authors' literal residual function (for tests): params -> flat residuals.

    ``shapes`` lists the parameter tensors packed in the flat vector: [(c, C, 1, 1), (1, c, 3, 3)] for
    the first-frame problem or [(1, c, 3, 3)] for the filter-only problem.
    """
    weight = sqrt_weights * sample_weights.sqrt().view(-1, 1, 1, 1)

    def residuals(x: torch.Tensor) -> torch.Tensor:
        params, offset = [], 0
        for shape in shapes:
            size = 1
            for d in shape:
                size *= d
            params.append(x[offset : offset + size].view(shape))
            offset += size
        h = features
        for p in params:
            h = F.conv2d(h, p, padding=p.shape[-1] // 2)
        up = F.interpolate(h, labels.shape[-2:], mode="bilinear", align_corners=False)
        parts = [(weight * (up - labels)).flatten()]
        parts += [reg * p.flatten() for reg, p in zip(regs, params)]
        return torch.cat(parts)

    return residuals
