"""Exact finite-dataset second moments (``ja.simulate_dataset``, theory §18.1).

Independent references: brute-force enumeration of every batch sequence on a tiny dataset
(float64, 1e-12); Algorithm A (``ja.simulate``) on finite datasets whose fourth moments are
exactly Gaussian (a product grid of 3-point Gauss-Hermite nodes) or exactly
translation-invariant (Fourier features on a uniform grid), where SE is exact (1e-12);
Monte-Carlo mini-batch SGD on a heavy-tailed dataset (within 3 standard errors, where the SE
prediction is far outside).
"""

import itertools

import numpy as np
import jax.numpy as jnp
import pytest

import jaxaccel as ja


def _brute(X, alg, e0, T, b, replace):
    """Mean loss over every equally likely sequence of ``T`` batches (states propagated exactly)."""
    n, d = X.shape
    idx = itertools.product(range(n), repeat=b) if replace else itertools.combinations(range(n), b)
    HB = np.stack([X[list(B)].T @ X[list(B)] / b for B in idx])
    H = X.T @ X / n
    K = alg.memory + 1
    x = np.zeros((1, K, d))
    x[0, 0] = e0
    out = []
    for t in range(T + 1):
        out.append(np.mean(0.5 * np.einsum("pi,ij,pj->p", x[:, 0], H, x[:, 0])))
        if t == T:
            break
        S0, v, w = (np.asarray(p) for p in alg.at(t).transition_parts())
        g = np.einsum("bij,pj->pbi", HB, np.einsum("k,pkd->pd", w, x))
        lin = np.einsum("ik,pkd->pid", S0, x)
        x = (lin[:, None] + v[None, None, :, None] * g[:, :, None, :]).reshape(-1, K, d)
    return np.array(out)


def _memory2():
    return ja.MemoryAlgorithm(0.2, [0.2, -0.1], [0.3, 0.1], [-0.2, 0.1],
                              [[0.5, 0.1], [0.0, 0.3]])


def _check_brute(X, e0, algs):
    for name, alg in algs.items():
        for replace in (True, False):
            ref = _brute(X, alg, e0, 4, 2, replace)
            got = np.asarray(ja.simulate_dataset(X, alg, e0, 4, batch_size=2,
                                                 replace=replace).loss)
            np.testing.assert_allclose(got, ref, rtol=1e-12, err_msg=f"{name} {replace}")


@pytest.mark.slow
def test_memory2_equals_brute_force_enumeration():
    rng = np.random.default_rng(0)
    X = rng.standard_t(3, size=(4, 3))
    _check_brute(X, rng.normal(size=3), {"memory 2 with shift": _memory2()})


def test_equals_brute_force_enumeration_of_all_batches():
    rng = np.random.default_rng(0)
    X = rng.standard_t(3, size=(4, 3))
    e0 = rng.normal(size=3)
    lmax = np.linalg.eigvalsh(X.T @ X / 4).max()
    algs = {
        "memory-1 with shift": ja.memory1(0.2 / lmax, 0.3, 0.5, -0.2 / lmax, 0.5),
        "Jacobi HB schedule": ja.jacobi_heavy_ball(0.5, 0.0, 3 * lmax, 4),
    }
    _check_brute(X, e0, algs)
    # a per-step batch-size schedule and more points than dimensions (and vice versa)
    X2 = rng.normal(size=(3, 5))
    e2 = rng.normal(size=5)
    alg = algs["memory-1 with shift"]
    ref = [_brute(X2, alg, e2, t, b, True)[-1] for t, b in ((1, 1), (2, 1))]
    got = ja.simulate_dataset(X2, alg, e2, 2, batch_size=[1, 1], replace=True).loss
    np.testing.assert_allclose(np.asarray(got)[1:], ref, rtol=1e-12)
    # the check can fail: the other sampling mode is far off at t = 4
    wrong = np.asarray(ja.simulate_dataset(X, algs["memory-1 with shift"], e0, 4, batch_size=2,
                                           replace=False).loss)
    ref = _brute(X, algs["memory-1 with shift"], e0, 4, 2, True)
    assert abs(wrong[-1] / ref[-1] - 1) > 1e-2


def _hermite_grid(lam):
    """6 points per axis (node 0 four times, +-sqrt(3) once): the 3-point Gauss-Hermite rule,
    exact for polynomials of degree <= 5 per coordinate, so every fourth moment is Gaussian."""
    nodes = np.array([0.0, 0.0, 0.0, 0.0, np.sqrt(3.0), -np.sqrt(3.0)])
    grid = np.array(list(itertools.product(nodes, repeat=len(lam))))
    return grid * np.sqrt(lam)


