"""Accelerated schedules (spec §7, §8): Jacobi Heavy Ball, AM1, their noise monitors.

References used (never the function against itself):

* Jacobi HB: ``scipy.special.eval_jacobi`` normalised polynomials (the residual polynomial of
  the recurrence), and the noiseless loss ``1/2 sum lambda c^2 r_t(lambda)^2`` built from them;
  the asymptotics ``alpha_n -> 4/L``, ``1 - beta_n ~ (2a+1)/n`` of §8.1.
* AM1: the PyTorch-form iteration (250) written out in numpy on a rotated quadratic; the
  triplet (delta, q0, q1) read off the characteristic polynomials; ``alpha0 (t+t0)^theta``.
* Noise sums: the Heavy-Ball closed form of §5.3 and the memory-1 closed form (25) written out
  in numpy in this file, and a numpy linear solve of ``(I - A_lambda)^{-1}`` (§5.3) for tau2 != 0.
* Divergence onset and rates: ``simulate`` (the SE moment dynamics), i.e. the loss minimum
  of a noisy run against the first step where the momentary U_Sigma reaches 1.
"""

import warnings

import numpy as np
import jax
import jax.numpy as jnp
import pytest
from scipy.special import erf, eval_jacobi, gamma

import jaxaccel as ja
from conftest import tol

# Parameters of the spec's AM1 check (§7.2) and the acceptance.
AM1_KW = dict(delta0=0.5, kappa=0.9, alpha0=1.0, eta_kick=0.5, t0=1.0)


# --------------------------------------------------------------------------- references
def _normalised_jacobi(n, a, b, lam, L):
    x = 1.0 - 2.0 * lam / L
    return eval_jacobi(n, a, b, x) / eval_jacobi(n, a, b, 1.0)


def _hb_params(alg):
    """(alpha_t, beta_t) of a Heavy-Ball schedule (b = D = beta, c = -alpha, a = 0)."""
    alpha = np.asarray(alg.alpha)
    beta = np.asarray(alg.D)[:, 0, 0]
    np.testing.assert_array_equal(np.asarray(alg.b)[:, 0], beta)
    np.testing.assert_array_equal(np.asarray(alg.c)[:, 0], -alpha)
    np.testing.assert_array_equal(np.asarray(alg.a), 0.0)
    return alpha, beta


def _hb_noise_sum_np(lam, m, alpha, beta, bs, tau):
    """Spec §5.3 Heavy-Ball closed form of U_Sigma, per step (rows), +inf where unstable."""
    lam, alpha, beta = lam[None, :], np.asarray(alpha)[:, None], np.asarray(beta)[:, None]
    tau1, tau2 = tau
    den = 2 * (1 - beta**2) - alpha * lam * (1 - beta) + tau2 / bs * alpha * lam * (1 + beta)
    stable = (np.abs(beta) < 1) & (alpha * lam < 2 * (1 + beta)) & (alpha > 0) & (den > 0)
    U = tau1 / bs * np.sum(m * alpha * (1 + beta) * lam / den, axis=1)
    return np.where(stable.all(axis=1), U, np.inf)


def _memory1_noise_sum_np(lam, delta, aeff, q0, bs, tau1=1.0):
    """Spec §6.4 eq. (25) (tau2 = 0), per step (rows)."""
    lam = lam[None, :]
    delta, aeff, q0 = (np.asarray(x)[:, None] for x in (delta, aeff, q0))
    q0mq1 = 2 * q0 + delta * aeff
    num = (2 - delta) * delta * aeff + lam * q0 * q0mq1
    den = (delta + lam * q0) * (2 * (2 - delta) - lam * q0mq1)
    return tau1 / bs * np.sum(lam * num / den, axis=1)


def _resolvent_noise_sum_np(lam, alpha, a, b, c, D, bs, tau):
    """U_Sigma, U~_Sigma of §5.3 by a numpy linear solve on vec(Z) (memory 1, any tau)."""
    S0 = np.array([[1.0, b], [0.0, D]])
    v = np.array([-alpha, c])
    w = np.array([1.0, a])
    U = Ut = 0.0
    for lk in lam:
        Sk = S0 + lk * np.outer(v, w)
        A = np.kron(Sk, Sk) - tau[1] / bs * lk**2 * np.outer(np.outer(v, v).ravel(), np.outer(w, w).ravel())
        if np.max(np.abs(np.linalg.eigvals(A))) >= 1:
            return np.inf, np.inf
        Z = np.linalg.solve(np.eye(4) - A, np.outer(v, v).ravel()).reshape(2, 2)
        U += tau[0] / bs * lk**2 * Z[0, 0]
        Ut += tau[0] / bs * lk**2 * (w @ Z @ w)
    return U, Ut


