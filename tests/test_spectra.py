"""Spectra: the power-law construction against assumption (1), real-data constructors, validation."""

import numpy as np
import pytest

import jaxaccel as ja


def test_power_law_satisfies_assumption_1():
    nu, zeta, Lam, Q = 1.5, 0.7, 2.0, 0.3
    s = ja.power_law_spectrum(2_000_000, nu, zeta, Lambda=Lam, Q=Q)
    lam, c2 = np.asarray(s.eigenvalues), np.asarray(s.c2)
    k = np.arange(1, lam.size + 1)
    np.testing.assert_allclose(lam, Lam * k**-nu, rtol=1e-14)
    # sum_{lambda_k < lambda} lambda_k c_k^2 = Q lambda^zeta (1 + o(1)) as lambda -> 0
    tail = np.cumsum((lam * c2)[::-1])[::-1]
    for K in (1_000, 10_000):
        ratio = tail[K] / (Q * lam[K - 1] ** zeta)
        assert abs(ratio - 1) < 5e-3
    assert s.power_law == ja.PowerLaw(nu, zeta, Lam, Q)


def test_power_law_default_is_the_ideal_problem():
    s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
    k = np.arange(1, 101)
    np.testing.assert_allclose(s.c2, k ** (2.0 - 1 - 1.0), rtol=1e-14)
    assert s.power_law.Q == pytest.approx(1 / (0.5 * 2.0))


def test_from_covariance_and_kernel():
    rng = np.random.default_rng(0)
    n, p = 40, 6
    X = rng.normal(size=(n, p)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    w_star = rng.normal(size=p)
    H = X.T @ X / n
    s = ja.Spectrum.from_covariance(H, w_star)
    # initial loss with w0 = 0: 1/2 w*^T H w*
    assert float(s.initial_loss) == pytest.approx(0.5 * w_star @ H @ w_star, rel=1e-12)
    assert np.all(np.diff(np.asarray(s.eigenvalues)) <= 0)
    y = X @ w_star
    sk = ja.Spectrum.from_kernel(X @ X.T, y)
    np.testing.assert_allclose(sk.eigenvalues, s.eigenvalues, rtol=1e-10)
    np.testing.assert_allclose(sk.c2, s.c2, rtol=1e-8)
    assert float(sk.initial_loss) == pytest.approx(y @ y / (2 * n), rel=1e-12)


@pytest.mark.parametrize(
    "args, match",
    [
        (([1.0, 0.0], [1.0, 1.0]), "eigenvalues"),
        (([1.0, -1.0], [1.0, 1.0]), "eigenvalues"),
        (([1.0, np.nan], [1.0, 1.0]), "eigenvalues"),
        (([1.0, 0.5], [1.0, -1.0]), "c2"),
        (([1.0, 0.5], [1.0]), "c2"),
        (([1.0, 0.5], [1.0, np.inf]), "c2"),
        (([[1.0, 0.5]], [[1.0, 1.0]]), "eigenvalues"),
        (([], []), "eigenvalues"),
    ],
)
def test_spectrum_validation(args, match):
    with pytest.raises(ValueError, match=match):
        ja.Spectrum(*args)


def test_spectrum_weights_validation_and_constructor_errors():
    with pytest.raises(ValueError, match="weights"):
        ja.Spectrum([1.0], [1.0], weights=[0.0])
    with pytest.raises(ValueError, match="nu"):
        ja.power_law_spectrum(10, nu=0.4, zeta=1.0)
    with pytest.raises(ValueError, match="zeta"):
        ja.power_law_spectrum(10, nu=1.5, zeta=-1.0)
    with pytest.raises(ValueError, match="n"):
        ja.power_law_spectrum(0, nu=1.5, zeta=1.0)
    with pytest.raises(ValueError, match="matrix"):
        ja.Spectrum.from_covariance(np.array([[1.0, 2.0], [0.0, 1.0]]), [1.0, 1.0])
    with pytest.raises(ValueError, match="w_star"):
        ja.Spectrum.from_covariance(np.eye(3), [1.0, 1.0])
    with pytest.raises(ValueError, match="targets"):
        ja.Spectrum.from_kernel(np.eye(3), np.ones(4))


def test_from_kernel_and_from_covariance_share_one_rule():
    """Both reject a non-symmetric matrix and a clearly negative eigenvalue (saying what was
    found) and accept rounding-level asymmetry; a kernel used to be symmetrised silently."""
    asym, indefinite = np.array([[2.0, 1.0], [0.0, 2.0]]), np.array([[1.0, 2.0], [2.0, 1.0]])
    for build in (lambda A: ja.Spectrum.from_kernel(A, [1.0, 1.0]),
                  lambda A: ja.Spectrum.from_covariance(A, [1.0, 1.0])):
        with pytest.raises(ValueError, match=r"symmetric \(max \|A - A\^T\| = 1"):
            build(asym)
        with pytest.raises(ValueError, match="positive semi-definite .min eigenvalue -"):
            build(indefinite)
        s = build(np.array([[2.0, 1.0], [1.0 + 1e-14, 2.0]]))
        assert s.size == 2
