"""Power-law random features and compute-optimal frontiers (theory §17)."""

import numpy as np
import pytest

import jaxaccel as ja
from jaxaccel.spectra.random_features import power_law_population


def test_exact_spectrum_against_brute_force_least_squares():
    rf = ja.power_law_features(1.0, 0.7, v=300, d=80, seed=2, keep_embedding=True)
    W = rf.embedding
    j = np.arange(1, 301.0)
    D, b = j**-2.0, j**-0.7
    K = W.T @ (D[:, None] * W)
    theta = np.linalg.solve(K, W.T @ (D * b))
    resid = b - W @ theta
    assert rf.irreducible == pytest.approx(0.5 * resid @ (D * resid), rel=1e-9)
    assert float(rf.spectrum.initial_loss) == pytest.approx(0.5 * theta @ K @ theta, rel=1e-10)
    assert float(rf.spectrum.initial_loss) + rf.irreducible == pytest.approx(rf.initial_risk,
                                                                           rel=1e-12)
    np.testing.assert_allclose(np.sort(np.asarray(rf.spectrum.eigenvalues)),
                               np.linalg.eigvalsh(K), rtol=1e-10)


def test_fewer_data_dimensions_than_features_drops_the_null_space():
    rf = ja.power_law_features(1.0, 0.7, v=20, d=50, seed=0)
    assert rf.spectrum.size == 20
    assert rf.irreducible == pytest.approx(0.0, abs=1e-12)  # W^T x determines x


@pytest.mark.parametrize("alg", [
    ja.MemoryAlgorithm(0.25, [0.3], [0.4], [-0.2], [[0.5]]),
    pytest.param(ja.heavy_ball(0.3, 0.5), marks=pytest.mark.slow),
], ids=["shifted-memory1", "hb"])
def test_monte_carlo_on_sampled_features_matches_se_with_label_noise(alg):
    """SE is exact here (Gaussian features, independent residual): 3 standard errors."""
    rf = ja.power_law_features(1.0, 0.8, v=60, d=20, seed=3, keep_embedding=True)
    rec = [5, 20, 60, 150]
    mc = ja.random_features_sgd(rf, alg, 150, 3, n_seeds=8192, sigma2=0.05, record=rec,
                                chunk=1024)
    se = ja.simulate(rf.spectrum, alg, 150, ja.NoiseModel(3.0, 1.0, -1.0, rf.label_noise(0.05)),
                     record=rec)
    z = (np.asarray(mc.loss) - np.asarray(se.loss)) / np.asarray(mc.loss_sem)
    assert np.all(np.abs(z) < 3), z
    # the approximation residual matters: without it SE misses the Monte Carlo
    se0 = ja.simulate(rf.spectrum, alg, 150, ja.NoiseModel(3.0, 1.0, -1.0, 0.05), record=rec)
    assert abs(float(se0.loss[-1]) - float(mc.loss[-1])) > 5 * float(mc.loss_sem[-1])


def test_population_quadrature():
    D, b2, m = power_law_population(0.75, 0.6, 1e6, n_head=50)
    j = np.arange(1, 10**6 + 1, dtype=np.float64)
    # Euler-Maclaurin (midpoint) error ~ f'(n_head)/24 relative to the sum: 1e-6 at n_head = 50
    assert float((m * D).sum()) == pytest.approx(float((j**-1.5).sum()), rel=1e-5)
    assert float((m * D * b2).sum()) == pytest.approx(float((j**-2.7).sum()), rel=1e-5)


def test_equivalent_spectrum_totals_and_irreducible():
    """The equivalent holds d eigenvalues, its trace matches E tr K = sum_j D_j, and its
    irreducible risk matches the average over embeddings (8 seeds, within 3 s.e.)."""
    eq = ja.power_law_features_equivalent(1.0, 0.4, v=2000, d=200, n_nodes=300)
    assert float(eq.spectrum.weights.sum()) == pytest.approx(200, rel=1e-12)
    trace = float((eq.spectrum.weights * eq.spectrum.eigenvalues).sum())
    assert trace == pytest.approx(float((np.arange(1, 2001.0) ** -2.0).sum()), rel=2e-3)
    irr = np.array([ja.power_law_features(1.0, 0.4, 2000, 200, seed=s).irreducible for s in range(8)])
    assert abs(eq.irreducible - irr.mean()) < 3 * irr.std(ddof=1) / np.sqrt(8) + 1e-3 * irr.mean()


@pytest.mark.slow
def test_equivalent_loss_curves_against_seed_averages():
    """v = 4000, d = 500 and 2000, GD and SGD with label noise, T = 1e4: the equivalent is within
    max(2%, 3 s.e.) of the average over sampled embeddings at every recorded step. Single draws
    differ from it (and from each other) by 10-20% (the top eigen-directions fluctuate)."""
    rec = np.unique(np.geomspace(1, 10_000, 20).astype(int))
    for d, seeds in ((500, 24), (2000, 8)):
        eq = ja.power_law_features_equivalent(1.0, 0.8, 4000, d, n_nodes=2000)
        for bs in (None, 8.0):
            def curve(p):
                nm = None if bs is None else ja.NoiseModel(bs, 1.0, -1.0, p.label_noise())
                return np.asarray(ja.simulate(p.spectrum, ja.gd(0.25), 10_000, nm,
                                              record=rec).loss) + p.irreducible
            c = np.array([curve(ja.power_law_features(1.0, 0.8, 4000, d, seed=s))
                          for s in range(seeds)])
            mean, sem = c.mean(0), c.std(0, ddof=1) / np.sqrt(seeds)
            dev = np.abs(curve(eq) - mean)
            assert np.all(dev <= np.maximum(0.02 * mean, 3 * sem)), (d, bs, dev / mean, sem / mean)


