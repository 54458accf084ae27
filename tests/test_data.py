"""Real-data helpers: digits, the ReLU NTK, exponent fits, the linearised model as a dataset.

References: the empirical NTK of finite-width random networks (autodiff Jacobians) for the
closed-form kernel; exact power-law spectra for the exponent fit; the function-space gradient
descent recursion on the kernel for the linearised-model coordinates.
"""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel as ja


def test_load_digits_normalisation():
    X, Y = ja.load_digits()
    assert X.shape == (1797, 64) and Y.shape == (1797, 10)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    assert abs((X**2).sum(axis=1).mean() - 1.0) < 1e-12
    assert np.all(Y.sum(axis=1) == 1) and set(np.unique(Y)) == {0.0, 1.0}
    X2, _ = ja.load_digits(100)
    assert X2.shape == (100, 64)
    with pytest.raises(ValueError, match="n"):
        ja.load_digits(5000)


def test_relu_ntk_matches_empirical_kernel_of_random_networks():
    """Closed form vs the average of J J^T over independent wide networks (autodiff)."""
    X, _ = ja.load_digits(6)
    K = ja.relu_ntk(X, bias=1.0)
    # phi = 0 on the diagonal: kappa_1 = |x~|^2 / 2 and kappa_0 = 1/2, so Theta(x, x) = |x~|^2
    np.testing.assert_allclose(np.diag(K), (X**2).sum(axis=1) + 1.0, rtol=1e-14)
    Xj = jnp.asarray(X)

    def empirical(key, width=4096):
        p = ja.ntk_mlp_init(key, 64, width, 2)
        f = lambda q: ja.ntk_mlp_apply(q, Xj)[:, 0]  # noqa: E731
        J = jax.jacobian(f)(p)
        Jf = jnp.concatenate([j.reshape(X.shape[0], -1) for j in jax.tree_util.tree_leaves(J)], 1)
        return Jf @ Jf.T

    samples = np.asarray(jax.jit(jax.vmap(empirical))(jax.random.split(jax.random.PRNGKey(0), 8)))
    mean, sem = samples.mean(0), samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    z = np.abs(mean - K) / sem
    assert z.max() < 5.0, z.max()
    # the kernel is not trivially close: a wrong arc-cosine form (no (pi - phi) cos phi) fails
    Xt = np.concatenate([X, np.ones((6, 1))], 1)
    G = Xt @ Xt.T
    nrm = np.sqrt(np.diag(G))
    phi = np.arccos(np.clip(G / np.outer(nrm, nrm), -1, 1))
    wrong = np.outer(nrm, nrm) * np.sin(phi) / (2 * np.pi) + G * (np.pi - phi) / (2 * np.pi)
    assert (np.abs(mean - wrong) / sem).max() > 20


def test_mlp_antisymmetric_initialisation():
    p = ja.ntk_mlp_init(jax.random.PRNGKey(1), 64, 1000, 10)
    X, _ = ja.load_digits(50)
    assert float(jnp.abs(ja.ntk_mlp_apply(p, jnp.asarray(X))).max()) < 1e-13
    with pytest.raises(ValueError, match="width"):
        ja.ntk_mlp_init(jax.random.PRNGKey(1), 64, 999, 10)


@pytest.mark.parametrize("nu, zeta", [(1.5, 0.5), (2.0, 0.25)])
def test_fit_spectrum_exponents_recovers_power_laws(nu, zeta):
    s = ja.power_law_spectrum(10**6, nu=nu, zeta=zeta)
    fit = ja.fit_spectrum_exponents(s, k_range=(100, 1000))
    assert abs(fit.nu - nu) < 1e-10
    # tail sums of a discrete power law: relative corrections O(1/k) and (k/N)^(zeta nu)
    assert abs(fit.zeta - zeta) < 0.01, fit.zeta
    with pytest.raises(ValueError, match="k_range"):
        ja.fit_spectrum_exponents(s, k_range=(10, 5))
    with pytest.raises(ValueError, match="spectrum"):
        ja.fit_spectrum_exponents(np.ones(3))


