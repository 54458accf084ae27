"""Stacking as accelerated gradient descent (issue 8; spec depth_stacking.md Part B).

Independent references: explicit NumPy loops of Nesterov's AGD and of gradient descent (§B2),
the kernel gradient step written in prediction space (§B1.4), the normal equations of the
l2-regularised stage (§B1.4), the closed-form mean and covariance of the random-init iterates
(Monte Carlo within 3 standard errors), the textbook convergence bounds (§B3), and the
perturbation formula Delta_t = beta D_t F_{t-1}^{-1} D_t (§B4.3).
"""

import warnings

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel  # noqa: F401  (float64)
from jaxaccel import stacking as st

F64 = 1e-12  # the f64 entry of the dtype-keyed table in conftest.py


# ----------------------------------------------------------------------------- references
def np_agd(H, theta_star, x0, eta, betas):
    """Explicit Nesterov AGD on 1/2 (x - x*)^T H (x - x*): y = x + b (x - x_prev), x+ = y - eta grad."""
    x, xp = np.array(x0, float), np.array(x0, float)
    out = [x.copy()]
    for b in betas:
        y = x + b * (x - xp)
        xp, x = x, y - eta * (H @ (y - theta_star))
        out.append(x.copy())
    return np.array(out)


def np_agd_matrix(cov, target, eta, betas):
    """Explicit Nesterov AGD on L(F) = 1/2 tr((F - F*) S (F - F*)^T) from F_0 = I."""
    d = cov.shape[0]
    x = xp = np.eye(d)
    out = [x]
    for b in betas:
        y = x + b * (x - xp)
        xp, x = x, y - eta * (y - target) @ cov
        out.append(x)
    return np.array(out)


def data_problem(rng, n=80, p=6, c=None, scale=None, ridge=0.0):
    """Least squares on features with a prescribed column scaling (ill-conditioned H)."""
    scale = np.geomspace(1.0, 0.03, p) if scale is None else scale
    X = rng.normal(size=(n, p)) * scale
    Y = rng.normal(size=(n,) if c is None else (n, c))
    return st.quadratic_from_data(X, Y, ridge=ridge), X, Y


# Shapes shared by the tests so that the jitted kernels compile once and are reused.
P, C_OUT, T_EX = 6, 2, 600     # data problem: 6 features, 2 outputs, 600 stages
D, DR, T_RES = 10, 8, 400      # synthetic quadratic dim, residual-net dim, residual stages


@pytest.fixture(scope="module")
def data_q():
    rng = np.random.default_rng(1)
    return data_problem(rng, p=P, c=C_OUT)


# ----------------------------------------------------------------------------- additive: exactness
def test_stacking_one_step_per_stage_equals_nesterov_iterates(data_q):
    q, X, Y = data_q
    H, ts = np.asarray(q.hessian), np.asarray(q.minimizer)
    assert 1e2 < float(q.kappa) < 1e5  # genuinely ill-conditioned
    beta = float(st.optimal_beta(q.kappa))
    r = st.boost(q, T_EX, init="stack", beta=beta, record_params=True)
    ref = np_agd(H, ts, np.zeros_like(ts), 1.0 / float(q.smoothness), [beta] * T_EX)
    assert r.trajectory.shape == (T_EX + 1, P, C_OUT)
    np.testing.assert_allclose(r.trajectory, ref, rtol=0, atol=F64)
    # a time-varying schedule and a smaller step
    sched = st.nesterov_beta_schedule(T_EX, "lambda")
    r2 = st.boost(q, T_EX, init="stack", beta=sched, eta=0.7 / float(q.smoothness),
                  record_params=True)
    ref2 = np_agd(H, ts, np.zeros_like(ts), 0.7 / float(q.smoothness), np.asarray(sched))
    np.testing.assert_allclose(r2.trajectory, ref2, rtol=0, atol=F64)
    # the recorded gaps are the loss differences of the data problem
    loss = lambda th: 0.5 * np.mean(np.sum((X @ th - Y) ** 2, -1))
    np.testing.assert_allclose(np.asarray(r.gaps)[[0, 10, 50]],
                               [loss(ref[t]) - loss(ts) for t in (0, 10, 50)], rtol=1e-9)


