"""Memory-1 closed forms (spec §6, §7.1) against independent references.

References: the spec's formulas for ``q0, q1`` in terms of the five scalars (§2.5), literal
iterations of the matrix form (3) / the decoupled form (250) against the multistep recurrence
(8) (also with a non-quadratic gradient), brute-force spectral radii and LAPACK eigenvalues of
``S_lambda`` on dense ``lambda`` grids (Theorem 6), the sign of the eigenvalue imaginary parts
(critical scales).
"""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import importlib

import jaxaccel as ja

# The closed forms live in ``jaxaccel.memory1_theory``; ``jaxaccel.memory1`` is the general
# memory-1 constructor of ``algorithms``.


def _S(delta, q0, q1, lam):
    """S_lambda of the a = 0 realisation (alpha = -q1, b = q0 + q1 beta, c = 1, D = beta)."""
    beta = 1.0 - delta
    lam = np.asarray(lam, dtype=float)
    S = np.empty(lam.shape + (2, 2))
    S[..., 0, 0] = 1.0 + lam * q1
    S[..., 0, 1] = q0 + q1 * beta
    S[..., 1, 0] = lam
    S[..., 1, 1] = beta
    return S


# ----------------------------------------------------------------------------- conversions
def test_triplet_from_algorithm_matches_spec_formulas():
    """q1 = a c - alpha, q0 = alpha D + b c - a c, delta = 1 - D (spec §2.5), any shift a."""
    rng = np.random.default_rng(0)
    for _ in range(8):
        alpha, a, b, c, D = rng.normal(size=5)
        t = ja.triplet_from_algorithm(ja.memory1(alpha, a, b, c, D))
        np.testing.assert_allclose(
            [float(x) for x in t], [1 - D, alpha * D + b * c - a * c, a * c - alpha], rtol=0, atol=1e-14
        )
    # Nesterov: q1 = -alpha (1 + beta), q0 = alpha beta (spec §2.5)
    t = ja.triplet_from_algorithm(ja.nesterov(0.3, 0.8))
    np.testing.assert_allclose([float(t.q0), float(t.q1)], [0.3 * 0.8, -0.3 * 1.8], atol=1e-15)


def _multistep(delta, q0, q1, grad, w0, T):
    """w_{t+1} = (1 + beta) w_t - beta w_{t-1} + q1 g(w_t) + q0 g(w_{t-1}) (eq. 8), started
    with an empty memory (u_0 = 0): w_{-1} = w_0 and g_{-1} = 0."""
    beta = 1.0 - delta
    w_prev, w = w0.copy(), w0.copy()
    g_prev = np.zeros_like(w0)
    out = [w.copy()]
    for _ in range(T):
        g = grad(w)
        w_new = (1 + beta) * w - beta * w_prev + q1 * g + q0 * g_prev
        w_prev, w, g_prev = w, w_new, g
        out.append(w.copy())
    return np.array(out)


def test_triplet_round_trip_and_trajectory():
    """memory1_triplet -> five scalars -> triplet, and (3) iterated literally == multistep (8)."""
    rng = np.random.default_rng(1)
    d = 6
    A = rng.normal(size=(d, d))
    H = A @ A.T / d + 0.1 * np.eye(d)
    w_star = rng.normal(size=d)
    grad = lambda w: H @ (w - w_star)  # noqa: E731
    for delta, q0, q1 in [(0.3, 0.2, -0.5), (0.05, 0.5, -0.6), (1.4, -0.1, -0.2)]:
        alg = ja.memory1_triplet(delta, q0, q1)
        t = ja.triplet_from_algorithm(alg)
        np.testing.assert_allclose([float(x) for x in t], [delta, q0, q1], atol=1e-15)
        # literal matrix-form iteration (3) with a = 0, u_0 = 0
        alpha, a, b, c, D = (float(np.asarray(x).ravel()[0]) for x in alg.params)
        w, u = np.zeros(d), np.zeros(d)
        traj = [w.copy()]
        for _ in range(30):
            g = grad(w)
            w, u = w - alpha * g + b * u, c * g + D * u
            traj.append(w.copy())
        ms = _multistep(delta, q0, q1, grad, np.zeros(d), 30)
        np.testing.assert_allclose(np.array(traj), ms, rtol=1e-12, atol=1e-12)


