"""Propagators (17)-(18), renewal equations (§4.4), expansion (19) and the non-stationary renewal.

Independent references used here (float64 throughout, tolerances from the spec/issue 3):

* a per-node NumPy loop applying ``A_lambda`` (16) literally (``S Z S^T - tau2/b lam^2 ...``);
* 50-digit ``decimal`` repeated squaring of the ``K^2 x K^2`` map for times up to ``1e9``;
* Algorithm A (:func:`jaxaccel.simulate`), which never forms a propagator;
* a NumPy forward substitution of the Volterra system and an enumeration of all index sets of
  the multi-index expansion (19).
"""

import importlib
import itertools
from decimal import Decimal, getcontext

import numpy as np
import pytest

import jaxaccel as ja
# jaxaccel re-exports the function ``propagators``, which shadows the module attribute

TOL = 1e-12  # float64 equalities (issue 3: renewal == simulate to 1e-12)
TOL_AT = 1e-10  # eigen route vs stepping (issue 3)


# ----------------------------------------------------------------------------- references
def _params(alg):
    alpha, a, b, c, D = (np.asarray(x, np.float64) for x in alg.params)
    K = a.size + 1
    S0 = np.zeros((K, K))
    S0[0, 0] = 1.0
    S0[0, 1:] = b
    S0[1:, 1:] = D
    return S0, np.concatenate([[-alpha], c]), np.concatenate([[1.0], a])


def _numpy_propagators(spec, alg, b, tau, steps):
    """(U, U~, V, V~) for n = 1..steps by applying (16) literally, node by node."""
    lam, c2, m = (np.asarray(x, np.float64) for x in (spec.eigenvalues, spec.c2, spec.weights))
    S0, v, w = _params(alg)
    t1b, t2b = (0.0, 0.0) if b is None else (tau[0] / b, tau[1] / b)
    out = np.zeros((steps, 4))
    vv = np.outer(v, v)
    for lk, ck, mk in zip(lam, c2, m):
        S = S0 + lk * np.outer(v, w)
        Zs, Zn = np.zeros_like(S), vv.copy()
        Zs[0, 0] = 1.0
        for i in range(steps):
            out[i] += [t1b * mk * lk**2 * Zn[0, 0], t1b * mk * lk**2 * (w @ Zn @ w),
                       lk * ck * Zs[0, 0], lk * ck * (w @ Zs @ w)]
            Zs = S @ Zs @ S.T - t2b * lk**2 * (w @ Zs @ w) * vv
            Zn = S @ Zn @ S.T - t2b * lk**2 * (w @ Zn @ w) * vv
    return out


def _decimal_propagators(spec, alg, b, tau, times, digits=50):
    """(U, U~, V, V~) at ``times`` by repeated squaring of the vec-matrix of (16) in decimal."""
    getcontext().prec = digits
    D = lambda x: Decimal(float(x))  # noqa: E731  (exact conversion of the float64 inputs)
    lam, c2, m = (np.asarray(x, np.float64) for x in (spec.eigenvalues, spec.c2, spec.weights))
    S0, v, w = _params(alg)
    K = v.size
    t1b, t2b = D(tau[0]) / D(b), D(tau[1]) / D(b)

    def mul(A, B):
        n = len(A)
        return [[sum(A[i][k] * B[k][j] for k in range(n)) for j in range(n)] for i in range(n)]

    def power(A, p):
        n = len(A)
        R = [[Decimal(int(i == j)) for j in range(n)] for i in range(n)]
        while p:
            if p & 1:
                R = mul(R, A)
            A = mul(A, A)
            p >>= 1
        return R

    vd, wd = [D(x) for x in v], [D(x) for x in w]
    idx = [(i, j) for i in range(K) for j in range(K)]
    e11 = [Decimal(int(p == (0, 0))) for p in idx]
    vv = [vd[i] * vd[j] for i, j in idx]
    ww = [wd[i] * wd[j] for i, j in idx]
    out = np.zeros((len(times), 4))
    for lk, ck, mk in zip(lam, c2, m):
        L = D(lk)
        S = [[D(S0[i, j]) + L * vd[i] * wd[j] for j in range(K)] for i in range(K)]
        # vec(S Z S^T)_(i,j) = sum_(k,l) S_ik S_jl Z_kl ;  minus t2b L^2 (w^T Z w) vv
        A = [[S[i][k] * S[j][l] - t2b * L * L * vv[r] * ww[c] for c, (k, l) in enumerate(idx)]
             for r, (i, j) in enumerate(idx)]
        wn, ws = t1b * D(mk) * L * L, L * D(ck)
        for q, n in enumerate(times):
            R = power(A, int(n) - 1)
            zs = [sum(R[r][c] * e11[c] for c in range(len(idx))) for r in range(len(idx))]
            zn = [sum(R[r][c] * vv[c] for c in range(len(idx))) for r in range(len(idx))]
            dot = lambda x, y: sum(a * b for a, b in zip(x, y))  # noqa: E731
            out[q] += [float(wn * dot(e11, zn)), float(wn * dot(ww, zn)),
                       float(ws * dot(e11, zs)), float(ws * dot(ww, zs))]
    return out