def test_zero_init_equals_functional_gd_and_kernel_step(data_q):
    q = data_q[0]
    H, ts = np.asarray(q.hessian), np.asarray(q.minimizer)
    r = st.boost(q, T_EX, init="zero", record_params=True)
    ref = np_agd(H, ts, np.zeros_like(ts), 1.0 / float(q.smoothness), [0.0] * T_EX)
    np.testing.assert_allclose(r.trajectory, ref, rtol=0, atol=F64)
    # kernel learner: predictions on the training set follow F <- F - eta K (F - y) / n
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(30, 2))
    y = np.sin(3 * x[:, 0]) + x[:, 1] ** 2
    K = np.asarray(st.rbf_kernel(x, x, 0.5))
    phi = st.kernel_features(K)
    qk = st.quadratic_from_data(phi, y)
    eta = 1.0 / float(qk.smoothness)
    rk = st.boost(qk, 40, init="zero", record_params=True)
    F = np.zeros(30)
    for t in range(40):
        F = F - eta * K @ (F - y) / 30
    np.testing.assert_allclose(np.asarray(phi) @ np.asarray(rk.trajectory[-1]), F, rtol=0, atol=F64)
    assert np.max(np.abs(F)) > 0.1  # the predictions did move


def test_inner_steps_and_proximal_stage(data_q):
    q = data_q[0]
    H, ts = np.asarray(q.hessian), np.asarray(q.minimizer)
    eta, beta = 0.5 / float(q.smoothness), 0.8
    # K = 3 GD steps per stage from the stacking init, written out
    r = np.asarray(st.boost(q, T_EX, init="stack", beta=beta, eta=eta, inner_steps=3,
                            record_params=True).trajectory)
    ens, last = np.zeros_like(ts), np.zeros_like(ts)
    for t in range(T_EX):
        th = beta * last
        for _ in range(3):
            th = th - eta * H @ (ens + th - ts)
        ens, last = ens + th, th
        np.testing.assert_allclose(r[t + 1], ens, rtol=0, atol=F64)
    # exact l2-regularised stage: (H + I/eta) theta = theta0/eta - grad L(Theta_t) (normal equations)
    tr = np.asarray(st.boost(q, T_EX, init="stack", beta=beta, eta=eta, inner="prox",
                             record_params=True).trajectory)
    last = np.zeros_like(ts)
    for t in range(T_EX):
        th = np.linalg.solve(H + np.eye(P) / eta, beta * last / eta - H @ (tr[t] - ts))
        np.testing.assert_allclose(tr[t + 1] - tr[t], th, rtol=0, atol=F64)
        last = th


def _random_init_mc(q, n, key):
    """Random-init Monte Carlo against the closed-form law of the iterates (one step per stage).

    Theta_T = GD_T + sum_{j=1..T} A^j xi_j with A = I - eta H and xi_j ~ N(0, sigma0^2 I), so
    the deviation from the GD iterate is Gaussian with mean 0 and covariance
    sigma0^2 sum_j A^j (A^j)^T, independently for each output column. Checks the mean and the
    variance of every decorrelated component within 3 standard errors.
    """
    H, ts = np.asarray(q.hessian), np.asarray(q.minimizer)
    eta, s0 = 0.8 / float(q.smoothness), 0.02
    keys = jax.random.split(key, n)
    final = jax.vmap(lambda k: st.boost(q, T_EX, init="random", sigma0=s0, eta=eta, key=k).params)(keys)
    final = np.asarray(final)                                       # (n, P, C_OUT)
    gd = np_agd(H, ts, np.zeros_like(ts), eta, [0.0] * T_EX)[-1]
    A = np.eye(P) - eta * H
    cov, M = np.zeros((P, P)), A.copy()
    for _ in range(T_EX):
        cov += s0 ** 2 * M @ M.T
        M = A @ M
    lam, U = np.linalg.eigh(cov)                    # uncorrelated components
    z = np.einsum("npc,pk->nkc", final - gd, U)     # (n, P, C_OUT)
    mean, var = z.mean(0), z.var(0, ddof=1)
    se_mean = np.sqrt(lam / n)[:, None]
    se_var = (lam * np.sqrt(2.0 / (n - 1)))[:, None]  # the iterates are Gaussian
    assert np.all(np.abs(mean) < 3 * se_mean), mean / se_mean
    assert np.all(np.abs(var - lam[:, None]) < 3 * se_var), (var - lam[:, None]) / se_var
    # the test has teeth: single runs are far from GD compared with the standard error
    assert np.all(np.median(np.abs(z), 0) > 0.3 * np.sqrt(n) * se_mean)
    return keys


