"""Weighted Procrustes: exactness against scipy, reflections, degeneracies and gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from mapfree.geometry.procrustes import weighted_procrustes


def random_pose(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    R = torch.tensor(Rotation.random(n, random_state=seed).as_matrix())
    t = torch.tensor(np.random.default_rng(seed).normal(size=(n, 3)))
    return R, t


def transform(X: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return X @ R.transpose(-1, -2) + t.unsqueeze(-2)


def test_recovers_exact_transform_batched():
    R, t = random_pose(6, seed=0)
    X = torch.randn(6, 12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fit = weighted_procrustes(X, transform(X, R, t))
    assert fit.valid.all()
    torch.testing.assert_close(fit.R, R, atol=1e-12, rtol=0)
    torch.testing.assert_close(fit.t, t, atol=1e-12, rtol=0)


def test_zero_weights_ignore_outliers():
    R, t = random_pose(1, seed=1)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(1, 20, 3, dtype=torch.float64, generator=g)
    Y = transform(X, R, t)
    Y[:, 10:] += 5 * torch.randn(1, 10, 3, dtype=torch.float64, generator=g)
    w = torch.cat([torch.rand(1, 10, dtype=torch.float64, generator=g) + 0.1,
                   torch.zeros(1, 10, dtype=torch.float64)], 1)
    fit = weighted_procrustes(X, Y, w)
    torch.testing.assert_close(fit.R, R, atol=1e-12, rtol=0)
    torch.testing.assert_close(fit.t, t, atol=1e-12, rtol=0)


@pytest.mark.parametrize("mirror", [False, True])
def test_matches_scipy_weighted_optimum_and_is_a_rotation(mirror):
    """Noisy (and, with `mirror`, reflected) data: the best proper rotation, never a reflection."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 3))
    Y = X @ Rotation.random(random_state=3).as_matrix().T + rng.normal(scale=0.3, size=(30, 3))
    if mirror:
        Y[:, 2] *= -1
    w = rng.uniform(0.1, 2.0, size=30)
    fit = weighted_procrustes(torch.tensor(X), torch.tensor(Y), torch.tensor(w))
    R = fit.R.numpy()
    assert fit.valid and np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
    xc = X - np.average(X, axis=0, weights=w)
    yc = Y - np.average(Y, axis=0, weights=w)
    expected, _ = Rotation.align_vectors(yc, xc, weights=w)
    np.testing.assert_allclose(R, expected.as_matrix(), atol=1e-9)
    np.testing.assert_allclose(fit.t.numpy(), np.average(Y - X @ R.T, axis=0, weights=w), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(3, 12), st.floats(0.0, 2.0))
def test_fit_is_a_minimum_of_the_weighted_objective(seed, n, noise):
    """No nearby rigid motion has a lower weighted squared error than the returned one."""
    rng = np.random.default_rng(seed)
    X = torch.tensor(rng.normal(size=(n, 3)))
    R_true = torch.tensor(Rotation.random(random_state=seed).as_matrix())
    Y = X @ R_true.T + torch.tensor(rng.normal(scale=noise + 1e-3, size=(n, 3)))
    w = torch.tensor(rng.uniform(0.01, 1.0, size=n))
    fit = weighted_procrustes(X, Y, w)
    assert fit.valid

    def cost(R, t):
        return float((w * (X @ R.T + t - Y).square().sum(-1)).sum())

    best = cost(fit.R, fit.t)
    for step in torch.tensor(rng.normal(scale=1e-3, size=(20, 6))):
        R = torch.tensor(Rotation.from_rotvec(step[:3].numpy()).as_matrix()) @ fit.R
        assert cost(R, fit.t + step[3:]) >= best - 1e-12


def test_broadcasts_points_over_weight_batches():
    R, t = random_pose(1, seed=4)
    X = torch.randn(2, 1, 8, 3, dtype=torch.float64)
    w = torch.rand(2, 5, 8, dtype=torch.float64) + 0.1
    fit = weighted_procrustes(X, transform(X, R, t), w)
    assert fit.R.shape == (2, 5, 3, 3) and fit.t.shape == (2, 5, 3) and fit.valid.all()
    torch.testing.assert_close(fit.R, R.expand(2, 5, 3, 3), atol=1e-12, rtol=0)


