"""Optax transforms of the memory-M algorithms (jaxaccel.optim).

Independent references: a literal NumPy iteration of form (3) (gradient taken at
``w + a^T u``, computed from the MemoryAlgorithm parameters step by step); textbook recurrences
(Nesterov); optax's own ``sgd`` with (Nesterov) momentum; the SE engine ``ja.simulate`` in
full batch (another view of the same deterministic trajectory).
"""

import numpy as np
import jax
import jax.numpy as jnp
import optax
import pytest
from conftest import tol

import jaxaccel as ja
from jaxaccel import optim

TOL = tol(jnp.float64)  # 1e-12
D_DIM = 5


# ----------------------------------------------------------------------------- helpers
def _problem(seed=0, d=D_DIM):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    H = A @ A.T / d + 0.05 * np.eye(d)
    H /= np.linalg.eigvalsh(H).max()
    return H, rng.normal(size=d), rng.normal(size=d)


def _split(v):
    """The flat vector as a two-leaf pytree (tests pytrees, scalars-per-leaf broadcasting)."""
    return {"first": v[:3], "rest": v[3:].reshape(-1, 1)}


def _flat(p):
    return jnp.concatenate([p["first"], p["rest"].reshape(-1)])


def _reference(params_at, H, w_star, w0, T):
    """Literal iteration of (3): returns w_t and the gradient points y_t = w_t + a_t^T u_t."""
    a0 = np.asarray(params_at(0)[1])
    M = a0.shape[0]
    w, u = w0.copy(), np.zeros((M, w0.shape[0]))
    ws, ys = [w.copy()], [w + a0 @ u]
    for t in range(T):
        alpha, a, b, c, D = (np.asarray(x, dtype=np.float64) for x in params_at(t))
        g = H @ (w + a @ u - w_star)
        w, u = w - alpha * g + b @ u, np.outer(c, g) + D @ u
        ws.append(w.copy())
        ys.append(w + np.asarray(params_at(t + 1)[1]) @ u)
    return np.array(ws), np.array(ys)


def _run(opt, H, w_star, w0, T, jit=False):
    """Run an optax transform on L = 1/2 (w-w*)^T H (w-w*) with pytree parameters.

    ``jit=True``: the whole run is one jitted ``lax.scan``; otherwise eager steps (cheaper to
    run than to compile for these tiny problems). Returns ``(w_t, y_t)`` for t = 0..T.
    """
    Hj, wsj = jnp.asarray(H), jnp.asarray(w_star)

    def grad(p):
        return _split(Hj @ (_flat(p) - wsj))

    def step(y, st):
        upd, st = opt.update(grad(y), st, y)
        y = optax.apply_updates(y, upd)
        return y, st, _flat(y), _flat(optim.weights_from_state(y, st))

    y0 = _split(jnp.asarray(w0))
    if jit:
        def body(carry, _):
            y, st, fy, fw = step(*carry)
            return (y, st), (fy, fw)

        _, (ys, ws) = jax.jit(lambda y: jax.lax.scan(body, (y, opt.init(y)), None, length=T))(y0)
    else:
        y, st, ys, ws = y0, opt.init(y0), [], []
        for _ in range(T):
            y, st, fy, fw = step(y, st)
            ys.append(fy)
            ws.append(fw)
    return (np.concatenate([w0[None], np.asarray(ws)]), np.concatenate([w0[None], np.asarray(ys)]))


def _assert_close(got, ref):
    scale = max(1.0, np.abs(ref).max())
    err = np.abs(got - ref).max() / scale
    assert err < TOL, err


def _stationary(alg):
    return lambda t: tuple(np.asarray(x) for x in alg.params)


def _scheduled(alg):
    T = alg.num_steps
    return lambda t: tuple(np.asarray(x) for x in alg.at(min(t, T - 1)).params)


def _random_alg(rng, M, T=None):
    lead = () if T is None else (T,)
    return ja.MemoryAlgorithm(
        rng.uniform(0.2, 0.6, size=lead), rng.normal(size=lead + (M,)) * 0.5,
        rng.normal(size=lead + (M,)) * 0.3, rng.normal(size=lead + (M,)) * 0.5,
        rng.normal(size=lead + (M, M)) * 0.3,
    )


