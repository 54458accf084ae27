"""End-to-end update rule, fractional powers and the preconditioner P_{W_e} (issue 7).

Spec depth_stacking.md §A2-§A5. Independent references: SciPy's ``fractional_matrix_power``
(Schur-Pade, not ``eigh``) for the PSD powers; the literal N-term sum of spec eq. (10) written
with those powers in NumPy; ``np.kron`` for the vectorised P_W; the N-term sum of powers of
singular values for the divided difference; the closed form of §A5 for one output;
brute-force layer-by-layer gradient descent for the discrete rule (O(eta) agreement);
RK4 integration of the layer ODE for Theorem 1; finite differences of singular values.
"""

import numpy as np
import jax
import jax.numpy as jnp
import pytest
import scipy.linalg

import jaxaccel.depth as jd

F64 = 1e-12  # the float64 entry of the dtype-keyed tolerance table in conftest.py

# the functions under test, jitted once per shape (also checks that they trace)
# (SVD paths with a traced depth: one compilation per shape; the eigh reference paths need a
# Python depth and run eagerly, so their per-shape primitive compilations are shared by all N)
direction = jax.jit(jd.end_to_end_direction)
P_eigenvalues = jax.jit(jd.preconditioner_eigenvalues)
direction_eigh = jd.end_to_end_direction_eigh
P_matrix = jd.preconditioner_matrix
psd_power = jd.psd_power


# ----------------------------------------------------------------------------- references
def np_psd_power(M, a):
    """Fractional power of a PSD matrix by SciPy (Schur-Pade), with M^0 = I (spec §A2)."""
    if a == 0:
        return np.eye(M.shape[0])
    return np.real(scipy.linalg.fractional_matrix_power(M, a))


def np_rule_sum(W, G, N):
    """Literal sum_j [W W^T]^{(j-1)/N} G [W^T W]^{(N-j)/N} (spec eq. 10), full-rank W only."""
    A, B = W @ W.T, W.T @ W
    return sum(np_psd_power(A, (j - 1) / N) @ G @ np_psd_power(B, (N - j) / N)
               for j in range(1, N + 1))


def np_kron_P(W, N):
    """P_W = sum_j (W^T W)^{(N-j)/N} (x) (W W^T)^{(j-1)/N} (spec §A4), via eigh in NumPy."""
    def pw(M, a):
        if a == 0:
            return np.eye(M.shape[0])
        mu, Q = np.linalg.eigh(M)
        mu = np.where(mu > 1e-13 * max(mu.max(), 1e-300), mu, 0.0)
        return (Q * mu**a) @ Q.T
    A, B = W @ W.T, W.T @ W
    return sum(np.kron(pw(B, (N - j) / N), pw(A, (j - 1) / N)) for j in range(1, N + 1))


def vec(G):
    """Column-stacking vec."""
    return np.asarray(G).T.reshape(-1)


def rank_deficient(rng, k, d, r):
    """A (k, d) matrix of exact rank r built from its SVD (zeros are exact)."""
    U = np.linalg.qr(rng.normal(size=(k, k)))[0]
    Vm = np.linalg.qr(rng.normal(size=(d, d)))[0]
    s = np.zeros(min(k, d))
    s[:r] = np.linspace(1.3, 0.4, r)
    S = np.zeros((k, d))
    S[np.arange(len(s)), np.arange(len(s))] = s
    return U @ S @ Vm.T


# ----------------------------------------------------------------------------- fractional powers
def test_psd_power_matches_scipy_and_zero_power_is_identity_on_kernel(rng):
    B = rng.normal(size=(5, 3))
    M = B @ B.T  # rank 3 of 5: a two-dimensional kernel
    for a in (1 / 3, 0.5, 2 / 3, 1.5):
        got = np.asarray(psd_power(jnp.asarray(M), a))
        # reference: powers of the non-zero eigenvalues only (SciPy on the range)
        mu, Q = np.linalg.eigh(M)
        Qr, mr = Q[:, 2:], mu[2:]
        ref = (Qr * mr**a) @ Qr.T
        assert np.max(np.abs(got - ref)) < 1e-12 * max(1.0, np.abs(ref).max())
    full = rng.normal(size=(4, 4))
    Mf = full @ full.T + 0.1 * np.eye(4)
    for a in (1 / 3, 0.75):
        ref = np_psd_power(Mf, a)
        assert np.max(np.abs(np.asarray(psd_power(jnp.asarray(Mf), a)) - ref)) < 1e-11
    # M^0 = I including on the kernel (not the range projector)
    np.testing.assert_array_equal(np.asarray(psd_power(jnp.asarray(M), 0)), np.eye(5))