def _quiet_simulate(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return ja.simulate(*args, **kwargs)


# --------------------------------------------------------------------------- Jacobi HB
JACOBI_AB = [(0.5, 0.0), (1.3, -0.5), (2.0, 1.0), (-0.5, -0.5), (0.3, -0.3), (0.0, 0.0)]


@pytest.mark.parametrize("a, b", JACOBI_AB)
@pytest.mark.parametrize("L", [1.0, 2.5])
def test_jacobi_recurrence_is_normalised_jacobi_polynomial(a, b, L):
    """HB with the schedule: r_{t+1} = (1 - alpha_t lam + beta_t) r_t - beta_t r_{t-1}."""
    T = 120
    alpha, beta = _hb_params(ja.jacobi_heavy_ball(a, b, L, T))
    lam = np.linspace(0.0, L, 57)
    r_prev, r = np.ones_like(lam), np.ones_like(lam)  # w_{-1} = w_0
    worst = 0.0
    for t in range(T):
        r_prev, r = r, (1 - alpha[t] * lam + beta[t]) * r - beta[t] * r_prev
        ref = _normalised_jacobi(t + 1, a, b, lam, L)
        worst = max(worst, np.max(np.abs(r - ref) / np.maximum(1.0, np.abs(ref))))
    assert worst < tol(np.float64)  # 1e-12


@pytest.mark.parametrize("a, b", [(0.5, 0.0), (1.3, -0.5)])
def test_full_batch_jacobi_loss_is_the_jacobi_kernel_loss(a, b):
    """simulate(jacobi_heavy_ball) = 1/2 sum lambda c^2 (P_t(1 - 2 lambda/L) / P_t(1))^2."""
    rng = np.random.default_rng(3)
    lam = np.sort(rng.uniform(0.01, 1.0, 40))[::-1]
    c2 = rng.uniform(0.1, 1.0, 40)
    L, T = 1.2, 150
    res = ja.simulate(ja.Spectrum(lam, c2), ja.jacobi_heavy_ball(a, b, L, T), T)
    t = np.arange(T + 1)
    r = np.stack([_normalised_jacobi(n, a, b, lam, L) for n in t])
    ref = 0.5 * np.sum(lam * c2 * r**2, axis=1)
    np.testing.assert_allclose(res.loss, ref, rtol=1e-11, atol=0)


@pytest.mark.parametrize("a, b", [(0.5, 0.0), (2.0, 1.0)])
def test_jacobi_asymptotics(a, b):
    """Spec §8.1: alpha_n -> 4/L, 1 - beta_n ~ (2a+1)/n, alpha_eff ~ 4n/((2a+1)L), errors O(1/n)."""
    L = 3.0
    sch = ja.jacobi_schedule(a, b, L)
    n = np.array([1e4, 1e6])
    alpha, beta = np.asarray(sch.alpha(n)), np.asarray(sch.beta(n))
    aeff = np.asarray(ja.effective_learning_rate(ja.heavy_ball(alpha, beta)))
    for got, pred in ((alpha, 4 / L), ((1 - beta) * n, 2 * a + 1), (aeff, 4 * n / ((2 * a + 1) * L))):
        err = np.abs(got / pred - 1)
        assert np.all(err < 10 / n)  # O(1/n)
        assert err[1] < err[0] / 50  # and shrinking like 1/n


def test_jacobi_callables_are_optax_style_and_jit_vmap_friendly():
    """Callables of a traced count agree with the schedule arrays; vmap over L."""
    T = 50
    alg = ja.jacobi_heavy_ball(0.5, 0.0, 2.0, T)
    sch = ja.jacobi_schedule(0.5, 0.0, 2.0)
    counts = jnp.arange(T)
    a_jit = jax.jit(lambda c: sch.alpha(c))(counts)
    b_each = jnp.stack([jax.jit(sch.beta)(jnp.int32(k)) for k in (0, 7, 49)])
    np.testing.assert_array_equal(a_jit, alg.alpha)
    np.testing.assert_array_equal(b_each, np.asarray(alg.D)[[0, 7, 49], 0, 0])
    # L traced under vmap: alpha scales exactly like 1/L, beta does not depend on L
    Ls = jnp.array([1.0, 2.0, 4.0])
    al = jax.vmap(lambda L: ja.jacobi_heavy_ball(0.5, 0.0, L, T).alpha)(Ls)
    np.testing.assert_allclose(al * Ls[:, None], np.broadcast_to(al[0] * 1.0, al.shape), rtol=1e-15)
    # alpha_0 = (a+b+2)/(L(a+1)), beta_0 = 0 at the removable singularity a + b = -1, 0
    assert float(ja.jacobi_schedule(-0.4, -0.6, 2.0).alpha(0)) == pytest.approx(1.0 / (2.0 * 0.6), rel=1e-15)
    assert float(ja.jacobi_schedule(0.0, 0.0, 1.0).beta(0)) == 0.0
    assert np.isfinite(np.asarray(ja.jacobi_schedule(0.0, 0.0, 1.0).beta(jnp.arange(5)))).all()


def test_full_batch_jacobi_rate_is_t_to_minus_two_zeta():
    """nu = 2, zeta = 0.5, a = zeta, b = 0, L = 2 lambda_max: slope -2 zeta +/- 0.05 (§8.2).

    The power law is represented up to ``N = 1e7`` eigenvalues by quadrature nodes (far beyond
    the ``k ~ t`` modes that a ``t``-step polynomial resolves), so truncation does not bend
    the curve.
    """
    zeta = 0.5
    s = ja.power_law_continuum(2.0, zeta, n_max=1e7, n_head=300, panels_per_decade=12)
    T = 3000
    res = ja.simulate(s, ja.jacobi_heavy_ball(zeta, 0.0, 2.0 * float(s.lambda_max), T), T,
                      record=("log", 120))
    fit = ja.fit_power_law(res.steps, res.loss, (300, T))
    assert abs(fit.exponent - (-2 * zeta)) < 0.05, fit


@pytest.mark.slow
def test_full_batch_jacobi_rate_long():
    zeta = 0.5
    s = ja.power_law_spectrum(400_000, nu=2.0, zeta=zeta)
    T = 10_000
    for L in (float(s.lambda_max) * 1.01, 2.0 * float(s.lambda_max)):
        res = ja.simulate(s, ja.jacobi_heavy_ball(zeta, 0.0, L, T), T, record=("log", 150))
        fit = ja.fit_power_law(res.steps, res.loss, (1000, T))
        assert abs(fit.exponent - (-2 * zeta)) < 0.05, (L, fit)


# ----------------------------------------------------------------------- Jacobi with noise
ONSET_SPEC = dict(n=1000, nu=2.0, zeta=0.5)
JACOBI_NOISE = dict(a=0.5, b=0.0, L=2.0)
ONSET_BATCHES = (10, 100, 1000)


def _closed_form_U(spec, alg, bs, tau, steps):
    alpha, beta = _hb_params(alg)
    return _hb_noise_sum_np(np.asarray(spec.eigenvalues), np.asarray(spec.weights),
                            alpha[steps], beta[steps], bs, tau)


def test_noisy_jacobi_diverges_at_the_running_noise_sum_onset():
    """Acceptance (§8.3): for b = 10, 100, 1000 the loss minimum of simulate lies within 20% of
    the first step where the momentary U_Sigma^HB(t) of running_noise_sum reaches 1, the onset
    grows like b, and the runs are flagged as diverged after it (one vmapped simulate).

    running_noise_sum itself is checked against the Heavy-Ball closed form of §5.3 written out
    in numpy (rtol 1e-10) on every step up to 600 (its general linear-solve path is checked
    against a numpy resolvent in test_running_noise_sum_am1_closed_form_and_general_tau).
    """
    s = ja.power_law_spectrum(**ONSET_SPEC)
    tau = (1.0, -1.0)
    T = 10_000  # the b = 1000 run reaches 1e10 L_0 at t ~ 8e3
    alg = ja.jacobi_heavy_ball(**JACOBI_NOISE, steps=T)
    sub = np.arange(600)  # covers the b = 1000 onset (~455)
    onsets = []
    for batch in ONSET_BATCHES:
        U_ref = _closed_form_U(s, alg, batch, tau, sub)
        run = ja.running_noise_sum(s, alg, batch, tau, steps=sub)
        np.testing.assert_array_equal(run.steps, sub)
        np.testing.assert_allclose(run.U, U_ref, rtol=1e-10)
        np.testing.assert_allclose(run.U_tilde, U_ref, rtol=1e-10)
        t_pred = int(run.onset)
        assert 0 < t_pred and U_ref[t_pred - 1] < 1 <= U_ref[t_pred]
        onsets.append(t_pred)
    # the onset grows proportionally to b (U_Sigma ~ alpha_eff(t) / b, alpha_eff ~ t)
    assert onsets[0] < onsets[1] < onsets[2]
    np.testing.assert_allclose(np.diff(np.log(onsets)), np.log(10.0), atol=0.15)
    res = jax.jit(jax.vmap(lambda b: ja.simulate(s, alg, T, batch_size=b, tau=tau)))(
        jnp.asarray(ONSET_BATCHES, float))
    for i, t_pred in enumerate(onsets):
        t_min = int(np.argmin(np.asarray(res.loss[i])))
        assert abs(t_min - t_pred) <= 0.2 * t_pred, (ONSET_BATCHES[i], t_min, t_pred)
        assert bool(res.diverged[i]) and t_pred < int(res.diverged_at[i]) < T
    # (full batch keeps decaying like t^{-2 zeta}: test_full_batch_jacobi_rate_is_t_to_minus_two_zeta)


# --------------------------------------------------------------------------- AM1
def test_am1_mapping_triplet_and_effective_learning_rate():
    """delta_t, alpha_eff,t and q0 = beta eta' read back from the matrix form (§7.1-7.2)."""
    T, theta = 300, 0.3
    alg = ja.am1(theta=theta, steps=T, **AM1_KW)
    t = np.arange(T, dtype=float)
    x = t + AM1_KW["t0"]
    delta = AM1_KW["delta0"] * x ** -AM1_KW["kappa"]
    aeff = AM1_KW["alpha0"] * x**theta
    np.testing.assert_allclose(ja.effective_learning_rate(alg), aeff, rtol=1e-13)
    P, Q = (np.asarray(p) for p in ja.characteristic_polynomials(alg))
    beta = 1 - delta
    eta = delta * (aeff - AM1_KW["eta_kick"])
    np.testing.assert_allclose(P, np.stack([beta, -(1 + beta), np.ones(T)], axis=1), rtol=1e-13)
    np.testing.assert_allclose(Q[:, 0], beta * AM1_KW["eta_kick"], rtol=1e-13)  # q0
    np.testing.assert_allclose(Q[:, 1], -(eta + AM1_KW["eta_kick"]), rtol=1e-13)  # q1
    # spec mapping: eta' = q0/(1-delta), eta = delta (alpha_eff - q0/(1-delta))
    np.testing.assert_allclose(Q[:, 0] / (1 - delta), AM1_KW["eta_kick"], rtol=1e-13)
    # the callables agree with the arrays
    sch = ja.am1_schedule(theta=theta, **AM1_KW)
    for f, ref in ((sch.delta, delta), (sch.alpha_eff, aeff), (sch.eta, eta), (sch.beta, beta),
                   (sch.q0, beta * AM1_KW["eta_kick"])):
        np.testing.assert_allclose(jax.jit(f)(jnp.arange(T)), ref, rtol=1e-13)
    np.testing.assert_array_equal(sch.eta_prime(jnp.arange(3)), [0.5, 0.5, 0.5])


def test_am1_matches_pytorch_form_iteration():
    """Full-batch simulate(am1) = numpy run of v <- beta v + g; w <- w - eta v - eta' g (250)."""
    rng = np.random.default_rng(5)
    d, T = 6, 200
    lam = np.sort(rng.uniform(0.05, 1.0, d))[::-1]
    O, _ = np.linalg.qr(rng.normal(size=(d, d)))
    H = O @ np.diag(lam) @ O.T
    w_star = rng.normal(size=d)
    sch = ja.am1_schedule(theta=0.4, **AM1_KW)
    eta, beta = np.asarray(sch.eta(np.arange(T))), np.asarray(sch.beta(np.arange(T)))
    e, v = -w_star, np.zeros(d)  # e = w - w*, iterated directly (no cancellation), w0 = 0
    ref = []
    for t in range(T + 1):
        ref.append(0.5 * e @ H @ e)
        if t == T:
            break
        g = H @ e
        v = beta[t] * v + g
        e = e - eta[t] * v - AM1_KW["eta_kick"] * g
    res = ja.simulate(ja.Spectrum.from_covariance(H, w_star), ja.am1(theta=0.4, steps=T, **AM1_KW), T)
    ref = np.asarray(ref)
    # roundoff of the trajectories: relative 1e-12 plus eps-level error of e_t against |e_0|
    bound = 1e-12 * ref + 1e-13 * np.sqrt(ref * ref[0])
    assert np.all(np.abs(np.asarray(res.loss) - ref) <= bound)


def test_am1_rates_reduced_vmapped_over_theta():
    """Reduced version of the acceptance run (T = 1e4, window [1e3, 1e4]), b = 10.

    Slope between -zeta(1+theta) and 0.06 steeper; no divergence. The power law is represented
    up to N = 1e7 by quadrature nodes; theta is traced: one compiled run vmapped over it.
    """
    zeta, T = 0.5, 10_000
    s = ja.power_law_continuum(2.0, zeta, n_max=1e7, n_head=300, panels_per_decade=12)
    thetas = jnp.array([0.0, 0.2, 0.4])

    def run(th):
        return ja.simulate(s, ja.am1(theta=th, steps=T, **AM1_KW), T, batch_size=10,
                           tau=(1.0, -1.0), record=("log", 80))

    res = jax.jit(jax.vmap(run))(thetas)
    for i, th in enumerate(np.asarray(thetas)):
        assert not bool(res.diverged[i])
        slope = ja.fit_power_law(res.steps[i], res.loss[i], (1000, T)).exponent
        pred = -zeta * (1 + th)
        assert pred - 0.06 <= slope <= pred, (th, slope, pred)


@pytest.mark.slow
def test_am1_rates_acceptance_long():
    """Acceptance: nu=2, zeta=0.5, b=10, N=3e5, T=1e5, theta in {0, 0.2, 0.4}: no divergence
    and the slope over [1e4, 1e5] lies in [(27) - 0.06, (27)].

    The 3e5 eigenvalues are represented by power_law_continuum (the first 1000 exactly, the
    tail by Gauss-Legendre nodes); its discretisation error, bounded by the run with half the
    panel density, is checked to be far below what could move the slope (< 1e-4 relative).
    """
    zeta, N, T = 0.5, 300_000, 100_000
    thetas = (0.0, 0.2, 0.4)

    def runs(panels):
        s = ja.power_law_continuum(2.0, zeta, n_max=N, panels_per_decade=panels)
        return jax.jit(jax.vmap(lambda th: ja.simulate(
            s, ja.am1(theta=th, steps=T, **AM1_KW), T, batch_size=10, tau=(1.0, -1.0),
            record=("log", 150))))(jnp.asarray(thetas))

    res, coarse = runs(24), runs(12)
    err = np.max(np.abs(np.asarray(res.loss) / np.asarray(coarse.loss) - 1))
    assert err < 1e-4, err
    for i, theta in enumerate(thetas):
        assert not bool(res.diverged[i])
        slope = ja.fit_power_law(res.steps[i], res.loss[i], (10_000, T)).exponent
        pred = -zeta * (1 + theta)
        assert pred - 0.06 <= slope <= pred, (theta, slope, pred)


def test_theta_above_range_is_flagged_and_diverges():
    """theta > kappa (1 - 1/nu) = 0.45: warning from the helper, divergence in simulate, and
    the loss turns up where the momentary U~_Sigma(t) of running_noise_sum reaches 1.

    One vmapped run over theta in (1, 0.8, 0.45), N = 300, T = 3000, b = 10: theta = 1 passes
    1e10 L_0 within ~1.4e3 steps; theta = 0.8 turns up at the onset (+/- 20%) but passes
    1e10 L_0 only after ~9e4 steps (the slow test); the edge theta = 0.45 stays stable with
    U~_Sigma(t) < 0.5.
    """
    for theta in (0.0, 0.2, 0.4, 0.45):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert ja.check_am1_exponents(theta, kappa=0.9, nu=2.0)
    for theta in (0.8, 0.46, 1.0, -0.1):
        with pytest.warns(ja.AM1ExponentWarning, match="outside the allowed range"):
            assert not ja.check_am1_exponents(theta, kappa=0.9, nu=2.0)
    assert ja.am1_theta_max(0.9, 2.0) == pytest.approx(0.45, rel=1e-15)
    s = ja.power_law_spectrum(300, nu=2.0, zeta=0.5)
    T = 3000
    run = jax.vmap(lambda th: ja.simulate(s, ja.am1(theta=th, steps=T, **AM1_KW), T, batch_size=10,
                                          tau=(1.0, -1.0), record=10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = run(jnp.array([1.0, 0.8, 0.45]))
    assert bool(res.diverged[0]) and 0 < int(res.diverged_at[0]) < T
    assert not bool(res.diverged[2])  # the edge of the range does not
    steps = np.arange(0, T, 10)
    mon = ja.running_noise_sum(s, ja.am1(theta=0.8, steps=T, **AM1_KW), 10, (1.0, -1.0), steps=steps)
    t_pred = int(mon.onset)
    loss = np.asarray(res.loss[1])
    t_min = int(np.asarray(res.steps[1])[np.argmin(loss)])
    assert 0 < t_pred < T and abs(t_min - t_pred) <= 0.2 * t_pred, (t_min, t_pred)
    k = int(np.argmin(loss))  # after it the loss grows monotonically (1.27x by T)
    assert np.all(np.diff(loss[k:]) > 0) and loss[-1] > 1.2 * loss[k]
    ok = ja.running_noise_sum(s, ja.am1(theta=0.45, steps=T, **AM1_KW), 10, (1.0, -1.0), steps=steps)
    assert int(ok.onset) == -1 and float(np.max(ok.U)) < 0.5


@pytest.mark.slow
def test_theta_08_diverges_long():
    """theta = 0.8: the loss turns up at the U_Sigma onset (~1.3e3) and passes 1e10 L_0 later."""
    s = ja.power_law_spectrum(300, nu=2.0, zeta=0.5)
    T = 150_000
    res = _quiet_simulate(s, ja.am1(theta=0.8, steps=T, **AM1_KW), T, batch_size=10,
                          tau=(1.0, -1.0), record=("log", 100))
    assert bool(res.diverged) and int(res.diverged_at) > 0
    ok = ja.simulate(s, ja.am1(theta=0.45, steps=T, **AM1_KW), T, batch_size=10,
                     tau=(1.0, -1.0), record=("log", 100))
    assert not bool(ok.diverged)


def test_running_noise_sum_am1_closed_form_and_general_tau():
    """Memory-1 fast path = eq. (25) (tau2 = 0); general path = numpy resolvent (tau2 = -1)."""
    s = ja.power_law_spectrum(300, nu=2.0, zeta=0.5)
    lam = np.asarray(s.eigenvalues)
    T = 3000
    steps = np.arange(0, T, 10)  # (the shapes of the other AM1 monitor tests: one compilation)
    pick = np.array([0, 1, 10, 100, 299])
    for theta in (0.2, 0.8):
        alg = ja.am1(theta=theta, steps=T, **AM1_KW)
        sch = ja.am1_schedule(theta=theta, **AM1_KW)
        delta, aeff, q0 = (np.asarray(f(steps)) for f in (sch.delta, sch.alpha_eff, sch.q0))
        run0 = ja.running_noise_sum(s, alg, 10, (1.0, 0.0), steps=steps)
        np.testing.assert_allclose(run0.U, _memory1_noise_sum_np(lam, delta, aeff, q0, 10.0),
                                   rtol=1e-10)
        run1 = ja.running_noise_sum(s, alg, 10, (1.0, -1.0), steps=steps)
        prm = [np.asarray(x) for x in alg.params]
        for i in pick:
            t = steps[i]
            U, Ut = _resolvent_noise_sum_np(lam, prm[0][t], prm[1][t, 0], prm[2][t, 0],
                                            prm[3][t, 0], prm[4][t, 0, 0], 10.0, (1.0, -1.0))
            np.testing.assert_allclose([run1.U[i], run1.U_tilde[i]], [U, Ut], rtol=1e-10)
        # tau2 = -1 adds positive noise: a larger sum than tau2 = 0
        assert np.all(np.asarray(run1.U) > np.asarray(run0.U))


# ----------------------------------------------------------------------- adiabatic (249)
def test_adiabatic_power_law_form_249_matches_the_sum():
    """Q Gamma(zeta+1) (2A)^-zeta equals sum lambda c^2 exp(-2 lambda A) (nu=2, zeta=1/2).

    For lambda_k = k^-2, lambda_k c_k^2 = k^-2 the summand is smooth with all derivatives zero
    at k = 0, so Euler-Maclaurin makes the infinite sum equal the integral (= the power-law
    form) up to exponentially small terms; the truncated tail k > N is added analytically,
    ``int_{N+1/2}^inf x^-2 exp(-2A/x^2) dx = sqrt(pi/(8A)) erf(sqrt(2A)/(N+1/2))``.
    """
    zeta, nu, N = 0.5, 2.0, 1_000_000
    s = ja.power_law_spectrum(N, nu=nu, zeta=zeta)
    A = np.array([1e3, 1e4, 1e6])
    # stationary GD with alpha = 1: cumulative learning rate A_t = t
    p = ja.adiabatic_loss(s, ja.gd(1.0), A.astype(np.int64))
    np.testing.assert_allclose(p.cumulative_lr, A, rtol=1e-15)
    Q = s.power_law.Q
    pl = Q * gamma(zeta + 1) * (2.0 * A) ** -zeta
    np.testing.assert_allclose(p.V_power_law, pl, rtol=1e-13)
    tail = np.sqrt(np.pi / (8 * A)) * erf(np.sqrt(2 * A) / (N + 0.5))
    np.testing.assert_allclose(np.asarray(p.V) + tail, pl, rtol=1e-12)
    # without the tail, truncation is the only (visible) error: 1/N relative to V
    assert np.all(np.abs(np.asarray(p.V) / pl - 1) > 0.5 * tail / pl)


def test_adiabatic_prediction_approaches_full_batch_gd():
    """Stationary GD: adiabatic V_t/2 vs the exact loss (simulate); the gap is O(1/t).

    ``(1 - x)^{2t} = e^{-2xt - t x^2 + ...}``, so with the spectral weight
    ``x^{zeta-1} dx`` the relative gap is ``t E[x^2] = zeta (zeta+1) / (4t)`` at leading order.
    """
    zeta = 0.5
    s = ja.power_law_spectrum(50_000, nu=1.5, zeta=zeta)
    t = np.array([100, 1000, 3000])
    res = ja.simulate(s, ja.gd(0.8), int(t[-1]), record=t)
    p = ja.adiabatic_loss(s, ja.gd(0.8), t)
    rel = np.asarray(p.loss) / np.asarray(res.loss) - 1
    np.testing.assert_allclose(rel * t, zeta * (zeta + 1) / 4, rtol=0.03)


def test_applied_learning_rate_heavy_ball_closed_form():
    """Stationary HB: A^app_t = alpha/(1-beta) (t - beta (1 - beta^t)/(1-beta)) exactly."""
    alpha, beta = 0.3, 0.8
    t = np.array([0, 1, 2, 7, 100, 2000])
    got = np.asarray(ja.applied_learning_rate(ja.heavy_ball(alpha, beta), t))
    ref = alpha / (1 - beta) * (t - beta * (1 - beta**t) / (1 - beta))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    # the same HB written as a (constant) schedule gives the same numbers
    sched = ja.heavy_ball(np.full(2000, alpha), np.full(2000, beta))
    np.testing.assert_allclose(ja.applied_learning_rate(sched, t), ref, rtol=1e-13, atol=1e-15)
    # plain GD (memory 0): A_t = alpha t
    np.testing.assert_allclose(ja.applied_learning_rate(ja.gd(0.7), t), 0.7 * t, rtol=1e-15)


def test_applied_learning_rate_is_the_small_lambda_response_of_am1():
    """AM1: 1 - e_t/e_0 of the PyTorch-form iteration (250) on one tiny eigenvalue, divided by
    lambda and Richardson-extrapolated to lambda -> 0, equals A^app_t (rtol 1e-7); A^app_t lags
    the adiabatic A_t = sum_{s<t} alpha_eff,s (the buffer still holds recent gradients)."""
    T = 400
    sch = ja.am1_schedule(theta=0.4, **AM1_KW)
    eta, beta = np.asarray(sch.eta(np.arange(T))), np.asarray(sch.beta(np.arange(T)))

    def response(lam):
        e, v, out = 1.0, 0.0, [0.0]
        for t in range(T):
            g = lam * e
            v = beta[t] * v + g
            e = e - eta[t] * v - AM1_KW["eta_kick"] * g
            out.append((1.0 - e) / lam)
        return np.asarray(out)

    lam = 1e-7
    ref = 2 * response(lam) - response(2 * lam)  # removes the O(lambda) term
    steps = np.array([0, 1, 2, 10, 100, 400])
    got = np.asarray(ja.applied_learning_rate(ja.am1(theta=0.4, steps=T, **AM1_KW), steps))
    np.testing.assert_allclose(got, ref[steps], rtol=1e-7, atol=1e-12)
    A = np.concatenate([[0.0], np.cumsum((np.arange(T) + 1.0) ** 0.4)])[steps]
    assert np.all(got[3:] < A[3:]) and np.all(got[3:] > 0.3 * A[3:])
    # adiabatic_loss carries A_t = sum_{s<t} alpha0 (s+t0)^theta, A^app_t and both signal sums
    s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
    p = ja.adiabatic_loss(s, ja.am1(theta=0.4, steps=T, **AM1_KW), steps)
    np.testing.assert_allclose(p.cumulative_lr, A, rtol=1e-13)
    # (249) for AM1: sum_{s<t} alpha_eff,s ~ alpha0 t^{1+theta} / (1+theta)
    assert A[-1] / (T**1.4 / 1.4) == pytest.approx(1.0, abs=5e-3)
    np.testing.assert_allclose(p.applied_lr, got, rtol=1e-15)
    lam_k, c2 = np.asarray(s.eigenvalues), np.asarray(s.c2)
    V_ref = np.array([np.sum(lam_k * c2 * np.exp(-2 * lam_k * a)) for a in got])
    np.testing.assert_allclose(p.V_applied, V_ref, rtol=1e-13)


def test_adiabatic_loss_with_noise_uses_running_sum():
    s = ja.power_law_spectrum(300, nu=2.0, zeta=0.5)
    alg = ja.am1(theta=0.4, steps=3000, **AM1_KW)
    steps = np.arange(10, 3001, 10)  # the last one, T, uses the parameters of step T - 1
    p = ja.adiabatic_loss(s, alg, steps, batch_size=10, tau=(1.0, 0.0))
    run = ja.running_noise_sum(s, alg, 10, (1.0, 0.0), steps=np.minimum(steps, 2999))
    np.testing.assert_allclose(p.U, run.U_tilde, rtol=1e-14)
    np.testing.assert_allclose(p.loss, np.asarray(p.V) / (2 * (1 - np.asarray(run.U))), rtol=1e-14)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kappa=0.0), "kappa"),
        (dict(kappa=1.0), "kappa"),
        (dict(kappa=1.5), "kappa"),
        (dict(kappa=-0.2), "kappa"),
        (dict(alpha0=-1.0), "alpha0"),
        (dict(alpha0=0.0), "alpha0"),
        (dict(alpha0=0.2), "alpha0"),  # alpha_eff < eta_kick: eta_t < 0
        (dict(eta_kick=-0.5), "eta_kick"),
        (dict(delta0=0.0), "delta0"),
        (dict(delta0=2.5), "delta0"),
        (dict(t0=0.0), "t0"),
        (dict(steps=0), "steps"),
        (dict(steps=-5), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(theta=np.nan), "theta"),
        (dict(theta=[0.1, 0.2]), "theta"),
    ],
)
def test_am1_rejects_bad_input(kwargs, match):
    args = dict(AM1_KW, theta=0.2, steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ja.am1(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(a=-1.0), "a"), (dict(b=-1.5), "b"), (dict(L=0.0), "L"), (dict(L=-2.0), "L"),
     (dict(steps=0), "steps"), (dict(L=np.inf), "L")],
)
def test_jacobi_rejects_bad_input(kwargs, match):
    args = dict(a=0.5, b=0.0, L=2.0, steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ja.jacobi_heavy_ball(**args)


def test_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="kappa"):
        ja.check_am1_exponents(0.2, kappa=1.0, nu=2.0)
    with pytest.raises(ValueError, match="nu"):
        ja.check_am1_exponents(0.2, kappa=0.5, nu=1.0)
    with pytest.raises(ValueError, match="theta"):
        ja.check_am1_exponents(np.nan, kappa=0.5, nu=2.0)
    s = ja.power_law_spectrum(10, nu=2.0, zeta=0.5)
    with pytest.raises(ValueError, match="steps"):
        ja.adiabatic_loss(s, ja.am1(theta=0.2, steps=10, **AM1_KW), np.array([11]))
    with pytest.raises(ValueError, match="steps"):
        ja.adiabatic_loss(s, ja.gd(1.0), np.array([-1]))


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(batch_size=0), "batch_size"), (dict(batch_size=np.ones(3)), "batch_size"),
     (dict(tau=(1.0,)), "tau"), (dict(steps=np.array([20])), "steps"),
     (dict(method="fast"), "method"), (dict(spectrum=np.ones(3)), "spectrum")],
)
def test_running_noise_sum_rejects_bad_input(kwargs, match):
    args = dict(spectrum=ja.power_law_spectrum(10, nu=2.0, zeta=0.5),
                algorithm=ja.jacobi_heavy_ball(0.5, 0.0, 2.0, 10), batch_size=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ja.running_noise_sum(**args)
