"""Deep linear networks, initialisations, l_p losses and datasets (issue 7; spec §A1, §A8, §A9).

Independent references: ``jax.grad`` of ``L^1(W_N ... W_1)`` for the chain-rule layer gradients;
NumPy formulas (and ``jax.grad``) for the l_p losses; SciPy's BFGS for the l_p minimum; the
balancedness condition (spec eq. 7) and the product of the layers for the balanced recipe.
"""

import numpy as np
import jax
import jax.numpy as jnp
import pytest
import scipy.optimize

import jaxaccel.depth as jd

F64 = 1e-12


# ----------------------------------------------------------------------------- architecture
def test_make_widths_and_validation():
    assert jd.make_widths(5, 3, depth=3, width=4) == (5, 4, 4, 3)
    assert jd.make_widths(5, 3, depth=1) == (5, 3)
    assert jd.make_widths(2, 1, depth=3, width=[7, 8]) == (2, 7, 8, 1)
    with pytest.raises(ValueError, match="depth"):
        jd.make_widths(5, 3, depth=0)
    with pytest.raises(ValueError, match="depth"):
        jd.make_widths(5, 3, depth=2.5)
    with pytest.raises(ValueError, match="width"):
        jd.make_widths(5, 3, depth=3, width=[4])
    with pytest.raises(ValueError, match="width"):
        jd.make_widths(5, 3, depth=2, width=0)
    with pytest.raises(ValueError, match="widths"):
        jd.init_gaussian(jax.random.PRNGKey(0), (5,))  # depth 0
    with pytest.raises(ValueError, match="widths"):
        jd.init_gaussian(jax.random.PRNGKey(0), (5, 0, 3))


def test_incompatible_layers_are_rejected():
    key = jax.random.PRNGKey(0)
    X, y = np.ones((4, 3)), np.ones(4)
    loss = jd.lp_regression(X, y)
    bad = (jnp.ones((4, 3)), jnp.ones((1, 5)))
    with pytest.raises(ValueError, match="layers.*incompatible widths"):
        jd.train_network(bad, loss, 0.1, 10)
    with pytest.raises(ValueError, match="layers"):
        jd.train_network((), loss, 0.1, 10)
    with pytest.raises(ValueError, match=r"layers\[1\] must be finite"):
        jd.train_network((jnp.ones((2, 3)), jnp.array([[1.0, jnp.nan]])), loss, 0.1, 10)
    wrong_io = jd.init_gaussian(key, (2, 4, 1))  # 2 inputs, the loss has 3 features
    with pytest.raises(ValueError, match="layers maps 2 inputs"):
        jd.train_network(wrong_io, loss, 0.1, 10)


def test_layer_gradients_match_autodiff(rng):
    """Chain rule of spec §A1.1 against jax.grad of L^1(W_N ... W_1)."""
    X = rng.normal(size=(9, 4))
    Y = rng.normal(size=(9, 2))
    loss = jd.lp_regression(X, Y, p=4)
    chain = jax.jit(lambda ls: jd.layer_gradients(ls, loss.grad(jd.end_to_end_matrix(ls))))
    auto = jax.jit(jax.grad(lambda ls: loss.value(jd.end_to_end_matrix(ls))))
    for widths in ((4, 2), (4, 5, 1, 6, 2)):
        layers = jd.init_gaussian(jax.random.PRNGKey(len(widths)), widths, scale=0.7)
        got, ref = chain(layers), auto(layers)
        for a, b in zip(got, ref):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
        prod = np.asarray(layers[0])
        for W in layers[1:]:
            prod = np.asarray(W) @ prod
        np.testing.assert_allclose(np.asarray(jd.end_to_end_matrix(layers)), prod, rtol=1e-14)


# ----------------------------------------------------------------------------- initialisations
def test_balanced_init_recipe(rng):
    A = rng.normal(size=(3, 5))
    for widths in ((5, 3), (5, 4, 7, 3), (5, 3, 3, 3, 3)):
        layers = jd.init_balanced(jax.random.PRNGKey(1), widths, target=A)
        np.testing.assert_allclose(np.asarray(jd.end_to_end_matrix(layers)), A, rtol=0, atol=1e-14)
        for j in range(len(layers) - 1):  # spec eq. (7): W_{j+1}^T W_{j+1} = W_j W_j^T
            Wj, Wn = np.asarray(layers[j]), np.asarray(layers[j + 1])
            assert np.max(np.abs(Wn.T @ Wn - Wj @ Wj.T)) < 1e-14
        assert np.all(np.asarray(jd.imbalance(layers)) < 1e-14)
    rnd = jd.init_balanced(jax.random.PRNGKey(2), (6, 4, 1), scale=0.3)
    assert float(jnp.linalg.norm(jd.end_to_end_matrix(rnd), ord=2)) == pytest.approx(0.3, rel=1e-13)
    with pytest.raises(ValueError, match="widths"):
        jd.init_balanced(jax.random.PRNGKey(0), (5, 2, 3), scale=0.1)  # hidden 2 < min(d, k)
    with pytest.raises(ValueError, match="target"):
        jd.init_balanced(jax.random.PRNGKey(0), (5, 3), target=np.ones((5, 3)))
    with pytest.raises(ValueError, match="scale"):
        jd.init_balanced(jax.random.PRNGKey(0), (5, 3), scale=-1.0)