def test_divided_difference_equals_explicit_sum(rng):
    sl = np.array([2.0, 1.0, 1.0 + 1e-9, 0.3, 0.0])
    sr = np.array([1.0, 0.0, 2.0, 0.3 * (1 + 1e-12), 0.7, 0.0])
    for N in (1, 2, 3, 4, 8):
        ref = np.zeros((5, 6))
        for j in range(1, N + 1):
            a = np.where(sl > 0, sl, 0.0) ** (2 * (j - 1) / N) if j > 1 else np.ones(5)
            b = np.where(sr > 0, sr, 0.0) ** (2 * (N - j) / N) if j < N else np.ones(6)
            ref += a[:, None] * b[None, :]
        got = np.asarray(jd.divided_difference(jnp.asarray(sl), jnp.asarray(sr), N))
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    # closed-form cases of the spec table for N = 3
    lam = np.asarray(jd.divided_difference(jnp.array([2.0, 0.0]), jnp.array([2.0, 0.0, 1.0]), 3))
    assert lam[0, 0] == pytest.approx(3 * 2.0 ** (4 / 3), rel=1e-14)      # equal: N s^(2-2/N)
    assert lam[0, 1] == pytest.approx(2.0 ** (4 / 3), rel=1e-14)          # one zero: s^(2-2/N)
    assert lam[1, 1] == 0.0                                               # both zero
    assert lam[0, 2] == pytest.approx((4 - 1) / (2 ** (2 / 3) - 1), rel=1e-14)  # ratio form


# ----------------------------------------------------------------------------- the operator
def test_svd_direction_matches_literal_sum_full_rank(rng):
    W = rng.normal(size=(3, 3)) + 2 * np.eye(3)  # square, full rank: SciPy powers are exact
    G = rng.normal(size=(3, 3))
    for N in (1, 2, 3, 5):
        ref = np_rule_sum(W, G, N)
        got = np.asarray(direction(jnp.asarray(W), jnp.asarray(G), N))
        assert np.max(np.abs(got - ref)) < F64 * 100 * np.abs(ref).max()
        got_e = np.asarray(direction_eigh(jnp.asarray(W), jnp.asarray(G), N))
        assert np.max(np.abs(got_e - ref)) < F64 * 100 * np.abs(ref).max()


@pytest.mark.parametrize("shape,rank", [((2, 5), 2), ((4, 4), 2), ((3, 5), 1)])
def test_svd_direction_rank_deficient_matches_kronecker_form(rng, shape, rank):
    """Rank-deficient and rectangular W_e: the M^0 = I convention matters (spec §A2)."""
    W = rank_deficient(rng, *shape, rank)
    G = rng.normal(size=shape)
    for N in (2, 3, 4):
        ref = np_kron_P(W, N) @ vec(G)
        got = vec(direction(jnp.asarray(W), jnp.asarray(G), N))
        assert np.max(np.abs(got - ref)) < 1e-12 * np.abs(ref).max()
        got_e = vec(direction_eigh(jnp.asarray(W), jnp.asarray(G), N))
        assert np.max(np.abs(got_e - ref)) < 1e-12 * np.abs(ref).max()
    # the wrong convention (M^0 = projector onto the range) gives a visibly different answer
    A, B = W @ W.T, W.T @ W
    wrong = (np_pinv_proj(A) @ G @ np_power(B, 2 / 3) + np_power(A, 1 / 3) @ G @ np_power(B, 1 / 3)
             + np_power(A, 2 / 3) @ G @ np_pinv_proj(B))
    right = np.asarray(direction(jnp.asarray(W), jnp.asarray(G), 3))
    assert np.max(np.abs(wrong - right)) > 1e-3


def np_power(M, a):
    mu, Q = np.linalg.eigh(M)
    mu = np.where(mu > 1e-13 * mu.max(), mu, 0.0)
    return (Q * mu**a) @ Q.T


def np_pinv_proj(M):
    return np.linalg.pinv(M, hermitian=True) @ M


def test_single_output_closed_form_equals_general_rule(rng):
    w = rng.normal(size=4)
    g = rng.normal(size=4)
    for N in (1, 2, 3, 4, 8):
        gen = np.asarray(direction(jnp.asarray(w[None]), jnp.asarray(g[None]), N))[0]
        nrm = np.linalg.norm(w)
        ref = nrm ** (2 - 2 / N) * (g + (N - 1) * (g @ w) / nrm**2 * w)  # spec §A5
        got = np.asarray(jd.single_output_direction(jnp.asarray(w), jnp.asarray(g), N))
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(gen, ref, rtol=4e-14, atol=1e-14)
    # at w = 0 the rule is 0 for N >= 2 (fixed point, spec §A3) and the gradient for N = 1
    z = jnp.zeros(4)
    assert np.all(np.asarray(jd.single_output_direction(z, jnp.asarray(g), 3)) == 0.0)
    assert np.all(np.asarray(direction(z[None], jnp.asarray(g[None]), 3)) == 0.0)
    np.testing.assert_array_equal(np.asarray(direction(z[None], jnp.asarray(g[None]), 1))[0], g)