# ----------------------------------------------------------------------------- form (3)
@pytest.mark.parametrize("M", [1, 2, 3])
def test_memory_m_reproduces_matrix_form_with_shift(M):
    rng = np.random.default_rng(M)
    H, w_star, w0 = _problem(M)
    alg = _random_alg(rng, M)
    assert np.all(np.asarray(alg.a) != 0)
    T = 40
    ws_ref, ys_ref = _reference(_stationary(alg), H, w_star, w0, T)
    ws, ys = _run(optim.memory_m(*alg.params), H, w_star, w0, T, jit=True)
    _assert_close(ws, ws_ref)
    _assert_close(ys, ys_ref)
    # from_algorithm and memory1 (M = 1) are the same transform
    ws2, _ = _run(optim.from_algorithm(alg), H, w_star, w0, T)
    _assert_close(ws2, ws_ref)
    if M == 1:
        scal = [float(np.ravel(x)[0]) for x in alg.params]
        ws3, _ = _run(optim.memory1(*scal), H, w_star, w0, T)
        _assert_close(ws3, ws_ref)


def test_time_dependent_schedules_including_shift():
    M = 2
    rng = np.random.default_rng(10 + M)
    H, w_star, w0 = _problem(10 + M)
    T = 30
    alg = _random_alg(rng, M, T=T + 1)  # a_{T} is read when computing y_T
    assert np.ptp(np.asarray(alg.a), axis=0).min() > 0  # the shift really changes in time
    ws_ref, ys_ref = _reference(_scheduled(alg), H, w_star, w0, T)
    ws, ys = _run(optim.from_algorithm(alg), H, w_star, w0, T, jit=True)
    _assert_close(ws, ws_ref)
    _assert_close(ys, ys_ref)

    # optax-style schedules (callables of the count), smooth functions of t
    fa = lambda n: jnp.stack([0.4 * jnp.cos(0.3 * n + m) for m in range(M)])  # noqa: E731
    fal = lambda n: 0.3 + 0.2 * jnp.sin(0.2 * n)  # noqa: E731
    fb = lambda n: jnp.stack([0.3 * jnp.cos(0.1 * n + 2 * m) for m in range(M)])  # noqa: E731
    fc = lambda n: jnp.stack([-0.5 + 0.1 * jnp.sin(0.7 * n + m) for m in range(M)])  # noqa: E731
    fD = lambda n: 0.3 * jnp.eye(M) + 0.05 * jnp.sin(0.5 * n) * jnp.ones((M, M))  # noqa: E731
    ref_at = lambda t: tuple(np.asarray(f(float(t))) for f in (fal, fa, fb, fc, fD))  # noqa: E731
    ws_ref, ys_ref = _reference(ref_at, H, w_star, w0, T)
    ws, ys = _run(optim.memory_m(fal, fa, fb, fc, fD), H, w_star, w0, T)
    _assert_close(ws, ws_ref)
    _assert_close(ys, ys_ref)

    # inject_hyperparams: exact with the next shift passed, or with `a` kept static ...
    inj = optax.inject_hyperparams(optim.memory_m)
    ws, _ = _run(inj(fal, fa, fb, fc, fD, a_next=lambda n: fa(n + 1)), H, w_star, w0, T)
    _assert_close(ws, ws_ref)
    inj_static = optax.inject_hyperparams(optim.memory_m, static_args=("a",))
    ws, ys = _run(inj_static(fal, fa, fb, fc, fD), H, w_star, w0, T, jit=True)
    _assert_close(ws, ws_ref)
    _assert_close(ys, ys_ref)
    # ... and without it the shift takes effect one step late (documented behaviour):
    # exactly form (3) with a'_t = a_{t-1}
    lag_at = lambda t: (ref_at(t)[0], ref_at(max(t - 1, 0))[1]) + ref_at(t)[2:]  # noqa: E731
    ws_lag_ref, _ = _reference(lag_at, H, w_star, w0, T)
    ws, _ = _run(inj(fal, fa, fb, fc, fD), H, w_star, w0, T)
    _assert_close(ws, ws_lag_ref)
    assert np.abs(ws - ws_ref).max() > 1e-3  # the lag is a real difference


def test_vmap_over_hyperparameters():
    H, w_star, w0 = _problem(3)
    T = 25
    alphas = jnp.array([0.1, 0.3, 0.5])
    shifts = jnp.array([[0.0], [0.4], [-0.3]])

    def run(alpha, a):
        opt = optim.memory_m(alpha, a, jnp.array([0.2]), jnp.array([-0.4]), jnp.array([[0.5]]))
        return _run_traced(opt, H, w_star, w0, T)

    ws = jax.jit(jax.vmap(run))(alphas, shifts)
    for i in range(3):
        alg = ja.memory1(float(alphas[i]), float(shifts[i, 0]), 0.2, -0.4, 0.5)
        ws_ref, _ = _reference(_stationary(alg), H, w_star, w0, T)
        _assert_close(np.asarray(ws[i]), ws_ref[1:])
    # scheduled transforms (AM1, Jacobi HB) vmapped over their hyperparameters: see
    # test_every_transform_under_jit_vmap_and_inject_hyperparams