def test_random_init_is_gd_in_expectation_monte_carlo(data_q):
    _random_init_mc(data_q[0], 1000, jax.random.PRNGKey(0))


@pytest.mark.slow
def test_random_init_is_gd_in_expectation_monte_carlo_large(data_q):
    q = data_q[0]
    keys = _random_init_mc(q, 4000, jax.random.PRNGKey(1))
    # with K = 3 inner steps the random-init mean is the zero-init (K = 3) iterate
    f3 = np.asarray(jax.vmap(lambda k: st.boost(q, T_EX, init="random", sigma0=0.02, key=k,
                                                inner_steps=3).params)(keys[:1000]))
    z3 = np.asarray(st.boost(q, T_EX, init="zero", inner_steps=3).params)
    se3 = f3.std(0, ddof=1) / np.sqrt(1000)
    assert np.all(np.abs(f3.mean(0) - z3) < 3 * se3), (f3.mean(0) - z3) / se3
    assert np.all(np.median(np.abs(f3 - z3), 0) > 10 * se3)


# ----------------------------------------------------------------------------- additive: rates
KAPPAS = np.array([1e2, 1e3, 1e4])
T_LONG = 140_000  # enough for beta = 1 at kappa = 1e4 (~1.15e5 stages)


@pytest.fixture(scope="module")
def kappa_runs():
    """Gap curves for zero init, stacking at beta* and beta = 1 at kappa = 1e2, 1e3, 1e4."""
    def run(init, beta=None):
        def one(k):
            q = st.quadratic_problem(k, D, jax.random.PRNGKey(0))
            b = None if beta is None else (st.optimal_beta(k) if beta == "star" else beta)
            return st.boost(q, T_LONG, init=init, beta=b)

        r = jax.vmap(one)(jnp.asarray(KAPPAS))
        assert not np.any(np.asarray(r.diverged))
        return np.asarray(r.gaps)

    return {"zero": run("zero"), "stack": run("stack", "star"), "copy": run("stack", 1.0)}


@pytest.mark.slow  # 9 runs of 140 000 stages
def test_acceleration_signature_kappa_exponents(kappa_runs):
    """Stages to cut the gap by 1e-6 ~ kappa^p: p = 1/2 for stacking at beta*, 1 for zero init."""
    s = {k: np.asarray(st.stages_to_reduce(g, 1e-6)) for k, g in kappa_runs.items()}
    assert all(np.all(v > 0) for v in s.values()), s
    p_stack = st.fit_kappa_exponent(KAPPAS, s["stack"]).exponent
    p_zero = st.fit_kappa_exponent(KAPPAS, s["zero"]).exponent
    assert abs(p_stack - 0.5) < 0.1, (p_stack, s["stack"])
    assert abs(p_zero - 1.0) < 0.1, (p_zero, s["zero"])
    # beta = 1 (plain copying) does not accelerate: slower than zero init at every kappa
    assert np.all(s["copy"] > s["zero"]), (s["copy"], s["zero"])
    assert abs(st.fit_kappa_exponent(KAPPAS, s["copy"]).exponent - 1.0) < 0.1


@pytest.mark.slow
def test_contraction_factors_match_theory(kappa_runs):
    rho_z = st.contraction_factor(kappa_runs["zero"], 1e-3, 1e-12)
    rho_s = st.contraction_factor(kappa_runs["stack"], 1e-3, 1e-12)
    # GD: the slowest mode contracts by exactly 1 - 1/kappa per stage
    np.testing.assert_allclose(-np.log(rho_z) * KAPPAS, 1.0, rtol=0.02)
    # AGD at beta*: double root 1 - 1/sqrt(kappa) (the polynomial prefactor slows the fit a bit)
    c = -np.log(rho_s) * np.sqrt(KAPPAS)
    assert np.all((c > 0.8) & (c < 1.05)), c