def test_torch_form_is_the_multistep_triplet_for_any_gradient():
    """(250) iterated literally with a NON-quadratic gradient == multistep (8) with the triplet
    of triplet_from_torch (the identity holds for any gradient sequence)."""
    rng = np.random.default_rng(2)
    d = 5
    B = rng.normal(size=(d, d)) / np.sqrt(d)
    grad = lambda w: B.T @ np.tanh(B @ w - 1.0) + 0.05 * w**3  # noqa: E731
    for eta, eta_p, beta in [(0.1, 0.5, 0.9), (0.02, 0.3, 0.99), (0.3, -0.1, 0.5)]:
        t = ja.triplet_from_torch(eta, eta_p, beta)
        w, v = rng.normal(size=d), np.zeros(d)
        w0 = w.copy()
        traj = [w.copy()]
        for _ in range(40):
            g = grad(w)
            v = beta * v + g
            w = w - eta * v - eta_p * g
            traj.append(w.copy())
        ms = _multistep(float(t.delta), float(t.q0), float(t.q1), grad, w0, 40)
        np.testing.assert_allclose(np.array(traj), ms, rtol=1e-11, atol=1e-12)
        # the same triplet read off the matrix form built by am1_form (another view)
        t2 = ja.triplet_from_algorithm(ja.am1_form(eta, eta_p, beta))
        np.testing.assert_allclose([float(x) for x in t2], [float(x) for x in t], atol=1e-15)
        # and back: eta' = q0/(1-delta), eta = delta(alpha_eff - q0/(1-delta))
        f = ja.torch_from_triplet(*t)
        np.testing.assert_allclose([float(x) for x in f], [eta, eta_p, beta], rtol=1e-12, atol=1e-14)
        # alpha_eff = eta/(1-beta) + eta' (spec §2.6 table)
        np.testing.assert_allclose(float(t.alpha_eff), eta / (1 - beta) + eta_p, rtol=1e-12)


def test_alpha_eff_and_effective_parametrisation():
    rng = np.random.default_rng(3)
    delta, ae, q0 = rng.uniform(0.01, 1.5, 10), rng.uniform(0.1, 50, 10), rng.uniform(-1, 1, 10)
    t = ja.triplet_from_effective(delta, ae, q0)
    np.testing.assert_allclose(t.alpha_eff, ae, rtol=1e-12)
    # against alpha - b^T (1 - D)^{-1} c of the realisation (eq. 22)
    for i in range(4):
        alg = ja.memory1_triplet(t.delta[i], t.q0[i], t.q1[i])
        np.testing.assert_allclose(float(ja.effective_learning_rate(alg)), ae[i], rtol=1e-12)


# ----------------------------------------------------------------------------- Theorem 6.1
def _random_cases(rng, n):
    beta = rng.uniform(-1.1, 1.1, n)
    lm = np.exp(rng.uniform(np.log(0.1), np.log(10.0), n))
    q0 = rng.uniform(-1.0, 2.0, n) / lm
    q1 = rng.uniform(-4.5, 0.5, n) / lm
    return 1.0 - beta, q0, q1, lm


def test_theorem6_conditions_match_brute_force_4000_cases():
    """(227) vs the max spectral radius of S_lambda over a dense grid of (0, lambda_max]
    (log grid down to 1e-10 lambda_max plus a linear grid; radius from the 2x2 trace and
    determinant). Acceptance: 0 mismatches over >= 4000 random cases."""
    rng = np.random.default_rng(4)
    n = 4000
    delta, q0, q1, lm = _random_cases(rng, n)
    s = np.concatenate([np.logspace(-10, 0, 250), np.linspace(0, 1, 251)[1:]])
    lam = lm[:, None] * s[None, :]
    S = _S(delta[:, None], q0[:, None], q1[:, None], lam)
    tr = S[..., 0, 0] + S[..., 1, 1]
    det = S[..., 0, 0] * S[..., 1, 1] - S[..., 0, 1] * S[..., 1, 0]
    sq = np.sqrt((tr * tr / 4 - det).astype(complex))
    radius = np.maximum(np.abs(tr / 2 + sq), np.abs(tr / 2 - sq)).max(-1)
    brute = radius < 1.0
    cond = ja.memory1_conditions(delta, q0, q1, lm)
    thm = np.asarray(cond.stable)
    assert int(np.sum(brute != thm)) == 0
    assert 0.1 < brute.mean() < 0.9  # both outcomes well represented
    # each condition is, on its own, responsible for some unstable cases
    margins = np.stack([np.asarray(x) for x in cond[1:]])
    only = (margins <= 0).sum(0) == 1
    for k in range(4):
        assert np.sum(only & (margins[k] <= 0)) > 10, k