def _run_traced(opt, H, w_star, w0, T):
    """Like _run but returns only w_1..w_T as a traced array (usable inside vmap)."""
    H, w_star = jnp.asarray(H), jnp.asarray(w_star)

    def body(carry, _):
        y, st = carry
        upd, st = opt.update(H @ (y - w_star), st, y)
        y = y + upd
        return (y, st), optim.weights_from_state(y, st)

    y0 = jnp.asarray(w0)
    return jax.lax.scan(body, (y0, opt.init(y0)), None, length=T)[1]


# Every named transform, its hyperparameters as vmapped traced arrays passed through
# optax.inject_hyperparams, the whole run one jitted scan; reference: the literal iteration of
# (3) with the parameters of the matching MemoryAlgorithm (schedules: jaxaccel.schedules).
_NAMED = {
    "sgd": (optim.sgd, lambda lr: ja.gd(lr), [(0.2,), (0.5,)]),
    "memory1": (optim.memory1, lambda *p: ja.memory1(*p),
                [(0.3, 0.2, 0.4, -0.3, 0.5), (0.5, -0.3, 0.2, -0.5, 0.3)]),
    "heavy_ball": (optim.heavy_ball, lambda lr, m: ja.heavy_ball(lr, m), [(0.3, 0.5), (0.2, 0.8)]),
    "nesterov": (optim.nesterov, lambda lr, m: ja.nesterov(lr, m), [(0.3, 0.5), (0.2, 0.8)]),
    "decoupled_momentum": (optim.decoupled_momentum, lambda e, k, m: ja.am1_form(e, k, m),
                           [(0.1, 0.3, 0.6), (0.05, 0.5, 0.9)]),
    "jacobi_heavy_ball": (optim.jacobi_heavy_ball,
                          lambda a, b, L: ja.jacobi_heavy_ball(a, b, L, steps=21),
                          [(0.5, 0.0, 2.0), (1.3, -0.5, 1.5)]),
    "am1": (optim.am1, lambda *p: ja.am1(*p, steps=21),
            [(0.5, 0.9, 1.0, 0.2, 0.5, 1.0), (0.3, 0.7, 2.0, 0.4, 0.3, 2.0)]),
}


@pytest.mark.parametrize("name", sorted(_NAMED))
def test_every_transform_under_jit_vmap_and_inject_hyperparams(name):
    factory, reference_alg, grid = _NAMED[name]
    H, w_star, w0 = _problem(7)
    T = 20
    hyper = jnp.asarray(np.array(grid))  # (2, number of hyperparameters)
    injected = optax.inject_hyperparams(factory)
    ws = jax.jit(jax.vmap(lambda h: _run_traced(injected(*h), H, w_star, w0, T)))(hyper)
    for i, h in enumerate(grid):
        alg = reference_alg(*h)
        at = _stationary(alg) if alg.is_stationary else _scheduled(alg)
        ws_ref, _ = _reference(at, H, w_star, w0, T)
        _assert_close(np.asarray(ws[i]), ws_ref[1:])