def test_beta_sweep_optimum_near_beta_star():
    kappa = 1e3
    q = st.quadratic_problem(kappa, D, jax.random.PRNGKey(0))
    betas = 1.0 - np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 120)])  # beta = 1 down to 0
    s = jax.vmap(lambda b: st.stages_to_reduce(st.boost(q, 12000, init="stack", beta=b).gaps, 1e-6))(
        jnp.asarray(betas))
    s = np.where(np.asarray(s) < 0, np.iinfo(np.int64).max, np.asarray(s))
    b_opt = betas[np.argmin(s)]
    b_star = float(st.optimal_beta(kappa))
    # optimum within 25% of beta* on the (1 - beta) scale (1 - beta* ~ 2/sqrt(kappa))
    assert 0.8 < (1 - b_opt) / (1 - b_star) < 1.25, (b_opt, b_star)
    assert s.min() < 0.05 * s[-1]            # far better than beta = 0 (zero init) ...
    assert s[0] > s[-1]                       # ... while beta = 1 is worse than beta = 0


# ----------------------------------------------------------------------------- residual networks
@pytest.fixture(scope="module")
def res_p():
    return st.residual_problem(1e3, DR, 0.3, jax.random.PRNGKey(1))


def test_residual_exact_nesterov_init_equals_nesterov(res_p):
    p = res_p
    cov, tgt = np.asarray(p.covariance), np.asarray(p.target)
    beta = float(st.optimal_beta(1e3))
    r = st.train_residual(p, T_RES, init="nesterov", beta=beta, record_iterates=True)
    ref = np_agd_matrix(cov, tgt, 1.0, [beta] * T_RES)
    np.testing.assert_allclose(r.iterates, ref, rtol=0, atol=F64)
    np.testing.assert_allclose(r.perturbation, 0.0, atol=1e-10)  # Delta_t = 0 by construction
    # the blocks multiply out to the end-to-end matrix
    Fp = np.eye(DR)
    for W in np.asarray(r.blocks):
        Fp = (np.eye(DR) + W) @ Fp
    np.testing.assert_allclose(Fp, r.final, rtol=0, atol=1e-10)
    # zero init with the functional step is gradient descent on F
    rz = st.train_residual(p, T_RES, init="zero", record_iterates=True)
    np.testing.assert_allclose(rz.iterates, np_agd_matrix(cov, tgt, 1.0, [0.0] * T_RES), rtol=0,
                               atol=F64)
    # the library's AGD reference agrees with the explicit loop too
    np.testing.assert_allclose(st.nesterov_agd(p, T_RES, beta=beta, record_iterates=True).iterates,
                               ref, rtol=0, atol=F64)


def test_residual_stacking_recursions_and_perturbation(res_p):
    p = res_p
    cov, tgt = np.asarray(p.covariance), np.asarray(p.target)
    beta, eta = 0.7, 0.9
    for flavour in ("func", "param"):
        r = st.train_residual(p, T_RES, init="stack", beta=beta, eta=eta, flavour=flavour,
                              record_iterates=True)
        F, W = np.asarray(r.iterates), np.asarray(r.blocks)
        for t in range(1, 40):
            Y = F[t] + beta * W[t - 1] @ F[t]
            G = (Y - tgt) @ cov
            # end-to-end recursions of the table in §B4.3
            pre = F[t].T @ F[t] if flavour == "param" else np.eye(DR)
            np.testing.assert_allclose(F[t + 1], Y - eta * G @ pre, rtol=0, atol=F64)
            # Delta_t = beta D_t F_{t-1}^{-1} D_t
            Dt = F[t] - F[t - 1]
            delta = beta * Dt @ np.linalg.solve(F[t - 1], Dt)
            np.testing.assert_allclose(r.perturbation[t], np.linalg.norm(delta) / np.linalg.norm(Dt),
                                       rtol=1e-9)
            np.testing.assert_allclose(r.block_norm[t], np.linalg.norm(W[t], 2), rtol=1e-12)
            np.testing.assert_allclose(r.gram_deviation[t],
                                       np.linalg.norm(F[t + 1].T @ F[t + 1] - np.eye(DR), 2), rtol=1e-12)