def _numpy_volterra(props):
    """Forward substitution of the renewal equations in NumPy (row by row)."""
    U, Ut, Vv, Vt = (np.asarray(x, np.float64) for x in props[1:])
    T1 = U.shape[0]
    Lt, L = np.zeros(T1), np.zeros(T1)
    for t in range(T1):
        lags = t - np.arange(t)  # t - s for s < t
        Lt[t] = 0.5 * Vt[t] + Ut[lags - 1] @ Lt[:t]
        L[t] = 0.5 * Vv[t] + U[lags - 1] @ Lt[:t]
    return L, Lt


def _random_alg(M, seed, shift=True, scale=0.25):
    rng = np.random.default_rng(seed)
    D = rng.normal(size=(M, M)) * 0.3
    D = D * (0.6 / max(np.abs(np.linalg.eigvals(D)).max(), 1e-3))  # spectral radius 0.6
    a = rng.normal(size=M) * scale if shift else np.zeros(M)
    return ja.MemoryAlgorithm(0.4, a, rng.normal(size=M) * scale, rng.normal(size=M) * scale, D)


def _small_spectrum(n=12):
    rng = np.random.default_rng(7)
    lam = np.sort(rng.uniform(0.02, 1.0, n))[::-1]
    return ja.Spectrum(lam, rng.uniform(0.1, 2.0, n), weights=rng.integers(1, 4, n).astype(float))


T_SIM = 150  # one problem (SPEC, below) and horizon for the comparisons: compilations are shared


def _simulate(alg, batch_size, tau, steps=T_SIM, **kw):
    """Algorithm A reference. The dense path without unrolling compiles fastest; its equality
    with the default path is tested in ``tests/test_moments.py``."""
    return ja.simulate(SPEC, alg, steps, batch_size=batch_size, tau=tau, dense=True, unroll=1, **kw)


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.abs(b)))


# ----------------------------------------------------------------------------- Algorithm B
@pytest.mark.parametrize("M, tau2", [(0, -1.0), (1, 1.0), (2, 0.0), (3, -1.0)])
def test_packets_equal_literal_numpy_loop(M, tau2):
    spec = _small_spectrum()
    alg = ja.gd(0.9) if M == 0 else _random_alg(M, seed=M)
    got = ja.propagator_sequences(spec, alg, 39, batch_size=3.0, tau=(0.8, tau2), method="packets")
    ref = _numpy_propagators(spec, alg, 3.0, (0.8, tau2), 40)
    np.testing.assert_array_equal(np.asarray(got.times), np.arange(1, 41))
    for q in range(4):
        np.testing.assert_allclose(np.asarray(got[q + 1]), ref[:, q], rtol=TOL, atol=0)


def test_transition_operator_matrix_equals_literal_map():
    """The K^2 x K^2 matrix of (16) applied to vec(Z) equals S Z S^T - tau2/b lam^2 (w^T Z w) vv^T."""
    alg = _random_alg(2, seed=5)
    S0, v, w = _params(alg)
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(3, 3))
    Z = Z + Z.T
    for lam, t2b in ((0.3, 0.2), (0.9, -0.5), (0.05, 0.0)):
        S = S0 + lam * np.outer(v, w)
        ref = S @ Z @ S.T - t2b * lam**2 * (w @ Z @ w) * np.outer(v, v)
        A = np.asarray(ja.transition_operator(alg, lam, t2b))
        np.testing.assert_allclose(A @ Z.reshape(-1), ref.reshape(-1), rtol=1e-13, atol=1e-14)