def test_theorem6_heavy_ball_special_case():
    """HB: |beta| < 1 and 0 < alpha lambda_max < 2 (1 + beta) (spec §6.2)."""
    rng = np.random.default_rng(5)
    alpha, beta = rng.uniform(-0.5, 4.5, 2000), rng.uniform(-1.2, 1.2, 2000)
    hb = [ja.triplet_from_algorithm(ja.heavy_ball(a, b)) for a, b in zip(alpha[:10], beta[:10])]
    np.testing.assert_allclose([float(x.q0) for x in hb], 0.0, atol=1e-15)
    cond = ja.memory1_conditions(1.0 - beta, 0.0, -alpha, 1.0)
    expect = (np.abs(beta) < 1) & (alpha > 0) & (alpha < 2 * (1 + beta))
    np.testing.assert_array_equal(np.asarray(cond.stable), expect)


def test_right_triangle_vertices():
    """At fixed delta the stable (q0, q1) set is the triangle of spec §6.2: points just inside
    each edge are stable, just outside are not."""
    lm, delta = 2.0, 0.3
    V = np.array([[-delta, delta], [-delta, -(4 - delta)], [2 - delta, -(2 - delta)]]) / lm
    centroid = V.mean(0)
    for v in V:
        inside = v + 1e-6 * (centroid - v)
        outside = v - 1e-6 * (centroid - v)
        assert bool(ja.memory1_conditions(delta, *inside, lm).stable)
        assert not bool(ja.memory1_conditions(delta, *outside, lm).stable)


# ----------------------------------------------------------------------------- Theorem 6.2
def test_eigenvalues_closed_form_vs_lapack():
    rng = np.random.default_rng(6)
    delta, q0, q1, lm = _random_cases(rng, 300)
    lam = lm[:, None] * np.logspace(-8, 0.3, 40)[None, :]
    mu = np.asarray(ja.memory1_eigenvalues(delta[:, None], q0[:, None], q1[:, None], lam))
    ref = np.linalg.eigvals(_S(delta[:, None], q0[:, None], q1[:, None], lam))
    a, b = np.sort_complex(mu.reshape(-1, 2)), np.sort_complex(ref.reshape(-1, 2))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    # 1 - mu_slow keeps relative accuracy at tiny lambda: 1 - mu ~ alpha_eff lambda
    d, a0, a1 = 0.2, 0.3, -0.9
    x = np.asarray(ja.memory1_eigenvalues(d, a0, a1, 1e-13, shifted=True))
    slow = x[np.argmin(np.abs(x))].real
    np.testing.assert_allclose(slow, -(a0 + a1) / d * 1e-13, rtol=1e-11)


def test_complex_eigenvalues_lie_on_circle():
    """LAPACK eigenvalues with nonzero imaginary part satisfy |mu - mu_*| = r to 1e-12
    (relative to max(1, r)); when mu_* in [beta, 1] every eigenvalue is real, for lambda of
    both signs."""
    rng = np.random.default_rng(7)
    n = 600
    delta, q0, q1, lm = _random_cases(rng, n)
    circ = ja.memory1_circle(delta, q0, q1)
    lam = lm[:, None] * np.concatenate([np.logspace(-9, 0.5, 120), -np.logspace(-9, 0.5, 120)])[None, :]
    mu = np.linalg.eigvals(_S(delta[:, None], q0[:, None], q1[:, None], lam))
    cplx = np.abs(mu.imag) > 0
    centre, r = np.asarray(circ.center), np.asarray(circ.radius)
    err = np.abs(np.abs(mu - centre[:, None, None]) - r[:, None, None]) / np.maximum(1.0, r)[:, None, None]
    real_all = np.asarray(circ.real_for_all)
    assert cplx.sum() > 10000 and real_all.sum() > 50
    assert np.all(~cplx[real_all])  # Thm 6.2 real case
    assert np.nanmax(np.where(cplx, err, np.nan)) < 1e-12
    # mu_* in [beta, 1] <=> r^2 <= 0, consistent with the spec's sign form for q1 < 0
    neg = q1 < 0
    np.testing.assert_array_equal(real_all[neg], (q0 + (1 - delta) * q1 >= 0)[neg] & (q0 + q1 <= 0)[neg])


