"""Monte-Carlo SGD (optax-driven) vs the SE dynamics, and the identities that make SE exact.

References: Algorithm A (``ja.simulate``) with the exact tau of each data model; exact
quadrature of fourth moments on a grid (translation invariance); brute-force enumeration of all
batches (finite-dataset batch factor); a chi-square test of the subset sampler.
"""

import itertools

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel as ja
from jaxaccel import optim
from jaxaccel.reference.data import floyd_subset

REC = np.array([1, 2, 3, 5, 8, 13, 20, 35, 50, 80, 130, 200, 300, 500])
T = 500
# learning rates per batch size: the noise is 15-30% of the loss at t = 500 for every b
ALPHA = {1: 0.15, 4: 0.5, 16: 1.0}


def _models():
    gauss = (ja.gaussian_data(0.35 ** np.arange(6)), np.ones(6))
    fourier = (ja.fourier_data([1.0, 0.1, 0.01]), np.array([1.0, 0.5, -0.7, 1.0, 0.6, 0.8]))
    return {"gaussian": gauss, "fourier": fourier}


def _memory1(b):
    alpha = ALPHA[b]
    return ja.memory1(alpha, 0.3, 0.5, -alpha, 0.5)  # memory-1 with a gradient shift a != 0


def _z(mc_res, se_res):
    z = np.abs(np.asarray(mc_res.loss) - np.asarray(se_res.loss)) / np.asarray(mc_res.loss_sem)
    zg = np.abs(np.asarray(mc_res.loss_at_gradient_point) - np.asarray(se_res.loss_at_gradient_point))
    zg /= np.asarray(mc_res.loss_at_gradient_point_sem)
    return max(z.max(), zg.max())


def _mc_vs_se(model, b, n_seeds):
    data, e0 = _models()[model]
    alg = _memory1(b)
    r = ja.monte_carlo_sgd(data, optim.from_algorithm(alg), e0, T, b, n_seeds=n_seeds,
                           chunk=min(n_seeds, 4096), record=REC)
    assert not r.diverged
    right = ja.predict_se(data, alg, e0, T, b, record=REC)
    wrong = ja.predict_se(data, alg, e0, T, b, tau=(1.0, -data.tau[1]), record=REC)
    return _z(r, right), _z(r, wrong)


@pytest.mark.parametrize("model, b", [("gaussian", 1), ("fourier", 16)])
def test_mc_matches_se_with_exact_tau_and_wrong_tau_fails(model, b):
    """Memory-1 (a != 0), t <= 500: within 3 SE with the exact tau, far outside with the other.

    Two of the six (model, b) cases by default (each batch size is its own compilation); all
    six, with 16 times more seeds, in the slow test below.
    """
    z_right, z_wrong = _mc_vs_se(model, b, n_seeds=1024)
    assert z_right < 3.0, z_right
    assert z_wrong > 8.0, z_wrong


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gaussian", "fourier"])
@pytest.mark.parametrize("b", [1, 4, 16])
def test_mc_matches_se_many_seeds(model, b):
    z_right, z_wrong = _mc_vs_se(model, b, n_seeds=16384)
    print(f"{model} b={b}: max z exact tau {z_right:.2f}, wrong tau {z_wrong:.1f}")
    assert z_right < 3.0, z_right
    assert z_wrong > 30.0, z_wrong