def test_other_inits():
    key = jax.random.PRNGKey(3)
    g = jd.init_gaussian(key, (40, 50, 30), scale=0.01)
    assert [W.shape for W in g] == [(50, 40), (30, 50)]
    allv = np.concatenate([np.asarray(W).ravel() for W in g])
    # 2900 i.i.d. N(0, 1e-4) draws: sample std within 5 standard errors (se = s / sqrt(2n))
    assert abs(allv.std() - 0.01) < 5 * 0.01 / np.sqrt(2 * allv.size)
    assert abs(allv.mean()) < 5 * 0.01 / np.sqrt(allv.size)
    ident = jd.init_identity((4, 6, 6, 1), scale=0.5)
    np.testing.assert_array_equal(np.asarray(ident[1]), np.eye(6))
    np.testing.assert_array_equal(np.asarray(ident[0]), np.eye(6, 4))
    np.testing.assert_array_equal(np.asarray(ident[2]), 0.5 * np.eye(1, 6))
    with pytest.raises(ValueError, match="widths"):
        jd.init_identity((4, 6, 5, 1))
    orth = jd.init_orthogonal(key, (3, 5, 2), scale=2.0)
    W1, W2 = (np.asarray(W) for W in orth)
    np.testing.assert_allclose(W1.T @ W1, 4.0 * np.eye(3), atol=1e-13)  # orthonormal columns
    np.testing.assert_allclose(W2 @ W2.T, 4.0 * np.eye(2), atol=1e-13)  # orthonormal rows
    assert float(jd.imbalance(orth)[0]) > 1.0  # not balanced when shapes differ (spec §A10)
    # the dispatcher and a vmap over seeds
    stack = jax.vmap(lambda k: jd.init_network(k, (3, 4, 2), "balanced", 0.1))(jax.random.split(key, 3))
    assert stack[0].shape == (3, 4, 3)
    with pytest.raises(ValueError, match="method"):
        jd.init_network(key, (3, 2), "kaiming")


