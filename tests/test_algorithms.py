"""Memory-M algorithms: Theorem 1, the converse construction, alpha_eff, constructors.

References: numpy determinants and adjugates (eq. 36), explicit textbook recurrences of each
method on a random quadratic, the multistep recurrence (8).
"""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel as ja


def _random_alg(rng, M):
    return ja.MemoryAlgorithm(
        rng.normal() * 0.5, rng.normal(size=M) * 0.5, rng.normal(size=M) * 0.5,
        rng.normal(size=M) * 0.5, rng.normal(size=(M, M)) * 0.4,
    )


def _adj(A):
    return np.linalg.det(A) * np.linalg.inv(A)


@pytest.mark.parametrize("M", [1, 2, 3])
def test_theorem1_determinant_identity_and_eq36(M):
    rng = np.random.default_rng(M)
    for _ in range(5):
        alg = _random_alg(rng, M)
        P, Q = (np.asarray(x) for x in ja.characteristic_polynomials(alg))
        assert P.shape == (M + 2,) and Q.shape == (M + 1,)
        assert abs(P[-1] - 1) < 1e-14 and abs(P.sum()) < 1e-13  # monic, P(1) = 0
        alpha, a, b, c, D = (np.asarray(x) for x in alg.params)
        for mu, lam in rng.normal(size=(6, 2)) * 1.5:
            S = np.asarray(alg.transition_matrix(lam))
            lhs = np.linalg.det(mu * np.eye(M + 1) - S)
            rhs = np.polyval(P[::-1], mu) - lam * np.polyval(Q[::-1], mu)
            assert abs(lhs - rhs) < 1e-12 * max(1.0, abs(lhs))
            # eq. (36) written out with determinants and adjugates
            A = mu * np.eye(M) - D
            q36 = -alpha * np.linalg.det(A) + b @ _adj(A) @ c + (mu - 1) * a @ _adj(A) @ c
            p36 = (mu - 1) * np.linalg.det(A)
            assert abs(np.polyval(Q[::-1], mu) - q36) < 1e-11 * max(1.0, abs(q36))
            assert abs(np.polyval(P[::-1], mu) - p36) < 1e-11 * max(1.0, abs(p36))


@pytest.mark.parametrize("M", [0, 1, 2, 3])
def test_from_multistep_round_trip(M):
    rng = np.random.default_rng(10 + M)
    roots = rng.uniform(-0.9, 0.9, size=M)
    P = np.polynomial.polynomial.polyfromroots(np.concatenate([[1.0], roots]))
    Q = rng.normal(size=M + 1)
    alg = ja.from_multistep(P, Q)
    P2, Q2 = ja.characteristic_polynomials(alg)
    np.testing.assert_allclose(P2, P, atol=1e-13)
    np.testing.assert_allclose(Q2, Q, atol=1e-13)
    assert np.all(np.asarray(alg.a) == 0)
    # and from an arbitrary algorithm (with a != 0) back to an a = 0 realisation
    if M:
        alg0 = _random_alg(rng, M)
        P0, Q0 = ja.characteristic_polynomials(alg0)
        P3, Q3 = ja.characteristic_polynomials(ja.from_multistep(P0, Q0))
        np.testing.assert_allclose(P3, P0, atol=1e-12)
        np.testing.assert_allclose(Q3, Q0, atol=1e-12)


