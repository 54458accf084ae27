"""Long horizons: ``loss_curve(..., method="piecewise")`` against the exact direct run.

Reference: the exact ``simulate`` (every step; the native kernel or the scan, equal to 1e-12)
on the same continuum power law. Stated tolerances (relative, at every recorded step, default
``ratio = 1.01``): AM1 with theta <= 0.45 within 3e-4 to T = 1e5 and 1e-3 to T = 1e6 (slow test);
Jacobi Heavy Ball within 1e-5. The error is second order in ``ratio - 1`` (checked).
"""

import numpy as np
import pytest

import jaxaccel as ja

S = ja.power_law_continuum(1.5, 0.5, n_max=1e8)
AM1 = (0.5, 0.9, 1.0, 0.4, 0.5, 1.0)  # delta0, kappa, alpha0, theta, eta_kick, t0


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a / b - 1)))


def _am1_pair(T, ratio=1.01, theta=0.4, batch=10.0):
    p = AM1[:3] + (theta,) + AM1[4:]
    exact = ja.simulate(S, ja.am1(*p, T), T, batch, record="log")
    pw = ja.loss_curve(S, ja.am1_schedule(*p).algorithm, T, batch, record="log",
                     method="piecewise", ratio=ratio)
    return exact, pw


def test_am1_piecewise_equals_the_exact_run_on_the_overlap():
    exact, pw = _am1_pair(100_000)
    np.testing.assert_array_equal(pw.steps, exact.steps)
    assert _rel(pw.loss, exact.loss) < 3e-4
    assert _rel(pw.loss_at_gradient_point, exact.loss_at_gradient_point) < 3e-4
    # the first 1000 steps are exact (stepped)
    head = np.asarray(exact.steps) <= 1000
    np.testing.assert_allclose(np.asarray(pw.loss)[head], np.asarray(exact.loss)[head],
                               rtol=1e-12)
    assert not bool(pw.diverged)


def test_error_is_second_order_in_the_piece_ratio():
    e1 = _rel(_am1_pair(30_000, ratio=1.04)[1].loss, _am1_pair(30_000, ratio=1.04)[0].loss)
    exact, fine = _am1_pair(30_000, ratio=1.02)
    e2 = _rel(fine.loss, exact.loss)
    assert 2.5 < e1 / e2 < 6.5, (e1, e2)  # (0.04 / 0.02)^2 = 4


def test_jacobi_heavy_ball_piecewise():
    T = 100_000
    sch = ja.jacobi_schedule(0.5, 0.0, 2.0)
    for batch in (None, 1e6):
        exact = ja.simulate(S, ja.jacobi_heavy_ball(0.5, 0.0, 2.0, T), T, batch, record="log")
        pw = ja.loss_curve(S, sch.algorithm, T, batch, record="log", method="piecewise")
        assert _rel(pw.loss, exact.loss) < 1e-5


@pytest.mark.slow
def test_am1_piecewise_to_a_million_steps():
    exact, pw = _am1_pair(1_000_000)
    assert _rel(pw.loss, exact.loss) < 1e-3


def test_a_schedule_that_varies_too_fast_is_refused():
    def noisy(t):  # a new learning rate every step: no slowly varying structure
        t = np.asarray(t)
        return ja.heavy_ball(0.3 + 0.2 * np.sin(1e3 * t) ** 2, 0.5)

    with pytest.raises(ValueError, match="varies too fast"):
        ja.loss_curve(S, noisy, 20_000, 10.0, record="log", method="piecewise")


def test_piecewise_bad_input_names_the_argument():
    sch = ja.am1_schedule(*AM1).algorithm
    with pytest.raises(ValueError, match="method"):
        ja.loss_curve(S, ja.heavy_ball(0.3, 0.5), 10, method="stepwise")
    with pytest.raises(ValueError, match="callable"):
        ja.loss_curve(S, ja.heavy_ball(0.3, 0.5), 10, method="piecewise")
    with pytest.raises(ValueError, match="callable"):
        ja.loss_curve(S, lambda t: 1.0, 10, method="piecewise")
    with pytest.raises(ValueError, match="ratio"):
        ja.loss_curve(S, sch, 5000, 10.0, method="piecewise", ratio=1.0)
    with pytest.raises(ValueError, match="direct_steps"):
        ja.loss_curve(S, sch, 5000, 10.0, method="piecewise", direct_steps=0)
    with pytest.raises(ValueError, match="record gives"):
        ja.loss_curve(S, sch, 200_000, 10.0, record="all", method="piecewise")
    with pytest.raises(ValueError, match="unknown arguments"):
        ja.loss_curve(S, ja.heavy_ball(0.3, 0.5), 10, ratio=1.01)
    with pytest.raises(ValueError, match="scalar"):
        ja.loss_curve(S, sch, 5000, np.full(5000, 10.0), method="piecewise")


def test_batch_size_schedule_piecewise():
    """A slowly growing batch size b_t = 10 (1 + t / 1000)^0.3 as a callable, against the exact
    run with the per-step array."""
    T = 50_000
    b = lambda t: 10.0 * (1.0 + np.asarray(t) / 1000.0) ** 0.3  # noqa: E731
    exact = ja.simulate(S, ja.am1(*AM1, T), T, b(np.arange(T)), record="log")
    pw = ja.loss_curve(S, ja.am1_schedule(*AM1).algorithm, T, b, record="log", method="piecewise")
    assert _rel(pw.loss, exact.loss) < 3e-4
    with pytest.raises(ValueError, match="batch_size must be a callable"):
        ja.loss_curve(S, ja.am1_schedule(*AM1).algorithm, T, lambda t: -np.ones(np.shape(t)),
                      record="log", method="piecewise")