def test_translation_invariant_fourth_moments_exact_quadrature():
    """Diagonal of Sigma(A) for Fourier features, for a *general* symmetric A (not diagonal).

    A uniform grid of G angles integrates trigonometric polynomials of degree < G exactly, so
    the averages below are the exact expectations over a uniform angle.
    """
    rng = np.random.default_rng(0)
    mu = np.array([1.0, 0.4, 0.1, 0.03])
    n = mu.size

    def sigma_diag(freq, G=512):
        theta = 2 * np.pi * np.arange(G) / G
        x = np.asarray(ja.reference.fourier_features(jnp.asarray(theta), mu, freq))  # (G, 2n)
        H = x.T @ x / G
        A = rng.normal(size=(2 * n, 2 * n))
        A = A + A.T
        quad = np.einsum("gi,ij,gj->g", x, A, x)
        Sig = (x * quad[:, None]).T @ x / G - H @ A @ H
        return H, A, np.diag(Sig)

    freq = ja.reference.resonance_free_frequencies(n)
    H, A, sd = sigma_diag(freq)
    lam = np.concatenate([mu, mu])
    np.testing.assert_allclose(H, np.diag(lam), atol=1e-14)
    a = np.diag(A)
    pair_avg = 0.5 * (a + np.roll(a, n))  # (A_mm + A_m'm') / 2
    expected = lam * np.trace(H @ A) - lam**2 * pair_avg
    np.testing.assert_allclose(sd, expected, rtol=0, atol=1e-12)
    # pair sums are exactly SE (15) with tau = (1, 1) per node of multiplicity 2
    pair = sd[:n] + sd[n:]
    se = 2 * mu * np.trace(H @ A) - 1.0 * mu**2 * (a[:n] + a[n:])
    np.testing.assert_allclose(pair, se, rtol=0, atol=1e-12)
    # the check can fail: resonant frequencies (1, 2, 3, 5) break it, and are rejected
    _, A2, sd2 = sigma_diag(np.array([1, 2, 3, 5]))
    a2 = np.diag(A2)
    bad = lam * np.trace(np.diag(lam) @ A2) - lam**2 * 0.5 * (a2 + np.roll(a2, n))
    assert np.abs(sd2 - bad).max() > 1e-2
    with pytest.raises(ValueError, match="resonance"):
        ja.fourier_data(mu, frequencies=[1, 2, 3, 5])