@pytest.mark.parametrize("alg", [
    pytest.param(ja.memory1(0.6, 0.3, 0.5, -0.6, 0.5), id="memory1-shift"),
    pytest.param(_memory2(), id="memory2", marks=pytest.mark.slow),
    pytest.param(ja.am1(0.5, 0.9, 1.0, 0.3, 0.5, 1.0, steps=60), id="am1-schedule",
                 marks=pytest.mark.slow)])
def test_equals_se_where_se_is_exact(alg):
    lam = np.array([1.0, 0.3, 0.05])
    X = _hermite_grid(lam)  # 216 points
    e0 = np.array([1.0, -0.7, 0.4])
    spec = ja.Spectrum(lam, e0**2)
    T, b = 60, 3
    for replace in (True, False):
        got = ja.simulate_dataset(X, alg, e0, T, batch_size=b, replace=replace)
        factor = ja.batch_factor(X.shape[0], b, replace)
        se = ja.simulate(spec, alg, T, batch_size=1 / factor, tau=(1.0, -1.0), kernel="xla")
        np.testing.assert_allclose(got.loss, se.loss, rtol=1e-12)
        np.testing.assert_allclose(got.loss_at_gradient_point, se.loss_at_gradient_point,
                                   rtol=1e-12)
    # the check can fail: translation-invariant tau is wrong for these data
    wrong = ja.simulate(spec, alg, T, batch_size=b, tau=(1.0, 1.0), kernel="xla")
    assert np.max(np.abs(np.asarray(got.loss) / np.asarray(wrong.loss) - 1)) > 1e-3


@pytest.mark.slow
def test_equals_translation_invariant_se_on_a_uniform_grid():
    N, b = 48, 16
    mu = np.array([1.0, 0.1, 0.01])
    theta = 2 * np.pi * np.arange(N) / N
    X = np.asarray(ja.reference.fourier_features(jnp.asarray(theta), mu,
                                                 ja.reference.resonance_free_frequencies(3)))
    e0 = np.array([1.0, 0.5, -0.7, 1.0, 0.6, 0.8])
    alg = ja.memory1(1.0, 0.3, 0.5, -1.0, 0.5)
    spec = ja.Spectrum(np.concatenate([mu, mu]), e0**2)
    for replace in (True, False):
        got = ja.simulate_dataset(X, alg, e0, 200, batch_size=b, replace=replace, record="log")
        se = ja.simulate(spec, alg, 200, batch_size=1 / ja.batch_factor(N, b, replace),
                         tau=(1.0, 1.0), record="log")
        np.testing.assert_allclose(got.loss, se.loss, rtol=1e-11)