def test_full_batch_and_shift_free_identities():
    spec = _small_spectrum()
    hb = ja.propagator_sequences(spec, ja.heavy_ball(0.5, 0.6), 39, batch_size=4.0)
    np.testing.assert_array_equal(np.asarray(hb.U), np.asarray(hb.U_tilde))  # a = 0
    np.testing.assert_array_equal(np.asarray(hb.V), np.asarray(hb.V_tilde))
    full = ja.propagator_sequences(spec, _random_alg(2, 3), 39, batch_size=None)
    assert not np.any(np.asarray(full.U)) and not np.any(np.asarray(full.U_tilde))
    # U_1 = tau1/b alpha^2 sum m lam^2 and V_1 = sum lam c2 = 2 L_0 (spec §5.1)
    lam, m = np.asarray(spec.eigenvalues), np.asarray(spec.weights)
    np.testing.assert_allclose(float(hb.U[0]), 0.25 * (m * lam**2).sum() / 4.0, rtol=TOL)
    np.testing.assert_allclose(float(hb.V[0]), 2 * float(spec.initial_loss), rtol=TOL)


# ----------------------------------------------------------------------- arbitrary times
def _defective_hb_spectrum(alpha, beta, n=400):
    """Power-law spectrum plus nodes at (and next to) the coalescence point of HB's S_lambda,
    (1 + beta - alpha lam)^2 = 4 beta, where S_lambda is defective."""
    lam_c = (1.0 - np.sqrt(beta)) ** 2 / alpha
    base = ja.power_law_spectrum(n, nu=1.5, zeta=0.5)
    lam = np.concatenate([np.asarray(base.eigenvalues), lam_c * (1 + np.array([0.0, 1e-9, -1e-12]))])
    c2 = np.concatenate([np.asarray(base.c2), [1.0, 0.5, 0.25]])
    return ja.Spectrum(lam, c2, weights=np.concatenate([np.ones(n), [2.0, 1.0, 3.0]])), lam_c


# the problem of the comparisons with simulate and of the eigen route: a power law (N = 60) plus
# the defective point of HB(0.3, 0.64) and two nodes next to it
SPEC, _ = _defective_hb_spectrum(0.3, 0.64, n=60)


@pytest.mark.parametrize("alg_name, tau", [("hb", (1.0, 0.0)), ("hb", (1.0, -1.0)),
                                           pytest.param("m3", (0.7, 0.5), marks=pytest.mark.slow)])
def test_propagators_at_equal_stepping(alg_name, tau):
    if alg_name == "hb":
        alg = ja.heavy_ball(0.5, 0.81)
        spec, _ = _defective_hb_spectrum(0.5, 0.81)
    else:
        alg = _random_alg(int(alg_name[1]), seed=11)
        spec = ja.power_law_spectrum(300, nu=1.5, zeta=0.5)
    steps = 1000
    stepped = ja.propagator_sequences(spec, alg, steps - 1, batch_size=5.0, tau=tau, method="packets")
    times = np.unique(np.round(np.logspace(0, np.log10(steps), 60)).astype(np.int64))
    at = ja.propagators_at(spec, alg, times, batch_size=5.0, tau=tau)
    np.testing.assert_array_equal(np.asarray(at.times), times)
    for q in range(4):
        ref = np.asarray(stepped[q + 1])[times - 1]
        err = np.abs(np.asarray(at[q + 1]) - ref) / np.abs(ref)
        assert err.max() < TOL_AT, (q, err.max())