def test_residual_stacking_beats_zero_init_near_identity(res_p):
    p = res_p
    g = {}
    for name, kw in {"zero": dict(init="zero"), "stack_func": dict(init="stack"),
                     "stack_param": dict(init="stack", flavour="param"),
                     "copy": dict(init="stack", beta=1.0)}.items():
        r = st.train_residual(p, T_RES, record_iterates=True, **kw)
        assert not bool(r.diverged)
        g[name] = float(r.gaps[-1]) / float(r.gaps[0])
    agd = float(st.nesterov_agd(p, T_RES, record_iterates=True).gaps[-1]) / float(p.gap(p.start))
    assert g["stack_func"] < 1e-6 * g["zero"] and g["stack_param"] < 1e-4 * g["zero"], g
    assert g["stack_func"] < 10 * agd + 1e-13, (g, agd)   # tracks Nesterov
    assert g["copy"] > 0.1 * g["zero"], g                 # beta = 1 does not accelerate


# ----------------------------------------------------------------------------- vmap, validation, divergence
def test_everything_vmaps_over_beta_kappa_and_seeds(res_p):
    # one vmapped run over a (kappa, beta, seed) grid: 2 x 2 x 3 problems, one compilation
    kk, bb, ss = np.meshgrid([10.0, 100.0], [0.3, 0.9], [0, 1, 2], indexing="ij")
    keys = jax.random.split(jax.random.PRNGKey(0), 3)

    def run(q, b):
        return st.boost(q, T_EX, init="stack", beta=b).gaps[-1]

    # the problems (hence kappa and the seed) enter as traced arrays: a stacked Quadratic pytree
    # (quadratic_problem itself is vmapped over kappa in the slow exponent test and the sims)
    probs = [st.quadratic_problem(k, D, keys[s]) for k, s in zip(kk.ravel(), ss.ravel())]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *probs)
    grid = jax.vmap(run)(stacked, jnp.asarray(bb.ravel()))
    grid = np.asarray(grid).reshape(kk.shape)
    for i, j, s in [(0, 1, 2), (1, 0, 0)]:
        one = run(st.quadratic_problem(kk[i, j, s], D, keys[s]), bb[i, j, s])
        # vmapped and single runs differ only by rounding, accumulated over the stages of a
        # gap that shrinks to ~1e-9 of its start (relative 3e-12 seen)
        np.testing.assert_allclose(grid[i, j, s], one, rtol=1e-10)
    assert np.all(np.isfinite(grid)) and np.all(grid[:, 1] < grid[:, 0])  # beta 0.9 beats 0.3


@pytest.mark.slow
def test_residual_random_init_vmaps_over_seeds_and_sigma0(res_p):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    # residual nets: random init vmapped over seeds and sigma0
    res = jax.vmap(lambda s0, key: st.train_residual(res_p, T_RES, init="random", sigma0=s0,
                                                      key=key).gaps)(jnp.array([1e-3, 1e-2]),
                                                                     keys[:2])
    assert res.shape == (2, T_RES + 1) and bool(jnp.all(jnp.isfinite(res)))
    # a constant-step random init stalls at a noise floor that grows with sigma0 (§B2)
    assert 10 < float(res[1, -1]) / float(res[0, -1]) < 1e3
    # (record_iterates=True only to share the compiled kernel with the other residual tests)
    zero = float(st.train_residual(res_p, T_RES, init="zero", record_iterates=True).gaps[-1])
    assert float(res[0, -1]) > zero