def test_imbalance_drift_is_second_order_and_decays_with_weight_decay():
    """Spec §A1.4: discrete GD keeps balancedness up to O(eta^2) per step (check 1)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(10, 3))
    loss = jd.lp_regression(X, X @ rng.normal(size=(2, 3)).T, p=2)
    layers = jd.init_balanced(jax.random.PRNGKey(4), (3, 4, 2), scale=0.5)
    drift = []
    for lr in (0.02, 0.01):
        T = int(round(1.0 / lr))
        run = jd.train_network(layers, loss, lr, T, record=[T])
        drift.append(float(jd.imbalance(run.params)[0]))
    assert drift[0] / drift[1] == pytest.approx(2.0, rel=0.1)  # O(eta^2) per step, O(eta) total


# ----------------------------------------------------------------------------- losses
@pytest.mark.parametrize("p", [2, 3, 4, 2.5])
def test_lp_loss_value_and_gradient(rng, p):
    X = rng.normal(size=(11, 3))
    Y = rng.normal(size=(11, 2))
    W = rng.normal(size=(2, 3))
    loss = jd.lp_regression(X, Y, p=p)
    R = X @ W.T - Y
    ref = np.mean(np.sum(np.abs(R) ** p, axis=1)) / p  # mean over examples, 1/p, |r|^p
    val, grad = loss.value_and_grad(jnp.asarray(W))
    assert float(val) == pytest.approx(ref, rel=1e-14)
    ref_g = (np.sign(R) * np.abs(R) ** (p - 1)).T @ X / 11
    np.testing.assert_allclose(np.asarray(grad), ref_g, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(jax.grad(loss.value)(jnp.asarray(W))), ref_g, rtol=1e-12)
    s = jd.lp_regression(X, Y, p=p, reduction="sum")
    assert float(s.value(jnp.asarray(W))) == pytest.approx(11 * ref, rel=1e-14)


def test_lp_options_and_bad_input():
    X, y = np.eye(2), np.array([1.0, -2.0])
    pw = jd.lp_regression(X, y, p=4, form="power")
    ab = jd.lp_regression(X, y, p=4)
    W = jnp.array([[0.3, 0.1]])
    assert float(pw.value(W)) == float(ab.value(W))
    for p in (3, 2.5):  # the signed power r^p/p is a loss for even p only
        with pytest.raises(ValueError, match="p must be an even integer"):
            jd.lp_regression(X, y, p=p, form="power")
    with pytest.raises(ValueError, match="p must be an even integer"):
        jd.two_point_problem(p=3)
    with pytest.raises(ValueError, match="p must be an even integer"):
        jd.gd_stability_cap([10.0, 1.0], 3, 2)
    with pytest.raises(ValueError, match="p must be"):
        jd.lp_regression(X, y, p=0.5)
    with pytest.raises(ValueError, match="inputs must be finite"):
        jd.lp_regression(np.array([[1.0, np.inf], [0, 1]]), y)
    with pytest.raises(ValueError, match="targets must be finite"):
        jd.lp_regression(X, np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="targets"):
        jd.lp_regression(X, np.ones(3))
    with pytest.raises(ValueError, match="form"):
        jd.lp_regression(X, y, form="signed")
    with pytest.raises(ValueError, match="reduction"):
        jd.lp_regression(X, y, reduction="median")
    with pytest.raises(ValueError, match="y1"):
        jd.two_point_problem(y1=np.inf)


def test_lp_minimum_matches_scipy(rng):
    X = rng.normal(size=(30, 4))
    y = X @ rng.normal(size=4) + 0.5 * rng.standard_t(3, size=30)
    for p in (2, 4):
        loss = jd.lp_regression(X, y, p=p)
        W, L = jd.lp_minimum(loss)
        f = lambda w: np.mean(np.abs(X @ w - y) ** p) / p  # noqa: E731
        res = scipy.optimize.minimize(f, np.zeros(4), method="BFGS", options=dict(gtol=1e-12))
        assert L == pytest.approx(res.fun, rel=1e-9)
        assert L <= res.fun * (1 + 1e-12)
        assert L == pytest.approx(float(loss.value(jnp.asarray(W))), rel=1e-13)


def test_custom_loss():
    loss = jd.CustomLoss(lambda W: 0.5 * jnp.sum((W - 1.0) ** 2))
    v, g = loss.value_and_grad(jnp.zeros((1, 2)))
    assert float(v) == 1.0
    np.testing.assert_array_equal(np.asarray(g), -np.ones((1, 2)))


# ----------------------------------------------------------------------------- data
def test_datasets():
    d = jd.diabetes_regression(p=4)
    X, y = np.asarray(d.inputs), np.asarray(d.targets)
    assert X.shape == (442, 10) and y.shape == (442, 1) and d.p == 4.0
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(0), 1, rtol=1e-12)
    np.testing.assert_allclose([y.mean(), y.std()], [0, 1], atol=1e-12)
    raw = jd.diabetes_regression(scaling="raw")
    assert float(np.asarray(raw.targets).mean()) > 100  # disease progression in raw units
    with pytest.raises(ValueError, match="scaling"):
        jd.diabetes_regression(scaling="minmax")
    s = jd.synthetic_regression(seed=1, num_examples=200, num_features=8)
    Xs = np.asarray(s.inputs)
    assert Xs.shape == (200, 8)
    # feature scales log-spaced in [0.05, 1] (spec §A9.4): sample stds within 5 standard errors
    np.testing.assert_allclose(Xs.std(0), np.geomspace(0.05, 1, 8), rtol=5 / np.sqrt(400))
    assert "not available offline" in jd.OFFLINE_NOTE
    tp = jd.two_point_problem()
    assert float(tp.value(jnp.zeros((1, 2)))) == pytest.approx((1e4 + 1) / 8)
    assert jd.gd_stability_cap([10.0, 1.0], 4, 2) == pytest.approx(0.04)


@pytest.mark.slow
def test_diabetes_file_loader_equals_sklearn():
    """The raw diabetes arrays read from scikit-learn's bundled CSV files equal its loader."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, scaled=False)
    raw = jd.diabetes_regression(scaling="raw")
    np.testing.assert_array_equal(np.asarray(raw.inputs), X)
    np.testing.assert_array_equal(np.asarray(raw.targets)[:, 0], y)