def test_circle_degenerates_to_line_when_q1_is_zero():
    mu = np.linalg.eigvals(_S(0.4, -0.3, 0.0, np.linspace(0.5, 3, 10)))
    cplx = np.abs(mu.imag) > 0
    assert cplx.any()
    np.testing.assert_allclose(mu[cplx].real, (1 + 0.6) / 2, atol=1e-14)
    c = ja.memory1_circle(0.4, -0.3, 0.0)
    assert np.isinf(float(c.center)) and not bool(c.real_for_all)


def test_critical_scales_bound_the_complex_region():
    """Eigenvalues are complex exactly inside (lambda_-, lambda_+) (checked with LAPACK just
    inside and outside both ends); the small-delta forms (245)-(246) converge as delta -> 0,
    alpha_eff -> infinity, with relative error ~ delta + q0 / (2 alpha_eff)."""
    for delta, ae, q0 in [(1e-2, 10.0, 0.5), (1e-3, 30.0, 0.2), (0.2, 2.0, -0.1), (0.5, 1.0, 0.0)]:
        t = ja.triplet_from_effective(delta, ae, q0)
        s = ja.memory1_critical_scales(*t)
        lo, hi = float(s.lambda_minus), float(s.lambda_plus)
        assert 0 < lo < hi
        for lam, want in [(lo * (1 - 1e-6), False), (lo * (1 + 1e-6), True),
                          (hi * (1 - 1e-6), True), (hi * (1 + 1e-6), False)]:
            mu = np.linalg.eigvals(_S(float(t.delta), float(t.q0), float(t.q1), lam))
            assert (np.abs(mu.imag).max() > 0) == want, (delta, lam)
    for delta, ae in [(1e-3, 1e2), (1e-5, 1e3), (1e-7, 1e4)]:
        s = ja.memory1_critical_scales(*ja.triplet_from_effective(delta, ae, 0.5))
        bound = 2 * (delta + 0.5 / (2 * ae))
        assert abs(float(s.lambda_minus / s.lambda_minus_approx) - 1) < bound
        assert abs(float(s.lambda_plus / s.lambda_plus_approx) - 1) < bound
    # no complex region for lambda > 0 (mu_* in [beta, 1])
    s = ja.memory1_critical_scales(0.5, 0.4, -0.6)
    assert np.isnan(float(s.lambda_minus)) and np.isnan(float(s.lambda_plus))


# ----------------------------------------------------------------------------- API
def test_jit_vmap_friendly():
    delta = jnp.linspace(0.05, 1.9, 7)
    f = jax.jit(jax.vmap(lambda d: ja.memory1_conditions(d, 0.1, -0.5, 2.0).stable))
    np.testing.assert_array_equal(f(delta), ja.memory1_conditions(delta, 0.1, -0.5, 2.0).stable)
    g = jax.jit(lambda e, ep, b: ja.torch_from_triplet(*ja.triplet_from_torch(e, ep, b)))
    np.testing.assert_allclose([float(x) for x in g(0.1, 0.2, 0.8)], [0.1, 0.2, 0.8], rtol=1e-13)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="lambda_max"):
        ja.memory1_conditions(0.1, 0.0, -1.0, 0.0)
    with pytest.raises(ValueError, match="q0"):
        ja.memory1_conditions(0.1, np.nan, -1.0, 1.0)
    with pytest.raises(ValueError, match="delta"):
        ja.torch_from_triplet(1.0, 0.2, -0.5)
    with pytest.raises(ValueError, match="eta_prime"):
        ja.triplet_from_torch(0.1, np.inf, 0.9)
    with pytest.raises(ValueError, match="memory"):
        ja.triplet_from_algorithm(ja.gd(0.5))
    with pytest.raises(ValueError, match="algorithm"):
        ja.triplet_from_algorithm("hb")


def test_submodule_does_not_shadow_the_package_constructor():
    """Importing the closed-form and stability modules leaves ``jaxaccel.memory1`` the
    constructor of ``jaxaccel.algorithms``."""
    importlib.import_module("jaxaccel.theory.memory1")
    importlib.import_module("jaxaccel.algorithms.memory1_forms")
    assert ja.memory1 is ja.memory1
