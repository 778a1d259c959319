"""The GN-CG solver, FRTM's low-resolution least-squares problems and the sample memory."""

import torch
import torch.nn.functional as F

from vostool.methods.frtm.memory import SampleMemory
from vostool.methods.frtm.problems import (BilinearStencil, FilterProblem, ProjectFilterProblem, apply_stencil,
                                           fullres_residuals, interpolation_matrix)
from vostool.methods.frtm.solver import GaussNewtonCG, ResidualProblem


def test_gn_cg_solves_a_linear_least_squares_problem():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(30, 6, generator=g, dtype=torch.float64)
    b = torch.randn(30, generator=g, dtype=torch.float64)
    solution = torch.linalg.lstsq(a, b).solution
    problem = ResidualProblem(lambda x: a @ x - b)
    solver = GaussNewtonCG(problem, torch.zeros(6, dtype=torch.float64))
    x = solver.run([6])  # CG on a 6-dim SPD system converges in 6 iterations
    assert torch.allclose(x, solution, atol=1e-9)


def test_gn_cg_converges_on_a_nonlinear_problem():
    # Residuals of the bilinear model y = u * v * t, whose minimiser has u * v = 2.
    t = torch.linspace(0.1, 1, 20, dtype=torch.float64)
    y = 2 * t
    problem = ResidualProblem(lambda x: x[0] * x[1] * t - y)
    x = GaussNewtonCG(problem, torch.tensor([1.0, 1.0], dtype=torch.float64)).run([2] * 6)
    assert abs(float(x[0] * x[1]) - 2) < 1e-8


def test_preconditioning_and_fletcher_reeves_also_converge():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(40, 5, generator=g, dtype=torch.float64) * torch.tensor([1, 10, 100, 1, 0.1], dtype=torch.float64)
    b = torch.randn(40, generator=g, dtype=torch.float64)
    diag = (a * a).sum(0)
    problem = ResidualProblem(lambda x: a @ x - b, preconditioner=diag)
    solution = torch.linalg.lstsq(a, b).solution
    for fr in (False, True):
        x = GaussNewtonCG(problem, torch.zeros(5, dtype=torch.float64), fletcher_reeves=fr).run([5, 5])
        assert torch.allclose(x, solution, atol=1e-8)


def test_interpolation_matrix_matches_f_interpolate():
    signal = torch.randn(1, 1, 7, 11, dtype=torch.float64)
    by, bx = interpolation_matrix(7, 50), interpolation_matrix(11, 83)
    expected = F.interpolate(signal, (50, 83), mode="bilinear", align_corners=False)[0, 0]
    assert torch.allclose(by @ signal[0, 0] @ bx.T, expected, atol=1e-12)


def _problem_data(k=3, cin=12, c=6, h=5, w=7, big_h=37, big_w=61, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(k, cin, h, w, generator=g, dtype=torch.float64)
    labels = (torch.rand(k, 1, big_h, big_w, generator=g) > 0.7).double()
    w2 = torch.rand(k, 1, big_h, big_w, generator=g, dtype=torch.float64) + 0.5
    gamma = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)[:k]
    stencil = BilinearStencil((h, w), (big_h, big_w))
    coeffs = stencil.coefficients(w2[:, 0], torch.float64)
    rhs = stencil.project((w2 * labels)[:, 0], torch.float64)
    return x, labels, w2, gamma, coeffs, rhs, g


def test_stencil_equals_upsample_weight_and_transpose():
    x, labels, w2, gamma, coeffs, rhs, g = _problem_data()
    s = torch.randn(3, 1, 5, 7, generator=g, dtype=torch.float64).requires_grad_(True)
    up = F.interpolate(s, labels.shape[-2:], mode="bilinear", align_corners=False)
    (grad,) = torch.autograd.grad(0.5 * (w2 * up * up).sum(), s)  # = Bᵀ diag(w²) B s
    assert torch.allclose(apply_stencil(coeffs, s.detach()), grad, atol=1e-12)