def test_propagators_at_far_times_against_decimal_powering():
    """Times up to 1e9 (stepping is out of reach): 50-digit repeated squaring per node,
    including the defective node of HB and a node 1e-9 away from it."""
    alpha, beta = 0.5, 0.81
    lam_c = (1.0 - np.sqrt(beta)) ** 2 / alpha
    lam = np.array([0.9, lam_c, lam_c * (1 + 1e-9), 3e-4, 2e-7, 1e-9])  # slow nodes keep n=1e9 alive
    spec = ja.Spectrum(lam, [1.0, 1.0, 2.0, 5.0, 50.0, 1000.0], weights=[1.0, 2.0, 1.0, 3.0, 1.0, 7.0])
    times = [1, 2, 1000, 10**6, 10**9]
    for alg, tau in ((ja.heavy_ball(alpha, beta), (1.0, -1.0)), (_random_alg(1, 5), (1.0, 0.5))):
        got = ja.propagators_at(spec, alg, times, batch_size=2.0, tau=tau)
        ref = _decimal_propagators(spec, alg, 2.0, tau, times)
        # float64 eigenvalues carry an absolute error ~eps, i.e. a relative error ~eps/y in the
        # slow rate y ~ 2 alpha_eff lambda, hence ~n*eps in mu^n: 1e-10 up to n = 1e6, then n*1e-15
        rtol = np.maximum(TOL_AT, 1e-15 * np.asarray(times, np.float64))
        for q in range(4):
            err = np.abs(np.asarray(got[q + 1]) / ref[:, q] - 1)
            assert np.all(err < rtol), (q, err)