def _function_space_gd(K, Y, alpha, T):
    """Losses of f <- f - (alpha/N) K (f - y) from f = 0 on L = |f - y|^2 / (2N)."""
    n = K.shape[0]
    r = -Y.copy()
    ref = [0.5 * (r**2).sum() / n]
    for _ in range(T):
        r = r - alpha / n * K @ r
        ref.append(0.5 * (r**2).sum() / n)
    return np.array(ref)


def test_linearised_model_coordinates_match_function_space_descent():
    """Kernel regression as a finite dataset: spectrum = Spectrum.from_kernel, Z Z^T = K, and
    gradient descent in the coordinates, e_t = (1 - alpha lambda)^t e_0, reproduces the losses of
    f <- f - (alpha/N) K (f - y)."""
    n, T, alpha = 120, 40, 0.8
    X, Y = ja.load_digits(n)
    K = ja.relu_ntk(X)
    data, e0 = ja.kernel_regression_data(K, Y, replace=False)
    spec = ja.Spectrum.from_kernel(K, Y)
    np.testing.assert_allclose(data.variances, spec.eigenvalues, rtol=1e-12)
    np.testing.assert_allclose(data.spectrum(e0).c2, spec.c2, rtol=1e-9)
    Z = np.asarray(data.points)
    np.testing.assert_allclose(Z @ Z.T, K, atol=1e-10 * np.abs(K).max())
    lam, e = np.asarray(data.variances), np.asarray(e0)
    t = np.arange(T + 1)[:, None, None]
    coords = 0.5 * (lam[None, :, None] * ((1 - alpha * lam)[None, :, None] ** t * e) ** 2).sum((1, 2))
    np.testing.assert_allclose(coords, _function_space_gd(K, Y, alpha, T), rtol=1e-10)


@pytest.mark.slow
def test_linearised_model_full_batch_monte_carlo_and_se():
    """Full batch without replacement (batch factor 0): the Monte-Carlo driver and the SE engine
    both reproduce function-space gradient descent on the kernel."""
    n, T, alpha = 120, 40, 0.8
    X, Y = ja.load_digits(n)
    K = ja.relu_ntk(X)
    data, e0 = ja.kernel_regression_data(K, Y, replace=False)
    ref = _function_space_gd(K, Y, alpha, T)
    res = ja.monte_carlo_sgd(data, ja.gd(alpha), e0, T, n, n_seeds=1)
    np.testing.assert_allclose(res.loss, ref, rtol=1e-10)
    se = ja.predict_se(data, ja.gd(alpha), e0, T, n, tau=(1.0, 1.0))
    np.testing.assert_allclose(se.loss, ref, rtol=1e-10)


@pytest.mark.slow
def test_digits_linearised_mc_follows_translation_invariant_se():
    """Empirical finding on the digits NTK (spec: real data are "approximately SE"): the
    linearised model's MC loss follows SE with tau = (1, 1) within a few percent, while the
    Gaussian tau = (1, -1) misses by more than 10%."""
    X, Y = ja.load_digits()
    data, e0 = ja.kernel_regression_data(ja.relu_ntk(X), Y, replace=False)
    T, b = 300, 4
    rec = ja.log_steps(T, 15)
    alg = ja.heavy_ball(0.3, 0.8)
    r = ja.monte_carlo_sgd(data, alg, e0, T, b, n_seeds=64, chunk=64, record=rec)
    ti = np.asarray(r.loss) / np.asarray(ja.predict_se(data, alg, e0, T, b, tau=(1.0, 1.0), record=rec).loss)
    ga = np.asarray(r.loss) / np.asarray(ja.predict_se(data, alg, e0, T, b, tau=(1.0, -1.0), record=rec).loss)
    late = np.asarray(r.steps) >= 30
    assert np.abs(ti[late] - 1).max() < 0.06, ti
    assert np.abs(ga[late] - 1).max() > 0.10, ga


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch):
    """``pip install -e .`` alone has no scikit-learn: the digits and diabetes loaders say
    which extra to install."""
    import sys

    from jaxaccel import depth

    for mod in ("sklearn", "sklearn.datasets"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(ModuleNotFoundError, match=r"jaxaccel\[data\]"):
        ja.load_digits()
    with pytest.raises(ModuleNotFoundError, match=r"jaxaccel\[data\]"):
        depth.diabetes_regression()