def test_bad_input_raises_value_error_naming_argument(res_p):
    q = st.quadratic_problem(100.0, D, jax.random.PRNGKey(0))
    p = res_p
    digits = st.digits_split()
    with pytest.raises(ValueError, match="beta"):
        st.boost(q, T_EX, init="stack", beta=1.2)
    with pytest.raises(ValueError, match="beta"):
        st.train_residual(p, 10, init="stack", beta=-0.1)
    with pytest.raises(ValueError, match="beta"):
        st.boost(q, 10, init="stack", beta=np.full(9, 0.5))      # schedule of the wrong length
    with pytest.raises(ValueError, match="beta"):
        st.boost(q, 10, init="stack", beta=float("nan"))
    with pytest.raises(ValueError, match="beta"):
        st.block_init("stack", beta=1.5)
    # the explicit override is accepted; beta = 1.2 > 1 then makes the run genuinely unstable
    # (on a mode with eta h = 1/kappa the AGD roots have |z|^2 = (1 - eta h) beta = 1.188 > 1),
    # and the run is reported as diverged at a stage, not returned as silent inf / NaN
    with pytest.warns(RuntimeWarning, match="diverged at stage"):
        r = st.boost(q, T_EX, init="stack", beta=1.2, allow_any_beta=True)
    assert bool(r.diverged) and 0 < int(r.diverged_at) < T_EX
    # beta = 1 with the override off is allowed and stable (plain copying, |z| = sqrt(1 - eta h))
    assert not bool(st.boost(q, T_EX, init="stack", beta=1.0).diverged)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="eta"):
            st.boost(q, 10, eta=bad)
        with pytest.raises(ValueError, match="eta"):
            st.train_residual(p, 10, eta=bad)
        with pytest.raises(ValueError, match="sigma0"):
            st.boost(q, 10, init="random", sigma0=bad, key=jax.random.PRNGKey(0))
        with pytest.raises(ValueError, match="learning_rate"):
            st.train_residual_mlp(digits, st.block_init("zero"), jax.random.PRNGKey(0),
                                  learning_rate=bad)
    with pytest.raises(ValueError, match="targets"):
        st.quadratic_from_data(np.ones((5, 3)), np.ones(4))
    with pytest.raises(ValueError, match="features"):
        st.quadratic_from_data(np.full((5, 3), np.nan), np.ones(5))
    with pytest.raises(ValueError, match="problem.start"):
        st.boost(q._replace(start=jnp.zeros(3)), 10)
    with pytest.raises(ValueError, match="problem.minimizer"):
        st.boost(q._replace(minimizer=jnp.zeros(5), start=jnp.zeros(5)), 10)
    with pytest.raises(ValueError, match="problem.hessian"):
        st.boost(q._replace(hessian=q.hessian.at[0, 0].set(jnp.nan)), 10)
    with pytest.raises(ValueError, match="problem.target"):
        st.train_residual(p._replace(target=jnp.eye(3)), 10)
    with pytest.raises(ValueError, match="data.y_train"):
        st.train_residual_mlp(digits._replace(y_train=digits.y_train[:-1]), st.block_init("zero"),
                              jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="data.x_test"):
        st.train_residual_mlp(digits._replace(x_test=digits.x_test[:, :10]), st.block_init("zero"),
                              jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="z"):
        st.rbf_kernel(np.ones((3, 2)), np.ones((3, 4)), 1.0)
    with pytest.raises(ValueError, match="init"):
        st.boost(q, 10, init="stacking")
    with pytest.raises(ValueError, match="key"):
        st.boost(q, 10, init="random", sigma0=0.1)
    with pytest.raises(ValueError, match="beta"):
        st.boost(q, 10, init="zero", beta=0.5)
    with pytest.raises(ValueError, match="stages"):
        st.boost(q, 0)
    with pytest.raises(ValueError, match="kappa"):
        st.quadratic_problem(0.5, D, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="kappa"):
        st.optimal_beta(float("nan"))
    with pytest.raises(ValueError, match="flavour"):
        st.train_residual(p, 10, flavour="functional")
    with pytest.raises(ValueError, match="divergence_threshold"):
        st.boost(q, 10, divergence_threshold=-1.0)