@pytest.mark.parametrize("M", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_eigen_route_for_all_times_equals_packets(M):
    """Clustered exponential sums vs stepping over two time blocks of the evaluator: HB with
    defective nodes and complex modes (M = 1), a shifted M = 2 algorithm with tau2 = 0."""
    alg, tau = (ja.heavy_ball(0.3, 0.64), (1.0, -1.0)) if M == 1 else (_random_alg(2, 8), (1.0, 0.0))
    a = ja.propagator_sequences(SPEC, alg, 2100, batch_size=8.0, tau=tau, method="eigen")
    b = ja.propagator_sequences(SPEC, alg, 2100, batch_size=8.0, tau=tau, method="packets")
    for q in range(4):
        assert _rel(a[q + 1], b[q + 1]) < TOL_AT, q


# ----------------------------------------------------------------------- renewal equations
@pytest.mark.parametrize("M", [1, 2, 3])
def test_renewal_equals_simulate(M):
    """M = 1, 2, 3 with a != 0 and tau2 in {-1, 0, 1}: L_t and L~_t to 1e-12 (issue 3)."""
    alg = _random_alg(M, seed=20 + M)
    assert np.all(np.asarray(alg.a) != 0)
    for tau2 in (-1.0, 0.0, 1.0):
        sim = _simulate(alg, 3.0, (1.0, tau2))
        assert not bool(sim.diverged)
        props = ja.propagator_sequences(SPEC, alg, T_SIM, batch_size=3.0, tau=(1.0, tau2))
        L_np, Lt_np = _numpy_volterra(props)
        assert _rel(L_np, sim.loss) < TOL and _rel(Lt_np, sim.loss_at_gradient_point) < TOL
        for method in ("direct", "fft"):
            r = ja.renewal(props, method=method)
            assert _rel(r.loss, sim.loss) < TOL, (tau2, method)
            assert _rel(r.loss_at_gradient_point, sim.loss_at_gradient_point) < TOL, (tau2, method)


def test_renewal_divergent_run_matches_simulate_while_finite():
    alg = _random_alg(2, seed=4)
    sim = _simulate(alg, 0.05, (1.0, -1.0), divergence_threshold=1e300)
    props = ja.propagator_sequences(SPEC, alg, T_SIM, batch_size=0.05, tau=(1.0, -1.0))
    loss = np.asarray(sim.loss)
    fin = np.isfinite(loss)
    assert fin.sum() > 50 and loss[fin][-1] > 1e6 * loss[0]  # really divergent
    for method in ("direct", "fft"):
        r = ja.renewal(props, method=method)
        assert _rel(r.loss[fin], loss[fin]) < TOL, method


def _power_law_kernels(T, u_sum, xi_u, xi_v, shift=1.0):
    """Synthetic stationary propagators for ``n = 1..T+1``: ``U_n`` a power law with
    ``sum U = u_sum``; ``U~ = shift U``, ``V~ = V = n^-xi_v``."""
    n = np.arange(1, T + 2, dtype=np.float64)
    u = n**-xi_u
    u *= u_sum / (u.sum() + n[-1] ** (1 - xi_u) / (xi_u - 1))  # tail of the sum by its integral
    v = n**-xi_v
    return ja.Propagators(np.arange(1, T + 2), u, shift * u, v, v)


@pytest.mark.parametrize("xi_v, shift, u_sum", [(0.5, 1.0, 0.6), (2.0, 1.4, 0.6), (0.5, 1.0, 1.2)])
def test_fast_renewal_equals_direct_over_long_horizon(xi_v, shift, u_sum):
    """T = 10000 (dyadic FFT levels 256..8192): signal- (L ~ t^-0.5) and noise-dominated
    (L ~ t^-1.5, U~ != U) power-law kernels, where the loss falls by 2-6 decades, and a
    diverging one (U_Sigma = 1.2), compared up to the divergence threshold 1e10 L_0."""
    props = _power_law_kernels(10_000, u_sum, 1.5, xi_v, shift)
    d = ja.renewal(props, method="direct")
    f = ja.renewal(props, method="fft")
    if u_sum < 1:
        assert float(d.loss[-1]) < 0.03 * float(d.loss[0])
        keep = slice(None)
    else:
        keep = d.loss < 1e10 * d.loss[0]
        assert 1000 < keep.sum() < 10_001  # crosses the threshold after several FFT levels
    assert _rel(f.loss[keep], d.loss[keep]) < TOL_AT
    assert _rel(f.loss_at_gradient_point[keep], d.loss_at_gradient_point[keep]) < TOL_AT
    # and both satisfy the renewal equations (NumPy forward substitution on a prefix)
    short = ja.Propagators(*(np.asarray(x)[:400] for x in props))
    L_np, Lt_np = _numpy_volterra(short)
    assert _rel(d.loss[:400], L_np) < TOL and _rel(d.loss_at_gradient_point[:400], Lt_np) < TOL


def _expansion(props, t):
    """L_t of (19) by enumerating all 2^t index sets 0 < t_1 < ... < t_m < t + 1."""
    U, Ut, Vv, Vt = (np.asarray(x, np.float64) for x in props[1:])
    total = Vv[t]  # V_{t+1}
    for mcount in range(1, t + 1):
        for idx in itertools.combinations(range(1, t + 1), mcount):
            term = U[t - idx[-1]] * Vt[idx[0] - 1]  # U_{t+1-t_m} V~_{t_1}
            for a, b in zip(idx[:-1], idx[1:]):
                term *= Ut[b - a - 1]
            total += term
    return 0.5 * total


@pytest.mark.parametrize("M, tau2", [(1, -1.0), (2, 1.0)])
def test_expansion_19_equals_renewal(M, tau2):
    spec = _small_spectrum()
    alg = _random_alg(M, seed=40 + M)
    props = ja.propagator_sequences(spec, alg, 39, batch_size=0.7, tau=(1.0, tau2))
    r = ja.renewal(props, method="direct")
    for t in (0, 3, 6, 10):
        np.testing.assert_allclose(_expansion(props, t), float(r.loss[t]), rtol=1e-13)


def test_loss_curve_equals_simulate_on_recorded_steps():
    alg = _random_alg(1, seed=21)
    rec = ja.log_steps(T_SIM, 20)
    sim = _simulate(alg, 3.0, (1.0, -1.0))
    for pm, rm in (("eigen", "fft"),):  # packets + direct: test_unstable_algorithm_is_flagged
        r = ja.loss_curve(SPEC, alg, T_SIM, batch_size=3.0, record=rec, propagator_method=pm,
                         renewal_method=rm)
        np.testing.assert_array_equal(np.asarray(r.steps), rec)
        assert not bool(r.diverged)
        assert _rel(r.loss, np.asarray(sim.loss)[rec]) < TOL_AT, pm
        assert _rel(r.loss_at_gradient_point, np.asarray(sim.loss_at_gradient_point)[rec]) < TOL_AT


# ----------------------------------------------------------------------- non-stationary
@pytest.mark.parametrize("M, tau2", [pytest.param(1, -1.0, marks=pytest.mark.slow), (2, 1.0)])
def test_nonstationary_renewal_equals_simulate(M, tau2):
    T = 40
    rng = np.random.default_rng(M)
    spec = _small_spectrum(10)
    base = _random_alg(M, seed=50 + M)
    t = np.arange(T)[:, None]
    mod = 1.0 + 0.2 * np.sin(0.3 * t)
    alg = ja.MemoryAlgorithm(np.asarray(base.alpha) * mod[:, 0], np.asarray(base.a) * mod,
                             np.asarray(base.b) + 0.05 * rng.normal(size=(T, M)),
                             np.asarray(base.c) * mod, np.asarray(base.D) * mod[:, :, None])
    bs = 2.0 + np.arange(T) % 3
    sim = ja.simulate(spec, alg, T, batch_size=bs, tau=(0.9, tau2), unroll=1)
    r = ja.renewal_nonstationary(spec, alg, T, batch_size=bs, tau=(0.9, tau2))
    assert _rel(r.loss, sim.loss) < TOL
    assert _rel(r.loss_at_gradient_point, sim.loss_at_gradient_point) < TOL


def test_nonstationary_renewal_reduces_to_stationary():
    spec = _small_spectrum(10)
    alg = _random_alg(2, seed=60)
    ns = ja.renewal_nonstationary(spec, alg, 40, batch_size=2.0, tau=(1.0, 0.5))
    st = ja.renewal(ja.propagator_sequences(spec, alg, 40, batch_size=2.0, tau=(1.0, 0.5)), method="direct")
    assert _rel(ns.loss, st.loss) < TOL and _rel(ns.loss_at_gradient_point, st.loss_at_gradient_point) < TOL


# ----------------------------------------------------------------------- bad input
def test_bad_input_is_rejected():
    spec = ja.power_law_spectrum(20, nu=1.5, zeta=0.5)
    sched = ja.heavy_ball(np.full(5, 0.1), 0.5)
    for f in (lambda: ja.propagator_sequences(spec, sched, 5, 2.0),
              lambda: ja.propagators_at(spec, sched, [1, 2], 2.0),
              lambda: ja.loss_curve(spec, sched, 5, 2.0),
              lambda: ja.transition_operator(sched, 0.5)):
        with pytest.raises(ValueError, match="stationary"):
            f()
    hb = ja.heavy_ball(0.1, 0.5)
    for times in ([0, 3], [1.5, 2.0], [[1, 2]], []):
        with pytest.raises(ValueError, match="times"):
            ja.propagators_at(spec, hb, times, 2.0)
    with pytest.raises(ValueError, match="spectrum"):
        ja.propagator_sequences([1.0, 0.5], hb, 5, 2.0)
    with pytest.raises(ValueError, match="algorithm"):
        ja.propagator_sequences(spec, "hb", 5, 2.0)
    with pytest.raises(ValueError, match="steps"):
        ja.propagator_sequences(spec, hb, -1, 2.0)
    with pytest.raises(ValueError, match="batch_size"):
        ja.propagator_sequences(spec, hb, 5, -1.0)
    with pytest.raises(ValueError, match="tau"):
        ja.propagator_sequences(spec, hb, 5, 2.0, tau=(1.0,))
    with pytest.raises(ValueError, match="method"):
        ja.propagator_sequences(spec, hb, 5, 2.0, method="magic")
    with pytest.raises(ValueError, match="chunk"):
        ja.propagator_sequences(spec, hb, 5, 2.0, chunk=0)
    gap = _power_law_kernels(5, 0.5, 1.5, 1.0)._replace(times=np.array([1, 2, 4, 5, 6, 7]))
    with pytest.raises(ValueError, match="times"):
        ja.renewal(gap)
    with pytest.raises(ValueError, match="method"):
        ja.renewal(_power_law_kernels(5, 0.5, 1.5, 1.0), method="magic")
    with pytest.raises(ValueError, match="props"):
        ja.renewal((1.0, 2.0))
    with pytest.raises(ValueError, match="steps"):
        ja.renewal_nonstationary(spec, sched, 6, 2.0)  # schedule shorter than the horizon


def test_unstable_algorithm_is_flagged():
    """A_lambda unstable on some node: sums are +inf with the flag; the loss curve reports the
    divergence and its step, at the same step as simulate."""
    alg = _random_alg(2, seed=70, scale=3.0)  # large b, c: spectral radius of A >= 1 somewhere
    sums = ja.propagator_sums(SPEC, alg, 5.0)
    assert not bool(sums.stable) and np.all(np.isinf(np.asarray(sums[:4])))
    with pytest.warns(RuntimeWarning):
        r = ja.loss_curve(SPEC, alg, T_SIM, batch_size=5.0, tau=(1.0, -1.0))
    with pytest.warns(RuntimeWarning):
        sim = _simulate(alg, 5.0, (1.0, -1.0))
    assert bool(r.diverged) and np.isinf(np.asarray(r.loss)[-1])
    assert 0 < int(r.diverged_at) == int(sim.diverged_at)