def test_update_weight_decay_and_traced_depth(rng):
    W = jnp.asarray(rng.normal(size=(2, 3)))
    G = jnp.asarray(rng.normal(size=(2, 3)))
    lr, lam = 0.03, 0.2
    for N in (2, 3):
        ref = (1 - lr * lam * N) * np.asarray(W) - lr * np_kron_P(np.asarray(W), N).dot(vec(G)).reshape(3, 2).T
        got = np.asarray(jd.end_to_end_update(W, G, lr, N, lam))
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
        vel = np.asarray(jd.end_to_end_velocity(W, G, lr, N, lam))
        np.testing.assert_allclose(vel, (ref - np.asarray(W)), rtol=1e-12, atol=1e-14)
    # depth as a traced, vmapped array: one compiled function for every depth
    f = jax.jit(jax.vmap(lambda n: direction(W, G, n)))
    out = np.asarray(f(jnp.array([1.0, 2.0, 3.0, 4.0])))
    for i, N in enumerate((1, 2, 3, 4)):
        np.testing.assert_allclose(out[i], np.asarray(direction(W, G, N)), rtol=1e-13)


# ----------------------------------------------------------------------------- P_{W_e}
@pytest.mark.parametrize("shape,rank", [((3, 4), 3), ((4, 2), 2), ((3, 5), 2)])
def test_preconditioner_eigenpairs_match_kronecker_form(rng, shape, rank):
    """Acceptance: eigenvalues of P_W match the Kronecker form to 1e-12, rank-deficient too."""
    k, d = shape
    W = rank_deficient(rng, k, d, rank)
    for N in (2, 3, 4):
        P_ref = np_kron_P(W, N)
        P = np.asarray(P_matrix(jnp.asarray(W), N))
        assert np.max(np.abs(P - P_ref)) < F64 * np.abs(P_ref).max()
        assert np.max(np.abs(P - P.T)) < F64
        lam = np.asarray(P_eigenvalues(jnp.asarray(W), N))
        ev_ref = np.sort(np.linalg.eigvalsh(P_ref))
        assert np.max(np.abs(np.sort(lam.ravel()) - ev_ref)) < F64 * ev_ref.max()
        assert ev_ref.min() > -F64  # symmetric PSD
        U, Vm = (np.asarray(x) for x in jd.preconditioner_eigenvectors(jnp.asarray(W)))
        for r in range(k):
            for rp in range(d):
                v = np.kron(Vm[:, rp], U[:, r])
                assert np.max(np.abs(P_ref @ v - lam[r, rp] * v)) < F64 * ev_ref.max()
        # the operator applies the same matrix
        op = jd.preconditioner_operator(jnp.asarray(W), N)
        x = rng.normal(size=k * d)
        np.testing.assert_allclose(np.asarray(op(jnp.asarray(x))), P_ref @ x, rtol=0,
                                   atol=F64 * np.abs(P_ref).max() * 10)


# ----------------------------------------------------------------------------- discrete rule vs nets
def _emulation_setup():
    """The spec's check-1 shapes: N = 3, k = 3, d = 5, widths (4, 7), balanced init scale 0.5."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5))
    Y = X @ (1.5 * rng.normal(size=(3, 5))).T
    loss = jd.lp_regression(X, Y, p=2)  # multi-output squared loss (mean, 1/2)
    layers = jd.init_balanced(jax.random.PRNGKey(2), (5, 4, 7, 3), scale=0.5)
    return loss, layers


def _emulation_gap(loss, layers, lr, weight_decay=0.0, horizon=2.0):
    T = int(round(horizon / lr))
    net = jd.train_network(layers, loss, lr, T, weight_decay=weight_decay, record=[T])
    e2e = jd.train_end_to_end(jd.end_to_end_matrix(layers), loss, lr, 3, T,
                              weight_decay=weight_decay, record=[T])
    We = np.asarray(jd.end_to_end_matrix(net.params))
    return np.linalg.norm(We - np.asarray(e2e.params)) / np.linalg.norm(We)


def test_one_step_of_the_rule_is_the_product_of_layer_updates_to_first_order():
    """Brute force: W_e after one layer-GD step minus the rule's step is O(eta^2)."""
    loss, layers = _emulation_setup()
    We = jd.end_to_end_matrix(layers)
    G = loss.grad(We)
    grads = [np.asarray(g) for g in jax.jit(jd.layer_gradients)(layers, G)]
    update = jax.jit(jd.end_to_end_update)
    gaps = []
    for lr in (1e-2, 5e-3, 2.5e-3):
        stepped = [np.asarray(W) - lr * g for W, g in zip(layers, grads)]
        prod = stepped[2] @ stepped[1] @ stepped[0]
        rule = np.asarray(update(We, G, lr, 3))
        gaps.append(np.linalg.norm(prod - rule))
    assert gaps[0] / gaps[1] == pytest.approx(4.0, rel=0.05)
    assert gaps[1] / gaps[2] == pytest.approx(4.0, rel=0.03)