def test_divergence_is_flagged_not_a_silent_nan(res_p):
    q = st.quadratic_problem(100.0, D, jax.random.PRNGKey(0))
    with pytest.warns(RuntimeWarning, match="diverged at stage"):
        r = st.boost(q, T_EX, init="zero", eta=2.5)  # eta L = 2.5 > 2: unstable
    assert bool(r.diverged) and 0 < int(r.diverged_at) < 100
    g = np.asarray(r.gaps)
    assert not np.any(np.isnan(g)) and np.all(np.isinf(g[int(r.diverged_at) + 1:]))
    with pytest.warns(RuntimeWarning):
        rr = st.train_residual(res_p, T_RES, init="zero", eta=1e3, record_iterates=True)  # overflows
    assert bool(rr.diverged) and not np.any(np.isnan(np.asarray(rr.gaps)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = st.boost(q, T_EX)
    assert not bool(ok.diverged) and int(ok.diverged_at) == -1


# ----------------------------------------------------------------------------- diagnostics, problems
def test_diagnostics_and_problem_constructors():
    # stages_to_reduce: "stays below" semantics, -1 when never reached, batches
    g = np.array([[1.0, 1e-3, 1e-7, 1e-5, 1e-8], [1.0, 0.5, 0.4, 0.3, 0.2]])
    np.testing.assert_array_equal(st.stages_to_reduce(g, 1e-6), [4, -1])
    np.testing.assert_allclose(st.contraction_factor(0.97 ** (2 * np.arange(2000.0))), 0.97, rtol=1e-12)
    # quadratic_problem: spectrum, equal-gap start and kappa
    q = st.quadratic_problem(1e3, D, jax.random.PRNGKey(4))
    lam, Q = np.linalg.eigh(np.asarray(q.hessian))
    np.testing.assert_allclose(lam, np.geomspace(1e-3, 1, D), rtol=1e-10)
    shares = 0.5 * lam * (Q.T @ np.asarray(q.minimizer)) ** 2
    np.testing.assert_allclose(shares, 1.0 / D, rtol=1e-9)
    # random Fourier features approximate the RBF kernel (Monte Carlo, D = 20000)
    x = np.random.default_rng(0).normal(size=(5, 3))
    phi = np.asarray(st.random_fourier_features(x, 20000, 1.3, jax.random.PRNGKey(0)))
    K = np.asarray(st.rbf_kernel(x, x, 1.3))
    assert np.max(np.abs(phi @ phi.T - K)) < 4 * np.sqrt(2.0 / 20000) * 1.5
    # residual problem: ||F* - I||_2 and the spectrum of Sigma as requested
    p = st.residual_problem(50.0, DR, 0.7, jax.random.PRNGKey(0))
    assert abs(np.linalg.norm(np.asarray(p.target) - np.eye(DR), 2) - 0.7) < 1e-12
    np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(p.covariance)), np.geomspace(0.02, 1, DR),
                               rtol=1e-10)
    np.testing.assert_allclose(st.optimal_beta(np.array([1.0, 9.0])), [0.0, 0.5], atol=1e-15)
    np.testing.assert_allclose(st.nesterov_beta_schedule(5, "t"), [0, 0, 0.25, 0.4, 0.5], atol=1e-15)


# ----------------------------------------------------------------------------- residual MLP (digits)
# Tiny configuration; the six initialisation arms share one compilation. The digits sim's quick
# test (tests/test_sims_stacking.py) runs the same shapes, so the compiled kernel is shared too.
MLP_CFG = dict(blocks=3, width=8, hidden=8, steps_per_stage=5, learning_rate=1e-2,
               record_stage_params=True)
MLP_SIZES = (200, 100)   # training / test examples


def np_mlp_stream(p, x, active, extra=None):
    """NumPy residual stream: z = x E + e, z <- z + s_i relu(z U_i + c_i) V_i for i < active;
    ``extra(z)`` adds one more block function on top."""
    z = x @ p.embed_w + p.embed_b
    for i in range(active):
        z = z + p.scale[i] * np.maximum(z @ p.up[i] + p.up_b[i], 0.0) @ p.down[i]
    if extra is not None:
        z = z + extra(z)
    return z


def np_xent(logits, y):
    m = logits.max(1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))


@pytest.fixture(scope="module")
def digits_small():
    d = st.digits_split()
    n, m = MLP_SIZES
    return st.DigitsData(d.x_train[:n], d.y_train[:n], d.x_test[:m], d.y_test[:m])