def test_low_resolution_problems_equal_the_authors_full_resolution_residuals():
    x, labels, w2, gamma, coeffs, rhs, g = _problem_data()
    c, cin = 6, 12
    params = torch.randn(c * cin + 9 * c, generator=g, dtype=torch.float64) * 0.1
    low = ProjectFilterProblem(x, coeffs, rhs, gamma, (1e-2, 1e-1), (1e-4, 1e-2), c)
    diag = torch.cat([torch.full((c * cin,), 1e-4, dtype=torch.float64), torch.full((9 * c,), 1e-2, dtype=torch.float64)])
    ref = ResidualProblem(fullres_residuals(x, labels, w2.sqrt(), gamma, (1e-2, 1e-1), [(c, cin, 1, 1), (1, c, 3, 3)]),
                          preconditioner=diag)
    low.linearize(params)
    ref.linearize(params)
    assert torch.allclose(low.gradient(), ref.gradient(), rtol=1e-10, atol=1e-12)
    v = torch.randn(params.shape, generator=g, dtype=torch.float64)
    assert torch.allclose(low.normal_product(v), ref.normal_product(v), rtol=1e-10, atol=1e-12)

    projected = F.conv2d(x, params[: c * cin].view(c, cin, 1, 1))
    filt = params[c * cin :]
    low_f = FilterProblem(projected.permute(0, 2, 3, 1), coeffs, rhs, gamma, 1e-1, 1e-2)
    ref_f = ResidualProblem(fullres_residuals(projected, labels, w2.sqrt(), gamma, (1e-1,), [(1, c, 3, 3)]))
    low_f.linearize(filt)
    ref_f.linearize(filt)
    assert torch.allclose(low_f.gradient(), ref_f.gradient(), rtol=1e-10, atol=1e-12)
    v = torch.randn(filt.shape, generator=g, dtype=torch.float64)
    assert torch.allclose(low_f.normal_product(v), ref_f.normal_product(v), rtol=1e-10, atol=1e-12)

    # Whole solver runs agree too, including the direction carried between runs.
    runs = []
    for problem in (low, ref):
        solver = GaussNewtonCG(problem, params, direction_forget_factor=0.9 ** 750)
        runs.append(solver.run([5, 10, 10]))
    assert torch.allclose(runs[0], runs[1], rtol=1e-8, atol=1e-10)


def test_memory_weights_and_replacement_follow_the_authors_rule():
    mem = SampleMemory(capacity=4, learning_rate=0.1, channels=1, low_size=(2, 2), device="cpu")
    ones = torch.ones(2, 2, 2, 1)  # (K, h, w, c)
    mem.initialize(ones * torch.arange(2).view(2, 1, 1, 1), torch.zeros(2, 9, 2, 2), torch.zeros(2, 1, 2, 2))
    assert torch.allclose(mem.weights, torch.tensor([2 / 3, 1 / 3, 0, 0]))
    slot = mem.insert(torch.full((2, 2, 1), 5.0), torch.zeros(9, 2, 2), torch.zeros(1, 2, 2))
    assert slot == 2  # the first empty slot
    w = torch.tensor([2 / 3, 1 / 3, 0, 0]) / 0.9
    w[2] = 0.1
    w = w / w.sum()
    assert torch.allclose(mem.weights, w)
    slot = mem.insert(torch.full((2, 2, 1), 6.0), torch.zeros(9, 2, 2), torch.zeros(1, 2, 2))
    assert slot == 3
    w[3] = w[2] / 0.9
    w = w / w.sum()
    assert torch.allclose(mem.weights, w)
    # Full: the smallest weight is replaced, even the first frame's would be.
    slot = mem.insert(torch.full((2, 2, 1), 7.0), torch.zeros(9, 2, 2), torch.zeros(1, 2, 2))
    assert slot == int(torch.argmin(w)) == 2  # the oldest inserted sample
    samples, _, _, weights = mem.active()
    assert samples.shape[0] == 4 and torch.allclose(weights.sum(), torch.tensor(1.0))
