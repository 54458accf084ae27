"""The rivals of the literature (theory §14): presets = the papers' updates written out by hand.

Independent references: each method's update iterated literally in its own variables (NumPy,
float64, on a random quadratic ``L = 1/2 (w-w*)^T H (w-w*)``), against (i) the preset's
MemoryAlgorithm parameters iterated as form (3), (ii) the optax transform, (iii) the SE engine in
full batch (loss of the diagonalised problem). Tolerance 1e-12 relative.
"""

import numpy as np
import jax.numpy as jnp
import optax
import pytest

import jaxaccel as ja
from jaxaccel import optim

TOL = 1e-12
T = 40


def _problem(seed=0, d=5):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    H = A @ A.T / d + 0.05 * np.eye(d)
    H /= np.linalg.eigvalsh(H).max()
    return H, rng.normal(size=d), rng.normal(size=d)


H, WS, W0 = _problem()


def grad(w):
    return H @ (w - WS)


def _form3(alg, steps=T):
    """Form (3) iterated from the preset's parameters: ``w_t`` for t = 0..steps."""
    w, u = W0.copy(), np.zeros((alg.memory, W0.size))
    out = [w.copy()]
    for t in range(steps):
        alpha, a, b, c, D = (np.asarray(x, np.float64) for x in alg.at(t).params)
        g = grad(w + a @ u)
        w, u = w - alpha * g + b @ u, np.outer(c, g) + D @ u
        out.append(w.copy())
    return np.array(out)


def _optax(opt, steps=T):
    y, st, out = jnp.asarray(W0), None, [W0.copy()]
    st = opt.init(y)
    for _ in range(steps):
        upd, st = opt.update(jnp.asarray(grad(np.asarray(y))), st, y)
        y = optax.apply_updates(y, upd)
        out.append(np.asarray(optim.weights_from_state(y, st)))
    return np.array(out)


def _close(got, ref):
    err = np.abs(got - ref).max() / max(1.0, np.abs(ref).max())
    assert err < TOL, err


# ----------------------------------------------------------------------------- hand-written updates
def hand_dana(g2, g3, Delta, g1=1.0, steps=T):
    """Ferbach et al. (2025): y <- (1-Delta_t) y + g1 g; w <- w - g2 g - g3_t y."""
    w, y, out = W0.copy(), np.zeros_like(W0), [W0.copy()]
    for t in range(steps):
        g = grad(w)
        y = (1 - Delta(t)) * y + g1 * g
        w = w - g2 * g - g3(t) * y
        out.append(w.copy())
    return np.array(out)


def hand_accsgd(alpha, beta, gamma, delta, steps=T):
    """Jain et al. (2018), Algorithm 1 (v_0 = w_0)."""
    w, v, out = W0.copy(), W0.copy(), [W0.copy()]
    for _ in range(steps):
        vbar = alpha * w + (1 - alpha) * v
        g = grad(vbar)
        w = vbar - delta * g
        v = beta * vbar + (1 - beta) * v - gamma * g
        out.append(w.copy())
    return np.array(out)


def hand_accsgd_torch(lr, kappa, xi, c0, steps=T):
    """Kidambi et al. (2018) PyTorch AccSGD (buffer initialised to the parameters)."""
    big = lr * kappa / c0
    A = 1 - c0 * c0 * xi / kappa
    B = 1 - A
    z = c0 / (c0 + B)
    p, buf, out = W0.copy(), W0.copy(), [W0.copy()]
    for _ in range(steps):
        g = grad(p)
        buf = B * ((1 / B - 1) * buf - big * g + p)
        p = z * (p - lr * g) + (1 - z) * buf
        out.append(p.copy())
    return np.array(out)


def hand_varre_flammarion(alpha, beta, steps=T):
    """Varre & Flammarion (2022) as written in theory §14.4 (nu_0 = theta_0)."""
    th, nu, out = W0.copy(), W0.copy(), [W0.copy()]
    for t in range(steps):
        g = grad(nu)
        th_new = nu - beta * g
        nu = th_new + t / (t + 3) * (th_new - th) - alpha * g
        th = th_new
        out.append(th.copy())
    return np.array(out)