def test_residual_mlp_initialisations_against_numpy(digits_small):
    data = digits_small
    beta = 0.5
    arms = {"zero": st.block_init("zero"), "random": st.block_init("random", sigma0=0.1),
            "stack": st.block_init("stack", beta=beta), "copy": st.block_init("stack", beta=1.0),
            "trainable": st.block_init("stack", beta=beta, trainable_beta=True),
            "blowup": st.block_init("random", sigma0=1e308)}   # overflows: must be flagged
    names = list(arms)
    key = jax.random.PRNGKey(3)
    # one compilation: the arms are arrays, so every policy reuses the same kernel
    runs = []
    for name, a in arms.items():
        if name == "blowup":
            with pytest.warns(RuntimeWarning, match="diverged at stage 1"):
                runs.append(st.train_residual_mlp(data, a, key, **MLP_CFG))
        else:
            runs.append(st.train_residual_mlp(data, a, key, **MLP_CFG))
    r = jax.tree.map(lambda *v: jnp.stack(v), *runs)
    T, S = MLP_CFG["blocks"], MLP_CFG["steps_per_stage"]
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    xt, yt = np.asarray(data.x_test), np.asarray(data.y_test)
    scale_of = {"stack": 1.0, "copy": 1.0, "trainable": beta}
    for a, name in enumerate(names):
        ra = jax.tree.map(lambda v: np.asarray(v[a]), r)
        if name == "blowup":
            assert bool(ra.diverged) and int(ra.diverged_at) == 1, (ra.diverged, ra.diverged_at)
            assert np.isfinite(ra.train_loss[0])
            continue
        assert not bool(ra.diverged) and int(ra.diverged_at) == -1
        hist = ra.stage_params
        at = lambda t: jax.tree.map(lambda v: v[t], hist)
        for t in range(T + 1):
            p = at(t)
            # recorded losses / accuracy are those of an independent NumPy forward pass
            lt = np_mlp_stream(p, xt, t) @ p.out_w + p.out_b
            np.testing.assert_allclose(ra.train_loss[t],
                                       np_xent(np_mlp_stream(p, x, t) @ p.out_w + p.out_b, y),
                                       rtol=1e-12)
            np.testing.assert_allclose(ra.test_loss[t], np_xent(lt, yt), rtol=1e-12)
            np.testing.assert_allclose(ra.test_accuracy[t], np.mean(lt.argmax(1) == yt), rtol=1e-12)
            # the training curve starts each stage at the loss right after initialisation
            assert ra.curve[t * S] == ra.start_loss[t]
            assert ra.train_loss[t] < ra.start_loss[t]
            if t == 0:
                continue
            q = at(t - 1)
            # frozen: embedding, readout and older blocks unchanged; later slots still unused
            for f in ("embed_w", "embed_b", "out_w", "out_b"):
                np.testing.assert_array_equal(getattr(p, f), getattr(q, f))
            for f in ("up", "up_b", "down", "scale"):
                np.testing.assert_array_equal(getattr(p, f)[: t - 1], getattr(q, f)[: t - 1])
                np.testing.assert_array_equal(getattr(p, f)[t:], getattr(q, f)[t:])
            # the new block's initial function: f^0_t = beta f_{t-1} (stacking), 0 (zero init,
            # and the first block of every non-random policy, f^0_1 = 0)
            if name == "random":
                assert ra.start_loss[t] != ra.train_loss[t - 1]
                continue
            b = {"zero": 0.0, "stack": beta, "copy": 1.0, "trainable": beta}[name] if t > 1 else 0.0
            prev = lambda z, q=q, i=t - 2: q.scale[i] * np.maximum(z @ q.up[i] + q.up_b[i], 0.0) @ q.down[i]
            z0 = np_mlp_stream(q, x, t - 1, extra=lambda z: b * prev(z) if b else 0.0 * z)
            np.testing.assert_allclose(ra.start_loss[t], np_xent(z0 @ q.out_w + q.out_b, y),
                                       rtol=1e-12)
        # output scales: fixed arms keep theirs; the trainable beta moves from its start
        if name in ("stack", "copy", "zero", "random"):
            np.testing.assert_array_equal(ra.scale, 1.0)
        else:
            assert np.all(np.abs(ra.scale - scale_of[name]) > 1e-4), ra.scale
        assert ra.train_loss[-1] < ra.train_loss[0]


@pytest.mark.slow
def test_residual_mlp_vmaps_over_policies_and_seeds(digits_small):
    """vmap over a stacked MLPInit and over keys reproduces the single runs."""
    inits = [st.block_init("zero"), st.block_init("stack", beta=0.5, trainable_beta=True)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *inits)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    cfg = dict(MLP_CFG, record_stage_params=False)
    r = jax.vmap(lambda a: jax.vmap(lambda k: st.train_residual_mlp(digits_small, a, k, **cfg))(keys))(
        stacked)
    assert r.train_loss.shape == (2, 2, MLP_CFG["blocks"] + 1)
    for i, a in enumerate(inits):
        for j, k in enumerate(keys):
            one = st.train_residual_mlp(digits_small, a, k, **cfg)
            np.testing.assert_allclose(r.train_loss[i, j], one.train_loss, rtol=1e-9)
            np.testing.assert_allclose(r.scale[i, j], one.scale, rtol=1e-9)
    assert float(jnp.abs(r.train_loss[0, 0, -1] - r.train_loss[0, 1, -1])) > 0