def test_batch_factor_by_enumeration_of_all_batches():
    """E[H_B A H_B] over all b-subsets equals H A H + gamma Sigma(A), gamma = (N-b)/((N-1) b)."""
    rng = np.random.default_rng(1)
    N, p = 7, 3
    X = rng.normal(size=(N, p))
    A = rng.normal(size=(p, p))
    A = A + A.T
    H = X.T @ X / N
    F = np.einsum("ni,ij,nj,nk,nl->kl", X, A, X, X, X) / N
    Sig = F - H @ A @ H
    for b in range(1, N + 1):
        subsets = list(itertools.combinations(range(N), b))
        E = np.zeros((p, p))
        for S in subsets:
            HB = X[list(S)].T @ X[list(S)] / b
            E += HB @ A @ HB
        E /= len(subsets)
        gamma = ja.batch_factor(N, b, replace=False)
        np.testing.assert_allclose(E, H @ A @ H + gamma * Sig, rtol=0, atol=1e-12)
        # with replacement (i.i.d. indices): factor 1/b, by enumeration of all index tuples
        if b <= 3:
            Er = np.zeros((p, p))
            for S in itertools.product(range(N), repeat=b):
                HB = X[list(S)].T @ X[list(S)] / b
                Er += HB @ A @ HB
            Er /= N**b
            np.testing.assert_allclose(Er, H @ A @ H + Sig / b, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_subset_sampler_uniform_over_subsets():
    data = ja.finite_data(np.eye(6), replace=False)
    keys = jax.random.split(jax.random.PRNGKey(3), 12000)
    idx = np.asarray(jax.vmap(lambda k: floyd_subset(k, 6, 3))(keys))
    assert np.all(np.sort(idx, axis=1)[:, 1:] != np.sort(idx, axis=1)[:, :-1])  # distinct
    codes = (2 ** np.sort(idx, axis=1)).sum(axis=1)
    _, counts = np.unique(codes, return_counts=True)
    assert counts.size == 20  # all C(6, 3) subsets occur
    expected = keys.shape[0] / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 50.8, chi2  # 99.99% quantile of chi-square with 19 degrees of freedom
    # the data model's sampler draws distinct points too
    x = np.asarray(data.sample(jax.random.PRNGKey(0), 6))
    assert np.linalg.matrix_rank(x) == 6


def test_finite_dataset_matches_se_with_batch_factor():
    """Fourier features on a uniform grid of N = 48 angles: fourth moments are exactly those of
    the continuous model (degree 40 < 48), so SE(tau = (1, 1)) is exact with factor 1/b for
    sampling with replacement and (N - b)/((N - 1) b) without."""
    N, b = 48, 16
    mu = np.array([1.0, 0.1, 0.01])
    theta = 2 * np.pi * np.arange(N) / N
    X = np.asarray(ja.reference.fourier_features(jnp.asarray(theta), mu, ja.reference.resonance_free_frequencies(3)))
    e_feat = np.array([1.0, 0.5, -0.7, 1.0, 0.6, 0.8])
    alg = _memory1(b)
    results = {}
    for replace in (True, False):
        data = ja.finite_data(X, replace=replace)
        e0 = data.coordinates(e_feat)
        r = ja.monte_carlo_sgd(data, alg, e0, T, b, n_seeds=1024, chunk=1024, record=REC)
        right = ja.predict_se(data, alg, e0, T, b, tau=(1.0, 1.0), record=REC)
        results[replace] = (r, right)
        assert _z(r, right) < 3.0, (replace, _z(r, right))
    # the check can fail: swapping the two batch factors is rejected in both directions
    for replace in (True, False):
        r, _ = results[replace]
        other = results[not replace][1]
        assert _z(r, other) > 8.0, (replace, _z(r, other))
    g = ja.batch_factor(N, b, replace=False)
    assert abs(g - (N - b) / ((N - 1) * b)) < 1e-16 and ja.batch_factor(N, b, replace=True) == 1 / b


@pytest.mark.slow
def test_multi_output_losses_add_up():
    """Outputs share the batches: with one key, the mean loss of the error matrix [e1, e2] is the
    sum of those of [e1, 0] and [0, e2] (one compilation for the three runs)."""
    data = ja.gaussian_data([1.0, 0.3, 0.1])
    e1, e2 = np.array([1.0, -0.5, 0.3]), np.array([0.2, 0.7, -1.0])
    tx = optim.nesterov(0.4, 0.6)  # one transform object: the runs reuse the compilation
    kw = dict(steps=30, batch_size=2, n_seeds=64, record=[0, 5, 30])
    z = np.zeros(3)
    r1 = ja.monte_carlo_sgd(data, tx, np.stack([e1, z], axis=1), **kw)
    r2 = ja.monte_carlo_sgd(data, tx, np.stack([z, e2], axis=1), **kw)
    r12 = ja.monte_carlo_sgd(data, tx, np.stack([e1, e2], axis=1), **kw)
    np.testing.assert_allclose(r12.loss, r1.loss + r2.loss, rtol=1e-12)
    np.testing.assert_allclose(r12.loss_at_gradient_point,
                               r1.loss_at_gradient_point + r2.loss_at_gradient_point, rtol=1e-12)
    assert abs(float(r1.loss[0]) - 0.5 * float((np.array([1.0, 0.3, 0.1]) * e1**2).sum())) < 1e-15
    assert float(r1.loss[-1]) < 0.5 * float(r1.loss[0])  # it trains


def test_divergence_is_flagged_not_nan():
    """Heavy Ball with alpha * lambda_max = 10 (root ~ -8.4 of the characteristic polynomial):
    every run is flagged, with the step, and the mean loss is +inf, never NaN."""
    # the set-up of the monte_carlo_sgd / gaussian_sgd docstring examples: MemoryAlgorithms are
    # traced arguments, so these runs and the examples share one compilation
    data = ja.gaussian_data([1.0, 0.5, 0.25, 0.125])
    kw = dict(steps=20, batch_size=2, n_seeds=64)
    r = ja.monte_carlo_sgd(data, ja.heavy_ball(10.0, 0.5), np.ones(4), **kw)
    assert r.diverged and r.n_diverged == 64
    loss = np.asarray(r.loss)
    assert np.isinf(loss[-1]) and not np.any(np.isnan(loss))
    # reported with the step: the first recorded step with an inf mean loss
    assert r.diverged_at == np.asarray(r.steps)[np.argmax(np.isinf(loss))] > 0
    assert np.all(np.isfinite(loss[: r.diverged_at]))
    ok = ja.monte_carlo_sgd(data, ja.heavy_ball(0.3, 0.5), np.ones(4), **kw)
    assert not ok.diverged and ok.n_diverged == 0 and ok.diverged_at == -1


@pytest.mark.slow
@pytest.mark.parametrize("batch", [3, 10])
def test_monte_carlo_matches_simulate_within_3_se(batch):
    s = ja.power_law_spectrum(8, nu=1.5, zeta=0.5)
    alg = ja.memory1(0.45, 0.3, 0.35, -0.4, 0.6)  # memory-1 with a gradient shift a != 0
    T = 200
    rec = np.unique(np.round(np.geomspace(1, T, 25)).astype(int))
    mc_res = ja.gaussian_sgd(s, alg, T, batch, n_seeds=20_000, record=rec, chunk=2_000)
    se = ja.simulate(s, alg, T, batch_size=batch, tau=(1.0, -1.0), record=rec)
    z = np.abs(np.asarray(mc_res.loss) - np.asarray(se.loss)) / np.asarray(mc_res.loss_sem)
    zg = np.abs(np.asarray(mc_res.loss_at_gradient_point) - np.asarray(se.loss_at_gradient_point))
    zg /= np.asarray(mc_res.loss_at_gradient_point_sem)
    assert z.max() < 3.0, z
    assert zg.max() < 3.0, zg
    # the check can fail: the translation-invariant noise model (tau2 = +1) is rejected
    wrong = ja.simulate(s, alg, T, batch_size=batch, tau=(1.0, 1.0), record=rec)
    zw = np.abs(np.asarray(mc_res.loss) - np.asarray(wrong.loss)) / np.asarray(mc_res.loss_sem)
    assert zw.max() > 10.0


def test_monte_carlo_rejects_bad_input():
    s = ja.power_law_spectrum(4, nu=1.5, zeta=0.5)
    with pytest.raises(ValueError, match="batch_size"):
        ja.gaussian_sgd(s, ja.gd(0.1), 10, 0)
    with pytest.raises(ValueError, match="n_seeds"):
        ja.gaussian_sgd(s, ja.gd(0.1), 10, 2, n_seeds=0)
    with pytest.raises(ValueError, match="weights"):
        ja.gaussian_sgd(ja.Spectrum([1.0], [1.0], weights=[2.0]), ja.gd(0.1), 10, 2)
    small = ja.finite_data(np.eye(4), replace=False)
    with pytest.raises(ValueError, match="batch_size"):
        ja.monte_carlo_sgd(small, ja.gd(0.1), np.ones(4), 10, 5)
    with pytest.raises(ValueError, match="batch_size"):
        ja.predict_se(small, ja.gd(0.1), np.ones(4), 10, 5, tau=(1.0, 1.0))
    with pytest.raises(ValueError, match="batch_size"):
        ja.batch_factor(4, 5)
    with pytest.raises(ValueError, match="tau"):
        ja.predict_se(small, ja.gd(0.1), np.ones(4), 10, 2)
    data = ja.gaussian_data([1.0, 0.5])
    with pytest.raises(ValueError, match="initial_error"):
        ja.monte_carlo_sgd(data, ja.gd(0.1), np.ones(3), 10, 2)
    with pytest.raises(ValueError, match="learning rate"):
        ja.monte_carlo_sgd(data, ja.gd(-0.1), np.ones(2), 10, 2)
    with pytest.raises(ValueError, match="optimizer"):
        ja.monte_carlo_sgd(data, "sgd", np.ones(2), 10, 2)
    with pytest.raises(ValueError, match="data"):
        ja.monte_carlo_sgd(np.eye(2), ja.gd(0.1), np.ones(2), 10, 2)
    with pytest.raises(ValueError, match="eigenvalues"):
        ja.gaussian_data([1.0, -0.5])
    with pytest.raises(ValueError, match="frequencies"):
        ja.fourier_data([1.0, 0.5], frequencies=[1, 1])
    with pytest.raises(ValueError, match="replace"):
        ja.finite_data(np.eye(3), replace="no")


def test_gaussian_data_accepts_the_spectrum():
    s = ja.power_law_spectrum(6, nu=1.5, zeta=0.5)
    np.testing.assert_array_equal(ja.gaussian_data(s).variances, s.eigenvalues)
    weighted = ja.Spectrum(s.eigenvalues, s.c2, weights=np.full(6, 2.0))
    with pytest.raises(ValueError, match="eigenvalues"):
        ja.gaussian_data(weighted)