def hand_flammarion_bach(alpha, beta, gamma, steps=T):
    """Flammarion & Bach (2015) second-order recursion with theta_{-1} = theta_0."""
    prev, cur, out = W0.copy(), W0.copy(), [W0.copy()]
    for _ in range(steps):
        new = (cur + (1 - alpha) * (cur - prev) - beta * grad(cur)
               - gamma * (grad(cur) - grad(prev)))
        prev, cur = cur, new
        out.append(cur.copy())
    return np.array(out)


def hand_schedule_free(lr, beta, steps=T):
    """Defazio et al. (2024): x_1 = z_1, c_{t+1} = 1/(t+1) counting t from 1."""
    x, z, out = W0.copy(), W0.copy(), [W0.copy()]
    for t in range(1, steps + 1):
        y = (1 - beta) * z + beta * x
        z = z - lr * grad(y)
        c = 1.0 / (t + 1)
        x = (1 - c) * x + c * z
        out.append(x.copy())
    return np.array(out)


CASES = {
    "dana": (lambda: ja.dana(0.4, 0.05, 0.1, 0.9), lambda: optim.dana(0.4, 0.05, 0.1, 0.9),
             lambda: hand_dana(0.4, lambda t: 0.05, lambda t: 0.1, 0.9)),
    "dana_constant": (lambda: ja.dana_constant(0.4, 2.0, 1.0, T, dim=5),
                      lambda: optim.dana_constant(0.4, 2.0, 1.0, dim=5),
                      lambda: hand_dana(0.4, lambda t: 2.0 / 5, lambda t: 1.0 / (1 + t))),
    "dana_decay": (lambda: ja.dana_decay(0.4, 0.5, 0.8, T, exponent=0.5),
                   lambda: optim.dana_decay(0.4, 0.5, 0.8, exponent=0.5),
                   lambda: hand_dana(0.4, lambda t: 0.5 * (1 + t) ** -0.5, lambda t: 0.8 / (1 + t))),
    "accsgd": (lambda: ja.accsgd(0.9, 0.1, 2.0, 0.5), lambda: optim.accsgd(0.9, 0.1, 2.0, 0.5),
               lambda: hand_accsgd(0.9, 0.1, 2.0, 0.5)),
    "accsgd_torch": (lambda: ja.accsgd_torch(0.3, 50.0, 5.0, 0.7),
                     lambda: optim.accsgd_torch(0.3, 50.0, 5.0, 0.7),
                     lambda: hand_accsgd_torch(0.3, 50.0, 5.0, 0.7)),
    "varre_flammarion": (lambda: ja.varre_flammarion(0.05, 0.6, T),
                         lambda: optim.varre_flammarion(0.05, 0.6),
                         lambda: hand_varre_flammarion(0.05, 0.6)),
    "flammarion_bach": (lambda: ja.flammarion_bach(0.1, 0.6, 0.3),
                        lambda: optim.flammarion_bach(0.1, 0.6, 0.3),
                        lambda: hand_flammarion_bach(0.1, 0.6, 0.3)),
    "schedule_free": (lambda: ja.schedule_free_sgd(0.8, 0.9, T),
                      lambda: optim.schedule_free_sgd(0.8, 0.9),
                      lambda: hand_schedule_free(0.8, 0.9)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_preset_and_optax_equal_the_papers_update(name):
    make_alg, make_opt, hand = CASES[name]
    ref = hand()
    assert np.abs(ref[-1] - ref[0]).max() > 1e-3  # the runs move
    _close(_form3(make_alg()), ref)
    _close(_optax(make_opt()), ref)


@pytest.mark.parametrize("name", ["accsgd", "schedule_free", "dana_decay"])
def test_se_engine_full_batch_equals_the_hand_loss(name):
    """The engine in full batch on the eigenbasis of H: L_t = 1/2 (w_t-w*)^T H (w_t-w*)."""
    make_alg, _, hand = CASES[name]
    lam, Q = np.linalg.eigh(H)
    spec = ja.Spectrum(lam, (Q.T @ (W0 - WS)) ** 2)
    res = ja.simulate(spec, make_alg(), T, batch_size=None)
    e = hand() - WS
    loss = 0.5 * np.einsum("ti,ij,tj->t", e, H, e)
    np.testing.assert_allclose(np.asarray(res.loss), loss, rtol=1e-11, atol=0)


def test_accsgd_torch_is_accsgd_at_the_gradient_point():
    """Kidambi's parameters are Jain's Algorithm 1 seen at bar v: same characteristic polynomials."""
    lr, kappa, xi, c0 = 0.3, 50.0, 5.0, 0.7
    A = 1 - c0 * c0 * xi / kappa
    B, big = 1 - A, lr * kappa / c0
    z = c0 / (c0 + B)
    P1, Q1 = ja.characteristic_polynomials(ja.accsgd_torch(lr, kappa, xi, c0))
    P2, Q2 = ja.characteristic_polynomials(ja.accsgd(z, B, B * big, lr))
    np.testing.assert_allclose(np.asarray(P1), np.asarray(P2), atol=1e-13)
    np.testing.assert_allclose(np.asarray(Q1), np.asarray(Q2), atol=1e-13)


def test_problem_quantities_from_the_spectrum():
    spec = ja.power_law_spectrum(50, nu=2.0, zeta=0.5)
    a1 = ja.dana_constant(0.4, 2.0, 1.0, 5, spectrum=spec)
    a2 = ja.dana_constant(0.4, 2.0, 1.0, 5, dim=50)
    np.testing.assert_allclose(np.asarray(a1.b), np.asarray(a2.b), rtol=1e-15)
    b1 = ja.dana_decay(0.4, 2.0, 1.0, 5, spectrum=spec)
    b2 = ja.dana_decay(0.4, 2.0, 1.0, 5, exponent=0.5)
    np.testing.assert_allclose(np.asarray(b1.b), np.asarray(b2.b), rtol=1e-15)
    assert ja.SCHEDULE_FREE_IS_MEMORY_M and not ja.schedule_free_sgd(1.0, 0.9, 3).is_stationary


@pytest.mark.parametrize("call, name", [
    (lambda: ja.dana(-0.1, 0.1, 0.1), "gamma2"),
    (lambda: ja.dana(0.1, float("nan"), 0.1), "gamma3"),
    (lambda: ja.dana_constant(0.1, 0.1, 0.5, 10), "dim"),
    (lambda: ja.dana_constant(0.1, 0.1, 0.5, 10, dim=0.0), "dim"),
    (lambda: ja.dana_constant(0.1, 0.1, 1.5, 10, dim=3), "delta"),
    (lambda: ja.dana_decay(0.1, 0.1, 0.5, 10, spectrum=ja.Spectrum([1.0], [1.0])), "exponent"),
    (lambda: ja.dana_decay(0.1, 0.1, 0.5, 0, exponent=0.5), "steps"),
    (lambda: ja.accsgd(0.5, 0.5, -1.0, 0.1), "gamma"),
    (lambda: ja.accsgd_torch(0.1, small_const=2.0), "small_const"),
    (lambda: ja.accsgd_torch(0.1, kappa=1.0, xi=10.0), "kappa"),
    (lambda: ja.varre_flammarion(0.1, 0.0, 10), "beta"),
    (lambda: ja.flammarion_bach(0.1, -0.5, 0.1), "beta"),
    (lambda: ja.schedule_free_sgd(0.1, 1.5, 10), "beta"),
    (lambda: ja.schedule_free_sgd(np.ones(3), 0.5, 10), "lr"),
    (lambda: optim.dana_decay(0.1, 0.1, 0.5), "exponent"),
    (lambda: optim.accsgd_torch(-0.1), "lr"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