# ----------------------------------------------------------------------------- named algorithms
def test_heavy_ball_and_sgd_equal_optax_momentum():
    H, w_star, w0 = _problem(4)
    T = 40
    # optax.sgd's state holds no MemoryState: run it with the plain driver
    ref_hb = _run_plain(optax.sgd(0.3, momentum=0.8), H, w_star, w0, T)
    ws, _ = _run(optim.heavy_ball(0.3, 0.8), H, w_star, w0, T)
    _assert_close(ws, ref_hb)
    ref_sgd = _run_plain(optax.sgd(0.4), H, w_star, w0, T)
    ws, _ = _run(optim.sgd(0.4), H, w_star, w0, T)
    _assert_close(ws, ref_sgd)
    # PyTorch/optax Nesterov momentum = decoupled form (250) with eta = lr mu, eta' = lr
    ref_nag = _run_plain(optax.sgd(0.3, momentum=0.8, nesterov=True), H, w_star, w0, T)
    ws, _ = _run(optim.decoupled_momentum(0.3 * 0.8, 0.3, 0.8), H, w_star, w0, T)
    _assert_close(ws, ref_nag)
    # scheduled learning rate: optax's momentum is PyTorch-style (memory1 with alpha = lr_t,
    # b = -lr_t mu, c = 1, D = mu), not Heavy Ball with alpha_t = lr_t
    sched = optax.cosine_decay_schedule(0.5, 30, alpha=0.2)
    ref_s = _run_plain(optax.sgd(sched, momentum=0.8), H, w_star, w0, T)
    for factory in (optim.memory1, optax.inject_hyperparams(optim.memory1)):
        ws, _ = _run(factory(sched, 0.0, lambda n: -0.8 * sched(n), 1.0, 0.8), H, w_star, w0, T)
        _assert_close(ws, ref_s)
    # scheduled Heavy Ball against its textbook recurrence, direct and injected
    w, prev, ref_hb_s = w0.copy(), w0.copy(), [w0.copy()]
    for t in range(T):
        w, prev = w - float(sched(t)) * H @ (w - w_star) + 0.8 * (w - prev), w
        ref_hb_s.append(w.copy())
    for opt in (optim.heavy_ball(sched, 0.8),
                optax.inject_hyperparams(optim.heavy_ball)(learning_rate=sched, momentum=0.8)):
        ws, _ = _run(opt, H, w_star, w0, T)
        _assert_close(ws, np.array(ref_hb_s))


def _run_plain(opt, H, w_star, w0, T):
    """Eager run of a transform whose state holds no MemoryState (w_t = stored parameters)."""
    Hj, wsj = jnp.asarray(H), jnp.asarray(w_star)
    y = jnp.asarray(w0)
    st, ys = opt.init(y), [w0]
    for _ in range(T):
        upd, st = opt.update(Hj @ (y - wsj), st, y)
        y = y + upd
        ys.append(np.asarray(y))
    return np.array(ys)


def test_nesterov_textbook_with_momentum_schedule():
    H, w_star, w0 = _problem(5)
    T = 40
    alpha = 0.35
    beta = lambda n: 0.9 * n / (n + 3.0)  # noqa: E731  (time-dependent shift a_t = beta_t)
    # textbook: y_t = w_t + beta_t (w_t - w_{t-1}),  w_{t+1} = y_t - alpha grad L(y_t)
    w, prev, ws = w0.copy(), w0.copy(), [w0.copy()]
    for t in range(T):
        y = w + beta(float(t)) * (w - prev)
        w, prev = y - alpha * H @ (y - w_star), w
        ws.append(w.copy())
    ws_got, ys_got = _run(optim.nesterov(alpha, beta), H, w_star, w0, T)
    _assert_close(ws_got, np.array(ws))
    # the stored parameters are the look-ahead points
    ys_ref = np.array([ws[t] + beta(float(t)) * (ws[t] - ws[max(t - 1, 0)]) for t in range(T + 1)])
    _assert_close(ys_got, ys_ref)


@pytest.mark.slow
def test_am1_full_batch_equals_simulate_and_torch_nesterov():
    """AM1 over 60 steps (jitted) against the literal iteration and, another view, the SE engine
    in full batch (C^(k) = e_k e_k^T exactly); PyTorch Nesterov through from_algorithm."""
    lam = np.array([1.0, 0.5, 0.2, 0.05, 0.01])
    H, w_star = np.diag(lam), np.zeros(5)
    w0 = np.array([1.0, -0.7, 0.4, 0.9, -1.2])
    T = 60
    alg = ja.am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0, steps=T + 1)
    ws_ref, _ = _reference(_scheduled(alg), H, w_star, w0, T)
    ws, _ = _run(optim.am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0), H, w_star, w0, T, jit=True)
    _assert_close(ws, ws_ref)
    se = ja.simulate(ja.Spectrum(lam, w0**2), alg, T)
    loss = 0.5 * (lam * ws**2).sum(axis=1)
    np.testing.assert_allclose(loss, np.asarray(se.loss), rtol=TOL, atol=0)
    torch_nag = ja.torch_momentum(0.3, 0.8, nesterov=True)
    ws_ref, _ = _reference(_stationary(torch_nag), H, w_star, w0, 30)
    ws, _ = _run(optim.from_algorithm(torch_nag), H, w_star, w0, 30)
    _assert_close(ws, ws_ref)