def test_from_multistep_rejects_bad_polynomials():
    with pytest.raises(ValueError, match="monic"):
        ja.from_multistep([0.5, -1.0, 2.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="P\\(1\\)"):
        ja.from_multistep([0.5, -2.0, 1.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="Q"):
        ja.from_multistep([0.0, -1.0, 1.0], [0.1, 0.2, 0.3])


def _run_matrix_form(alg, H, w_star, w0, T):
    """Iterate (3) literally on the quadratic L = 1/2 (w-w*)^T H (w-w*)."""
    alpha, a, b, c, D = (np.asarray(x) for x in alg.params)
    M = a.shape[-1]
    w, u = w0.copy(), np.zeros((M, w0.shape[0]))
    ws = [w.copy()]
    for _ in range(T):
        g = H @ (w + a @ u - w_star)
        w, u = w - alpha * g + b @ u, np.outer(c, g) + D @ u
        ws.append(w.copy())
    return np.array(ws)


@pytest.mark.parametrize("M", [1, 2, 3])
def test_multistep_recurrence_reproduces_matrix_form(M):
    rng = np.random.default_rng(20 + M)
    d, T = 5, 40
    A = rng.normal(size=(d, d))
    H = A @ A.T / d + 0.1 * np.eye(d)
    H /= np.linalg.eigvalsh(H).max()
    w_star, w0 = rng.normal(size=d), rng.normal(size=d)
    alg = _random_alg(rng, M)
    ws = _run_matrix_form(alg, H, w_star, w0, T)
    P, Q = (np.asarray(x) for x in ja.characteristic_polynomials(alg))
    p, q = -P[:-1], Q
    assert abs(p.sum() - 1) < 1e-12
    grad = lambda w: H @ (w - w_star)  # noqa: E731
    scale = np.abs(ws).max()
    for t in range(M, T):
        pred = sum(p[m] * ws[t - M + m] + q[m] * grad(ws[t - M + m]) for m in range(M + 1))
        assert np.max(np.abs(pred - ws[t + 1])) < 1e-11 * max(1.0, scale)


def test_effective_learning_rate():
    rng = np.random.default_rng(3)
    assert abs(float(ja.effective_learning_rate(ja.gd(0.7))) - 0.7) < 1e-15
    for alpha, beta in [(0.3, 0.5), (1.0, 0.9), (0.2, -0.4)]:
        for ctor in (ja.heavy_ball, ja.nesterov):
            assert abs(float(ja.effective_learning_rate(ctor(alpha, beta))) - alpha / (1 - beta)) < 1e-13
    eta, etap, beta = 0.05, 0.4, 0.95
    got = float(ja.effective_learning_rate(ja.am1_form(eta, etap, beta)))
    assert abs(got - (eta / (1 - beta) + etap)) < 1e-13
    for M in (1, 2, 3):
        alg = _random_alg(rng, M)
        P, Q = (np.asarray(x) for x in ja.characteristic_polynomials(alg))
        dP1 = sum(m * P[m] for m in range(1, P.size))
        assert abs(float(ja.effective_learning_rate(alg)) + Q.sum() / dP1) < 1e-11


def _run_textbook(name, params, H, w_star, w0, T):
    d = w0.shape[0]
    g = lambda w: H @ (w - w_star)  # noqa: E731
    w, prev, v = w0.copy(), w0.copy(), np.zeros(d)
    out = [w.copy()]
    for _ in range(T):
        if name == "heavy_ball":
            alpha, beta = params
            w, prev = w - alpha * g(w) + beta * (w - prev), w
        elif name == "nesterov":
            alpha, beta = params
            y = w + beta * (w - prev)
            w, prev = y - alpha * g(y), w
        elif name == "torch":
            lr, mu = params
            v = mu * v + g(w)
            w = w - lr * v
        elif name == "torch_nesterov":
            lr, mu = params
            gr = g(w)
            v = mu * v + gr
            w = w - lr * (gr + mu * v)
        elif name == "am1":
            eta, etap, beta = params
            gr = g(w)
            v = beta * v + gr
            w = w - eta * v - etap * gr
        out.append(w.copy())
    return np.array(out)


@pytest.mark.parametrize(
    "name, params, ctor",
    [
        ("heavy_ball", (0.4, 0.7), lambda p: ja.heavy_ball(*p)),
        ("nesterov", (0.4, 0.7), lambda p: ja.nesterov(*p)),
        ("torch", (0.3, 0.8), lambda p: ja.torch_momentum(*p)),
        ("torch_nesterov", (0.3, 0.8), lambda p: ja.torch_momentum(*p, nesterov=True)),
        ("am1", (0.05, 0.5, 0.9), lambda p: ja.am1_form(*p)),
    ],
)
def test_constructors_reproduce_textbook_recurrences(name, params, ctor):
    rng = np.random.default_rng(4)
    d, T = 6, 50
    A = rng.normal(size=(d, d))
    H = A @ A.T / d
    H /= np.linalg.eigvalsh(H).max()
    w_star, w0 = rng.normal(size=d), rng.normal(size=d)
    ref = _run_textbook(name, params, H, w_star, w0, T)
    got = _run_matrix_form(ctor(params), H, w_star, w0, T)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_triplet_realisation():
    delta, q0, q1 = 0.1, 0.5, -0.8
    P, Q = ja.characteristic_polynomials(ja.memory1_triplet(delta, q0, q1))
    np.testing.assert_allclose(P, np.polynomial.polynomial.polyfromroots([1.0, 1 - delta]), atol=1e-15)
    np.testing.assert_allclose(Q, [q0, q1], atol=1e-15)


def test_schedules_and_vmap():
    T = 7
    alg = ja.heavy_ball(np.linspace(0.1, 0.7, T), 0.5)
    assert alg.num_steps == T and not alg.is_stationary
    assert alg.b.shape == (T, 1) and alg.D.shape == (T, 1, 1)
    np.testing.assert_allclose(ja.effective_learning_rate(alg), np.linspace(0.1, 0.7, T) / 0.5)
    P, Q = ja.characteristic_polynomials(alg)
    assert P.shape == (T, 3) and Q.shape == (T, 2)
    f = jax.vmap(lambda a, b: ja.effective_learning_rate(ja.heavy_ball(a, b)))
    np.testing.assert_allclose(f(jnp.array([0.1, 0.2]), jnp.array([0.5, 0.75])), [0.2, 0.8])


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.nan, [0.0], [0.1], [0.1], [[0.5]]), "alpha"),
        ((0.1, [0.0, 0.0], [0.1], [0.1], [[0.5]]), "b"),
        ((0.1, [0.0], [0.1], [0.1], [[0.5, 0.1]]), "D"),
        ((0.1, [0.0], [0.1], [0.1], [[np.inf]]), "D"),
        ((np.ones(3), np.zeros((4, 1)), [0.1], [0.1], [[0.5]]), "schedule lengths"),
        ((np.ones((2, 2)), [0.0], [0.1], [0.1], [[0.5]]), "alpha"),
        (("x", [0.0], [0.1], [0.1], [[0.5]]), "alpha"),
    ],
)
def test_memory_algorithm_rejects_bad_parameters(args, match):
    with pytest.raises(ValueError, match=match):
        ja.MemoryAlgorithm(*args)


def test_memory1_rejects_mismatched_schedules():
    with pytest.raises(ValueError, match="schedules of one length"):
        ja.memory1(np.ones(3), 0.0, np.ones(4), 1.0, 0.5)
    with pytest.raises(ValueError, match="beta"):
        ja.heavy_ball(0.1, np.nan)