def test_fit_exponent_and_its_interval():
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 1e4, 30)
    y = 3.0 * x**-0.7 * np.exp(0.01 * rng.standard_normal(30))
    f = ja.fit_exponent(x, y)
    assert f.ci[0] < -0.7 < f.ci[1] and f.ci[1] - f.ci[0] < 0.02
    with pytest.raises(ValueError, match="at least 3"):
        ja.fit_exponent([1, 2], [1, 2])


def test_frontier_envelope_is_the_minimum_over_sizes():
    probs = {d: ja.power_law_features(1.0, 1.2, 300, d, seed=0) for d in (10, 20, 40, 80)}
    fr = ja.compute_frontier(lambda d: probs[d], ja.gd(0.4), list(probs), 2000, batch_size=2.0)
    assert fr.risk.shape == (4, fr.steps.size)
    # independent: the envelope at f is never above any size's risk at that compute
    for i, d in enumerate(fr.d):
        t = fr.f / (d * 2.0)
        ok = (t >= 1) & (t <= 2000)
        lt, lr = np.log(fr.steps[1:]), np.log(fr.risk[i, 1:])
        r = np.exp(np.interp(np.log(t[ok]), lt, lr))
        assert np.all(fr.envelope[ok] <= r * (1 + 1e-12))
    # and each size's own run: risk = simulate(...) + P_inf
    p = probs[20]
    sim = ja.simulate(p.spectrum, ja.gd(0.4), 2000, ja.NoiseModel(2.0, 1.0, -1.0, p.label_noise()),
                      record="log")
    np.testing.assert_allclose(fr.risk[1], np.asarray(sim.loss) + p.irreducible, rtol=1e-12)


def test_plrf_formulas():
    e = ja.plrf_compute_optimal(1.0, 0.7)
    assert e.phase == "II" and e.d_exponent == pytest.approx(0.7 / 1.7)
    assert e.loss_exponent == pytest.approx(-2.4 / 3.4)
    e = ja.plrf_compute_optimal(0.8, 1.5)
    assert e.phase == "III" and e.d_exponent == 0.5
    assert e.loss_exponent == pytest.approx(-(1 - 1 / 3.2))


@pytest.mark.parametrize("call, name", [
    (lambda: ja.power_law_features(1.0, 0.5, 10, 0), "d"),
    (lambda: ja.power_law_features(float("nan"), 0.5, 10, 5), "alpha"),
    (lambda: ja.power_law_features(1.0, float("inf"), 10, 5), "beta"),
    (lambda: ja.power_law_features_equivalent(1.0, 0.5, 100, 200), "v"),
    (lambda: ja.power_law_features(1.0, 0.5, 100, 20).label_noise(-1.0), "sigma2"),
    (lambda: ja.compute_frontier(lambda d: None, ja.gd(0.1), [], 10), "d_grid"),
    (lambda: ja.compute_frontier(lambda d: None, ja.gd(0.1), [5], 10), "d_grid"),
    (lambda: ja.compute_frontier(lambda d: None, ja.gd(0.1), [0, 5], 10), "d_grid"),
    (lambda: ja.compute_frontier(lambda d: None, ja.gd(0.1), [5, 10], 10, sigma2=-1), "sigma2"),
    (lambda: ja.plrf_compute_optimal(0.4, 1.0), "alpha"),
    (lambda: ja.compute_frontier(lambda d: None, ja.gd(0.1), [5, 10], 10, tau=(1.0,)), "tau"),
    (lambda: ja.compute_frontier(lambda d: None, ja.gd(0.1), [5, 10], 10, fit_window=(5, 1)),
     "fit_window"),
])
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_monte_carlo_on_sampled_features_reports_divergence():
    rf = ja.power_law_features(1.0, 0.8, v=30, d=10, seed=0, keep_embedding=True)
    r = ja.random_features_sgd(rf, ja.gd(5.0), 60, 1, n_seeds=16, record=[0, 10, 60])
    assert r.diverged and r.diverged_at in (10, 60)
    assert np.all(np.isinf(np.asarray(r.loss)[np.asarray(r.steps) >= r.diverged_at]))
    ok = ja.random_features_sgd(rf, ja.gd(0.3), 60, 1, n_seeds=16, record=[0, 60])
    assert not ok.diverged and ok.diverged_at == -1
    with pytest.raises(ValueError, match="sigma2"):
        ja.random_features_sgd(rf, ja.gd(0.3), 60, 1, n_seeds=16, sigma2=float("nan"))
