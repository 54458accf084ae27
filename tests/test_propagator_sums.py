"""Propagator sums (spec §5.3): resolvent solve vs brute-force packet sums and closed forms."""

import numpy as np
import pytest

import jaxaccel as ja
from jaxaccel.propagators import heavy_ball_sums, memory1_sums, propagator_sums


def _brute_sums(spec, alg, b, tau, n_terms=3000):
    """sum_{n>=1} of the propagators (17)-(18) by iterating A_lambda on the packets in numpy."""
    lam, c2, m = (np.asarray(x) for x in (spec.eigenvalues, spec.c2, spec.weights))
    alpha, a, bv, c, D = (np.asarray(x) for x in alg.params)
    M = a.size
    K = M + 1
    S0 = np.zeros((K, K)); S0[0, 0] = 1; S0[0, 1:] = bv; S0[1:, 1:] = D
    v = np.concatenate([[-alpha], c]); w = np.concatenate([[1.0], a])
    out = np.zeros(4)
    for lk, ck, mk in zip(lam, c2, m):
        S = S0 + lk * np.outer(v, w)
        Zs, Zn = np.zeros((K, K)), np.outer(v, v)
        Zs[0, 0] = 1.0
        for _ in range(n_terms):
            out += [tau[0] / b * mk * lk**2 * Zn[0, 0], tau[0] / b * mk * lk**2 * (w @ Zn @ w),
                    lk * ck * Zs[0, 0], lk * ck * (w @ Zs @ w)]
            Zs = S @ Zs @ S.T - tau[1] / b * lk**2 * (w @ Zs @ w) * np.outer(v, v)
            Zn = S @ Zn @ S.T - tau[1] / b * lk**2 * (w @ Zn @ w) * np.outer(v, v)
    return out


@pytest.mark.parametrize("M, tau", [(1, (1.0, -1.0)), (1, (1.0, 1.0)),
                                    pytest.param(2, (0.7, 0.3), marks=pytest.mark.slow), (3, (1.0, 0.0))])
def test_resolvent_sums_equal_brute_force(M, tau):
    rng = np.random.default_rng(M)
    spec = ja.Spectrum([0.9, 0.5, 0.2, 0.05], [1.0, 0.5, 2.0, 3.0], weights=[1.0, 2.0, 1.0, 3.0])
    alg = ja.MemoryAlgorithm(0.5, rng.normal(size=M) * 0.2, rng.normal(size=M) * 0.2,
                             rng.normal(size=M) * 0.2, np.eye(M) * 0.4)
    r = propagator_sums(spec, alg, 5.0, tau)
    assert bool(r.stable)
    ref = _brute_sums(spec, alg, 5.0, tau)
    np.testing.assert_allclose([r.U, r.U_tilde, r.V, r.V_tilde], ref, rtol=1e-10)


SPEC = ja.power_law_spectrum(2000, nu=1.5, zeta=0.5)  # one size: compilations are shared


def test_closed_forms_agree_with_general_solve():
    spec = SPEC
    for alpha, beta in [(0.3, 0.5), (0.1, 0.95), (1.0, -0.3)]:
        for tau in [(1.0, -1.0), (1.0, 0.0), (1.0, 1.0)]:
            g = propagator_sums(spec, ja.heavy_ball(alpha, beta), 10.0, tau)
            c = heavy_ball_sums(spec, alpha, beta, 10.0, tau)
            np.testing.assert_allclose(c[:4], g[:4], rtol=1e-10)
    for delta, q0, q1 in [(0.05, 0.5, -0.8), (0.3, 0.2, -0.5), (0.01, 1.0, -1.2)]:
        g = propagator_sums(spec, ja.memory1_triplet(delta, q0, q1), 4.0, (1.0, 0.0))
        c = memory1_sums(spec, delta, q0, q1, 4.0)
        assert bool(g.stable) and bool(c.stable)
        np.testing.assert_allclose(c[:4], g[:4], rtol=1e-10)


def test_unstable_gives_inf_and_bad_input_is_rejected():
    spec = SPEC
    for r in (propagator_sums(spec, ja.heavy_ball(5.0, 0.5), 10.0),
              heavy_ball_sums(spec, 5.0, 0.5, 10.0), memory1_sums(spec, 0.1, -0.5, -0.1, 10.0)):
        assert not bool(r.stable) and np.all(np.isinf(np.asarray(r[:4])))
    with pytest.raises(ValueError, match="stationary"):
        propagator_sums(spec, ja.heavy_ball(np.full(4, 0.1), 0.5), 10.0)
    with pytest.raises(ValueError, match="batch_size"):
        propagator_sums(spec, ja.gd(0.1), -1.0)
    full = propagator_sums(spec, ja.gd(0.5), None)
    assert float(full.U) == 0.0 and np.isfinite(float(full.V))
