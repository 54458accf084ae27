"""The SE error diagnostic (``ja.se_error``, ``ja.se_bounds``; theory §18.3).

References: a finite dataset with exactly Gaussian fourth moments (3-point Gauss-Hermite product
grid), where SE with ``tau = (1, -1)`` is exact and both bounds of Proposition 2 equal 1; the
scikit-learn digits in NTK coordinates (real data: SE must be measurably wrong there, the fit
must help, and the Proposition-2 bounds must enclose the exact curve).
"""

import itertools

import numpy as np
import pytest

import jaxaccel as ja


def _hermite_grid(lam):
    nodes = np.array([0.0, 0.0, 0.0, 0.0, np.sqrt(3.0), -np.sqrt(3.0)])
    return np.array(list(itertools.product(nodes, repeat=len(lam)))) * np.sqrt(lam)


def test_zero_error_where_se_is_exact():
    X = _hermite_grid(np.array([1.0, 0.3, 0.05]))
    r = ja.se_error(X, ja.heavy_ball(0.3, 0.5), np.array([1.0, -0.5, 0.8]), 80, 2)
    assert r.max_rel_error < 1e-12, r.max_rel_error
    assert abs(r.tau_fit[0] - 1) < 1e-6 and abs(r.tau_fit[1] + 1) < 1e-5, r.tau_fit
    assert abs(r.bounds.tau1_lower - 1) < 1e-9 and abs(r.bounds.tau1_upper - 1) < 1e-9
    assert r.upper_holds and r.lower_holds


def test_digits_se_error_is_positive_and_bounded():
    pytest.importorskip("sklearn")
    X, Y = ja.load_digits(80)
    data, e0 = ja.kernel_regression_data(ja.relu_ntk(X), Y[:, 0], replace=False)
    P = np.asarray(data.points)
    r = ja.se_error(P, ja.heavy_ball(0.5, 0.6), np.asarray(e0), 120, 2, replace=False)
    assert r.max_rel_error > 0.5, r.max_rel_error  # real data are not Gaussian-SE
    assert r.max_rel_error_fit < 0.05, r.max_rel_error_fit  # a fitted pair is close
    assert 0.8 < r.tau_fit[0] < 1.2 and r.tau_fit[1] > 0, r.tau_fit
    # Proposition 2 on the data: the measured bracket encloses the exact loss
    assert r.bounds.tau1_lower <= 1.0 <= r.bounds.tau1_upper
    assert r.upper_holds
    assert (not r.bounds.lower_is_monotone) or r.lower_holds


def test_bounds_equal_brute_force_over_all_directions_in_2d():
    """In two dimensions the extremes of R(a, c) over pairs of unit vectors are found on a grid
    of 721 x 721 angle pairs (resolution 0.25 degree: R is smooth, grid error < 1e-4)."""
    rng = np.random.default_rng(1)
    X = rng.standard_t(5, size=(500, 2)) * [1.0, 0.5]
    b = ja.se_bounds(X)
    c = ja.dataset_coordinates(X)
    zw = c.points / np.sqrt(c.eigenvalues)
    th = np.linspace(0, np.pi, 721)
    A = np.stack([np.cos(th), np.sin(th)], axis=1)
    P2 = (zw @ A.T) ** 2
    R = P2.T @ P2 / X.shape[0] + (b.tau2 - 1.0) * (A @ A.T) ** 2
    assert R.min() - 1e-4 < b.tau1_lower <= R.min() + 1e-12, (b.tau1_lower, R.min())
    assert R.max() - 1e-12 <= b.tau1_upper < R.max() + 1e-4, (b.tau1_upper, R.max())
    # along an axis R(e, e) = kurtosis + tau2 - 1
    assert b.tau1_upper >= np.max(np.mean(zw**4, axis=0)) - 2 - 1e-9


def test_bad_input_names_the_argument():
    X = np.random.default_rng(1).standard_t(5, size=(50, 2))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="points"):
        ja.se_bounds(bad)
    with pytest.raises(ValueError, match="points"):
        ja.se_error(bad, ja.gd(0.1), np.ones(2), 10, 2)
    with pytest.raises(ValueError, match="batch_size"):
        ja.se_error(X, ja.gd(0.1), np.ones(2), 10, None)
    with pytest.raises(ValueError, match="batch_size"):
        ja.se_error(X[:3], ja.gd(0.1), np.ones(2), 10, 4, replace=False)
    with pytest.raises(ValueError, match="initial_error"):
        ja.se_error(X, ja.gd(0.1), np.ones(3), 10, 2)
    with pytest.raises(ValueError, match="tau"):
        ja.se_error(X, ja.gd(0.1), np.ones(2), 10, 2, tau=(1.0,))