def _heavy_tailed(n=24, d=4, seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_t(2.5, size=(n, d)) * np.array([1.0, 0.6, 0.3, 0.15])


REC = np.array([0, 1, 2, 4, 8, 15, 30, 60, 100])


def _mc_z(alg, replace, n_seeds, b=2, T=100):
    X = _heavy_tailed()
    data = ja.finite_data(X, replace=replace)
    e0 = np.asarray(data.coordinates(np.ones(X.shape[1])))
    mc = ja.monte_carlo_sgd(data, alg, e0, T, b, n_seeds=n_seeds, chunk=min(n_seeds, 2048),
                            record=REC)
    P = np.asarray(data.points)
    ex = ja.simulate_dataset(P, alg, e0, T, batch_size=b, replace=replace, record=REC)
    se = ja.simulate(data.spectrum(e0), alg, T, batch_size=1 / data.batch_factor(b),
                     tau=(1.0, -1.0), record=REC)
    sem = np.asarray(mc.loss_sem)[1:]
    z_ex = np.abs(np.asarray(mc.loss) - np.asarray(ex.loss))[1:] / sem
    zg = (np.abs(np.asarray(mc.loss_at_gradient_point) - np.asarray(ex.loss_at_gradient_point))
          [1:] / np.asarray(mc.loss_at_gradient_point_sem)[1:])
    z_se = np.abs(np.asarray(mc.loss) - np.asarray(se.loss))[1:] / sem
    return max(z_ex.max(), zg.max()), z_se.max()


def _mc_algorithms():
    lmax = np.linalg.eigvalsh(_heavy_tailed().T @ _heavy_tailed() / 24).max()
    return {"memory1-shift": ja.memory1(0.1 / lmax, 0.3, 0.5, -0.1 / lmax, 0.5),
            "am1-schedule": ja.am1(0.5, 0.9, 0.2 / lmax, 0.3, 0.1 / lmax, 1.0, steps=100)}


@pytest.mark.parametrize("name, replace", [("memory1-shift", True), ("am1-schedule", False)])
def test_matches_monte_carlo_on_heavy_tailed_data(name, replace):
    z_exact, z_se = _mc_z(_mc_algorithms()[name], replace, n_seeds=4096)
    assert z_exact < 3.0, z_exact
    assert z_se > 8.0, z_se  # the SE prediction (Gaussian tau) is rejected on these data


@pytest.mark.slow
@pytest.mark.parametrize("name", ["memory1-shift", "am1-schedule"])
@pytest.mark.parametrize("replace", [True, False])
def test_matches_monte_carlo_many_seeds(name, replace):
    z_exact, z_se = _mc_z(_mc_algorithms()[name], replace, n_seeds=32768)
    print(f"{name} replace={replace}: max z exact {z_exact:.2f}, SE {z_se:.1f}")
    assert z_exact < 3.0, z_exact
    assert z_se > 20.0, z_se


def test_chunking_and_outputs():
    rng = np.random.default_rng(5)
    X = 0.3 * rng.standard_t(3, size=(37, 5))
    E = rng.normal(size=(5, 2))
    alg = ja.heavy_ball(0.1, 0.5)
    one = ja.simulate_dataset(X, alg, E, 30, batch_size=3, chunk=37).loss
    many = ja.simulate_dataset(X, alg, E, 30, batch_size=3, chunk=4).loss
    np.testing.assert_allclose(many, one, rtol=1e-13)
    # outputs add up
    parts = [ja.simulate_dataset(X, alg, E[:, k], 30, batch_size=3).loss for k in range(2)]
    np.testing.assert_allclose(one, parts[0] + parts[1], rtol=1e-12)
    # full batch equals deterministic GD with memory
    fb = ja.simulate_dataset(X, ja.gd(0.1), E[:, 0], 3).loss
    H, e = X.T @ X / 37, E[:, 0].copy()
    for t in range(4):
        assert abs(fb[t] - 0.5 * e @ H @ e) < 1e-12 * fb[0]
        e = e - 0.1 * H @ e


def test_divergence_is_reported_with_its_step():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.warns(RuntimeWarning, match="diverged"):
        r = ja.simulate_dataset(X, ja.heavy_ball(3.0, 0.5), np.ones(3), 200, batch_size=2)
    assert bool(r.diverged) and 0 < int(r.diverged_at) < 200
    assert np.isinf(np.asarray(r.loss)[-1]) and not np.any(np.isnan(np.asarray(r.loss)))


def test_bad_input_names_the_argument():
    X = np.random.default_rng(0).normal(size=(5, 3))
    alg, e0 = ja.gd(0.1), np.ones(3)
    bad = X.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="points"):
        ja.simulate_dataset(bad, alg, e0, 5, batch_size=2)
    with pytest.raises(ValueError, match="points"):
        ja.simulate_dataset(np.ones(5), alg, e0, 5, batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        ja.simulate_dataset(X, alg, e0, 5, batch_size=6, replace=False)
    with pytest.raises(ValueError, match="batch_size"):
        ja.simulate_dataset(X, alg, e0, 5, batch_size=[2, 2])
    with pytest.raises(ValueError, match="batch_size"):
        ja.simulate_dataset(X, alg, e0, 5, batch_size=1.5)
    with pytest.raises(ValueError, match="initial_error"):
        ja.simulate_dataset(X, alg, np.ones(4), 5, batch_size=2)
    with pytest.raises(ValueError, match="initial_error"):
        ja.simulate_dataset(X, alg, [1.0, np.inf, 0.0], 5, batch_size=2)
    with pytest.raises(ValueError, match="algorithm"):
        ja.simulate_dataset(X, "sgd", e0, 5, batch_size=2)
    with pytest.raises(ValueError, match="replace"):
        ja.simulate_dataset(X, alg, e0, 5, batch_size=2, replace="no")
    with pytest.raises(ValueError, match="steps"):
        ja.simulate_dataset(X, ja.jacobi_heavy_ball(0.5, 0.0, 10.0, 3), e0, 5, batch_size=2)