def test_width_independence_from_balanced_init():
    """Acceptance: from a balanced init, hidden widths do not change the trajectory (1e-12)."""
    loss, layers = _emulation_setup()
    A = jd.end_to_end_matrix(layers)
    wide = jd.init_balanced(jax.random.PRNGKey(5), (5, 10, 20, 3), target=A)
    narrow = jd.init_balanced(jax.random.PRNGKey(6), (5, 3, 3, 3), target=A)
    outs = []
    for ls in (layers, wide, narrow):
        run = jd.train_network(ls, loss, 0.02, 100, record=10, record_params=True)
        outs.append(np.stack([np.asarray(jd.end_to_end_matrix(tuple(W[i] for W in run.recorded)))
                              for i in range(len(run.steps))]))
    scale = np.abs(outs[0]).max()
    for o in outs[1:]:
        assert np.max(np.abs(o - outs[0])) < F64 * scale


@pytest.mark.slow
def test_emulation_gap_decreases_linearly_in_step_size():
    """Acceptance (spec §A3 check 1): relative gap O(eta), ~4e-2 at 0.04 to ~2e-3 at 0.0025."""
    loss, layers = _emulation_setup()
    lrs = (0.04, 0.02, 0.01, 0.005, 0.0025)
    gaps = np.array([_emulation_gap(loss, layers, lr) for lr in lrs])
    slope = np.polyfit(np.log(lrs), np.log(gaps), 1)[0]
    assert slope == pytest.approx(1.0, abs=0.06)
    assert 1.5e-2 < gaps[0] < 8e-2 and 1e-3 < gaps[-1] < 5e-3
    ratios = gaps[1:] / gaps[:-1]
    assert np.all(np.abs(ratios - 0.5) < 0.05)
    gaps_wd = np.array([_emulation_gap(loss, layers, lr, 0.05) for lr in (0.04, 0.0025)])
    assert gaps_wd[0] / gaps_wd[1] == pytest.approx(16.0, rel=0.25)


# ----------------------------------------------------------------------------- continuous time
def _theorem1_errors(ns):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(15, 4))
    Y = rng.normal(size=(15, 2))
    loss = jd.lp_regression(X, Y, p=2)
    layers = jd.init_balanced(jax.random.PRNGKey(2), (4, 5, 6, 2), scale=0.3)
    W0 = jd.end_to_end_matrix(layers)
    errs = []
    for n in ns:  # RK4 with h = 3 / n, lambda = 0.1
        a = np.asarray(jd.end_to_end_matrix(jd.integrate_network_flow(layers, loss, 1.0, 3.0, n, 0.1)))
        b = np.asarray(jd.integrate_end_to_end_flow(W0, loss, 1.0, 3, 3.0, n, 0.1))
        errs.append(np.linalg.norm(a - b) / np.linalg.norm(a))
    return errs


def test_theorem1_layer_flow_equals_end_to_end_flow():
    """Theorem 1 (spec §A2, check 3): the mismatch is RK4 integration error only."""
    assert _theorem1_errors([120])[0] < 1e-6


@pytest.mark.slow
def test_theorem1_mismatch_is_fourth_order():
    errs = _theorem1_errors([60, 120, 240])
    assert errs[0] / errs[1] == pytest.approx(16.0, rel=0.25)
    assert errs[1] / errs[2] == pytest.approx(16.0, rel=0.25)


def test_singular_value_velocity_matches_finite_differences():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 4))
    Y = rng.normal(size=(12, 3))
    loss = jd.lp_regression(X, Y, p=2)
    W = jnp.asarray(rng.normal(size=(3, 4)))
    lr, lam, N, h = 0.7, 0.05, 3, 2e-6

    def sv_after(t):  # exact flow over a short time via the end-to-end ODE (RK4)
        return np.linalg.svd(np.asarray(jd.integrate_end_to_end_flow(W, loss, lr, N, t, 4, lam)),
                             compute_uv=False)

    s0 = np.linalg.svd(np.asarray(W), compute_uv=False)
    fd0 = (4 * (sv_after(h) - s0) - (sv_after(2 * h) - s0)) / (2 * h)  # second-order one-sided
    # truncation ~ h^2 |sigma'''| ~ 1e-9, rounding ~ eps / h ~ 1e-10 (relative)
    pred = np.asarray(jd.singular_value_velocity(W, loss.grad(W), lr, N, lam))
    np.testing.assert_allclose(fd0, pred, rtol=1e-6, atol=1e-9)