def test_inject_hyperparams_manual_override_and_dtype():
    H, w_star, w0 = _problem(6)
    opt = optax.inject_hyperparams(optim.heavy_ball)(learning_rate=0.3, momentum=0.5)
    y = jnp.asarray(w0)
    st = opt.init(y)
    ref = _run_plain(optax.sgd(0.3, momentum=0.5), H, w_star, w0, 5)
    for _ in range(5):
        upd, st = opt.update(jnp.asarray(H) @ (y - w_star), st, y)
        y = y + upd
    _assert_close(np.asarray(y), ref[-1])
    st.hyperparams["learning_rate"] = jnp.asarray(0.0)  # switch the gradient off
    st.hyperparams["momentum"] = jnp.asarray(1.0)  # pure momentum: w_{t+1} - w_t = u_t
    u = np.asarray(st.inner_state.memory[0])
    upd, st = opt.update(jnp.asarray(H) @ (y - w_star), st, y)
    np.testing.assert_allclose(np.asarray(upd), u, rtol=0, atol=1e-15)
    # float32 parameters give float32 updates and state
    opt32 = optim.memory1(0.1, 0.2, 0.3, -0.1, 0.5)
    p = jnp.ones(3, jnp.float32)
    upd, st32 = opt32.update(p, opt32.init(p), p)
    assert upd.dtype == jnp.float32 and st32.memory.dtype == jnp.float32


def test_weights_from_state_through_chain():
    opt = optax.chain(optax.clip_by_global_norm(1e6), optim.nesterov(0.1, 0.5))
    y = jnp.array([1.0, 2.0])
    st = opt.init(y)
    for _ in range(3):
        upd, st = opt.update(y, st, y)
        y = y + upd
    w = np.asarray(optim.weights_from_state(y, st))
    # Nesterov on L = |w|^2/2 from w0: w_{t+1} = (1 - alpha)(w_t + beta (w_t - w_{t-1}))
    ref = [np.array([1.0, 2.0])] * 2
    for _ in range(3):
        ref.append(0.9 * (ref[-1] + 0.5 * (ref[-1] - ref[-2])))
    np.testing.assert_allclose(w, ref[-1], rtol=1e-14)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_named_errors():
    with pytest.raises(ValueError, match="learning_rate"):
        optim.heavy_ball(-0.1, 0.9)
    with pytest.raises(ValueError, match="learning_rate"):
        optim.sgd(lambda n: -0.1 + 0.0 * n)
    with pytest.raises(ValueError, match="alpha"):
        optim.memory_m(-1.0, jnp.zeros(1), jnp.zeros(1), jnp.zeros(1), jnp.zeros((1, 1)))
    with pytest.raises(ValueError, match="eta_prime"):
        optim.decoupled_momentum(0.1, -0.5, 0.9)
    with pytest.raises(ValueError, match="alpha0"):
        optim.am1(0.5, 0.9, 0.1, 0.2, 0.5)  # eta_0 < 0
    with pytest.raises(ValueError, match="theta"):
        optim.am1(0.5, 0.9, 1.0, -0.2, 0.5)
    with pytest.raises(ValueError, match="kappa"):
        optim.am1(0.5, 1.5, 1.0, 0.2, 0.5)
    with pytest.raises(ValueError, match="algorithm.alpha"):
        optim.from_algorithm(ja.memory1(-0.1, 0.0, 0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="algorithm"):
        optim.from_algorithm("heavy ball")
    with pytest.raises(ValueError, match="D"):
        optim.memory_m(0.1, jnp.zeros(2), jnp.zeros(2), jnp.zeros(2), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="b"):
        optim.memory_m(0.1, jnp.zeros(2), jnp.zeros(3), jnp.zeros(2), jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="momentum"):
        optim.heavy_ball(0.1, float("nan"))
    # mismatched pytree structures between gradients / parameters and the state
    opt = optim.heavy_ball(0.1, 0.9)
    st = opt.init({"w": jnp.zeros(3), "b": jnp.zeros(())})
    with pytest.raises(ValueError, match="updates"):
        opt.update({"w": jnp.zeros(3)}, st)
    with pytest.raises(ValueError, match="updates"):
        opt.update({"w": jnp.zeros(4), "b": jnp.zeros(())}, st)
    with pytest.raises(ValueError, match="params"):
        opt.update({"w": jnp.zeros(3), "b": jnp.zeros(())}, st, [jnp.zeros(3), jnp.zeros(())])
    with pytest.raises(ValueError, match="params"):
        optim.weights_from_state(jnp.zeros(3), st)
    with pytest.raises(ValueError, match="MemoryState"):
        optim.weights_from_state(jnp.zeros(3), optax.sgd(0.1).init(jnp.zeros(3)))
    # the structure check also fires at trace time under jit
    with pytest.raises(ValueError, match="updates"):
        jax.jit(opt.update)({"w": jnp.zeros(3)}, st)