def degenerate_inputs() -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    line = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None] * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    general = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    ones = torch.ones(5, dtype=torch.float64)
    nan_points = general.clone()
    nan_points[1:] = float("nan")
    return {
        "collinear": (line + 7.0, 2 * line - 1.0, ones),
        "coincident": (torch.full((5, 3), 3.7, dtype=torch.float64), general, ones),
        "zero weights": (general, general + 1.0, torch.zeros(5, dtype=torch.float64)),
        "single weighted point": (general, general + 1.0, torch.tensor([0, 0, 1.0, 0, 0], dtype=torch.float64)),
        "two points": (general[:2], general[:2] + 1.0, ones[:2]),
        "non-finite points": (nan_points, general, ones),
        "empty": (general[:0], general[:0], ones[:0]),
    }


@pytest.mark.parametrize("name", list(degenerate_inputs()))
def test_degenerate_input_is_flagged_with_finite_values_and_gradients(name):
    X, Y, w = (v.clone().requires_grad_() for v in degenerate_inputs()[name])
    fit = weighted_procrustes(X, Y, w)
    assert not fit.valid
    torch.testing.assert_close(fit.R, torch.eye(3, dtype=torch.float64))
    assert torch.isfinite(fit.t).all()
    (fit.R.square().sum() + fit.t.sum()).backward()
    for tensor in (X, Y, w):
        assert torch.isfinite(tensor.grad).all(), name


def test_invalid_fit_in_a_batch_does_not_poison_gradients():
    X = torch.randn(2, 6, 3, dtype=torch.float64)
    X[1] = X[1, :1]  # coincident points
    X.requires_grad_()
    fit = weighted_procrustes(X, X.detach() + 1.0)
    assert fit.valid.tolist() == [True, False]
    fit.R.sum().backward()
    assert torch.isfinite(X.grad).all()
    assert torch.count_nonzero(X.grad[1]) == 0  # an invalid rotation passes no gradient


def test_gradcheck_float64_with_weights():
    g = torch.Generator().manual_seed(6)
    X = torch.randn(2, 5, 3, dtype=torch.float64, generator=g)
    R, t = random_pose(2, seed=6)
    Y = transform(X, R, t) + 0.2 * torch.randn(2, 5, 3, dtype=torch.float64, generator=g)
    w = torch.rand(2, 5, dtype=torch.float64, generator=g) + 0.05
    inputs = tuple(v.requires_grad_() for v in (X, Y, w))
    assert torch.autograd.gradcheck(lambda *a: weighted_procrustes(*a)[:2], inputs)


def test_gradcheck_with_reflection_optimum():
    """The determinant correction is active (best orthogonal fit is a reflection)."""
    g = torch.Generator().manual_seed(7)
    X = torch.randn(1, 9, 3, dtype=torch.float64, generator=g)
    Y = (X * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
         + 0.05 * torch.randn(1, 9, 3, dtype=torch.float64, generator=g))
    U, _, Vh = torch.linalg.svd((Y - Y.mean(1, keepdim=True)).transpose(1, 2) @ (X - X.mean(1, keepdim=True)))
    assert torch.linalg.det(U @ Vh) < 0
    inputs = (X.requires_grad_(), Y.requires_grad_())
    assert torch.autograd.gradcheck(lambda *a: weighted_procrustes(*a)[:2], inputs)


def test_gradient_finite_where_svd_autograd_is_not():
    """A regular tetrahedron has three equal singular values: R is unique, SVD's gradient is not finite."""
    tetra = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64)
    R, t = random_pose(1, seed=8)
    Y = transform(tetra, R[0], t[0])
    X = tetra.clone().requires_grad_()
    fit = weighted_procrustes(X, Y)
    assert fit.valid
    torch.testing.assert_close(fit.R, R[0], atol=1e-12, rtol=0)
    assert torch.autograd.gradcheck(lambda a: weighted_procrustes(a, Y)[:2], (X,))

    M = (Y - Y.mean(0)).T @ (X - X.mean(0))
    U, _, Vh = torch.linalg.svd(M)
    naive_grad, = torch.autograd.grad((U @ Vh).sum(), X)
    assert not torch.isfinite(naive_grad).all()


def test_float32_inputs_stay_float32():
    X = torch.randn(4, 10, 3)
    fit = weighted_procrustes(X, X + 1.0)
    assert fit.R.dtype == torch.float32 and fit.valid.all()
    torch.testing.assert_close(fit.t, torch.ones(4, 3), atol=1e-5, rtol=0)
