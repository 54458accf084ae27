"""Label noise (theory §3.5): the injection lambda (tau1 G + sigma2 - tau2 lambda g) / b, checked
against a brute-force full-covariance recursion, Monte Carlo (where SE is exact), the renewal
form, the native kernels, grids, long runs and the predicted floor."""

import numpy as np
import pytest
import jax.numpy as jnp

import jaxaccel as ja

RTOL = 1e-12  # float64 agreement of two exact computations of the same recursion


def _brute_force(lam_full, w0, alg, steps, b, sigma2):
    """Full (M+1)d x (M+1)d second moment of (w - w*, u) for Gaussian data with covariance
    ``lam_full`` (a dense SPD matrix), Isserlis fourth moments, label noise ``sigma2``."""
    d = lam_full.shape[0]
    S0, v, wb = (np.asarray(x, np.float64) for x in alg.transition_parts())
    K = S0.shape[0]
    H = lam_full
    S = np.kron(S0, np.eye(d)) + np.kron(np.outer(v, wb), H)
    x0 = np.concatenate([w0, np.zeros((K - 1) * d)])
    C = np.outer(x0, x0)
    Wb = np.kron(wb[None, :], np.eye(d))  # gradient point: (w + a u) - w*
    out = []
    for _ in range(steps + 1):
        out.append(0.5 * np.trace(H @ C[:d, :d]))
        A = Wb @ C @ Wb.T
        Sigma = np.trace(H @ A) * H + H @ A @ H  # Gaussian: tau = (1, -1)
        noise = (Sigma + sigma2 * H) / b
        C = S @ C @ S.T + np.kron(np.outer(v, v), noise)
    return np.array(out)


@pytest.mark.parametrize("alg", [ja.heavy_ball(0.3, 0.6),
                                 ja.MemoryAlgorithm(0.25, [0.3], [0.4], [-0.2], [[0.5]])],
                         ids=["hb", "shifted-memory1"])
def test_simulate_equals_brute_force_full_covariance(alg):
    rng = np.random.default_rng(0)
    lam = np.array([1.0, 0.5, 0.2, 0.05])
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    H = Q @ np.diag(lam) @ Q.T
    w0 = rng.standard_normal(4)
    ref = _brute_force(H, w0, alg, 60, 3.0, 0.4)
    spec = ja.Spectrum(lam, (Q.T @ w0) ** 2)
    got = ja.simulate(spec, alg, 60, ja.NoiseModel(3.0, 1.0, -1.0, 0.4), kernel="xla").loss
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-12)
    # without label noise the floor disappears: the brute force then differs
    assert abs(_brute_force(H, w0, alg, 60, 3.0, 0.0)[-1] / ref[-1] - 1) > 0.1


@pytest.mark.parametrize("case", ["memory1", "am1-schedule", "memory2", "batch-schedule"])
def test_native_kernels_carry_label_noise(case):
    spec = ja.power_law_spectrum(500, nu=1.5, zeta=0.5)
    steps = 200
    if case == "memory1":
        alg, bs = ja.MemoryAlgorithm(0.3, [0.2], [0.5], [-0.1], [[0.4]]), 5.0
    elif case == "am1-schedule":
        alg, bs = ja.am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0, steps=steps), 5.0
    elif case == "memory2":
        alg, bs = ja.MemoryAlgorithm(0.2, [0.0, 0.0], [0.3, 0.2], [-1.0, -0.5],
                                     [[0.5, 0.1], [0.0, 0.3]]), 6.0
    else:
        alg, bs = ja.heavy_ball(0.3, 0.5), np.linspace(4.0, 12.0, steps)
    nm = ja.NoiseModel(bs, 1.0, -1.0, 0.3)
    a = ja.simulate(spec, alg, steps, nm, kernel="xla")
    b = ja.simulate(spec, alg, steps, nm, kernel="cpu")
    np.testing.assert_allclose(np.asarray(b.loss), np.asarray(a.loss), rtol=RTOL)
    np.testing.assert_allclose(np.asarray(b.loss_at_gradient_point),
                               np.asarray(a.loss_at_gradient_point), rtol=RTOL)
    plain = ja.simulate(spec, alg, steps, ja.NoiseModel(bs, 1.0, -1.0), kernel="cpu")
    assert float(b.loss[-1]) > 1.2 * float(plain.loss[-1])  # label noise is not ignored


def test_full_batch_ignores_label_noise():
    spec = ja.power_law_spectrum(50, nu=1.5, zeta=0.5)
    a = ja.simulate(spec, ja.heavy_ball(0.3, 0.5), 50, ja.NoiseModel(None, 1.0, -1.0, 2.0))
    b = ja.simulate(spec, ja.heavy_ball(0.3, 0.5), 50, None)
    np.testing.assert_array_equal(np.asarray(a.loss), np.asarray(b.loss))


@pytest.mark.parametrize("alg", [ja.heavy_ball(0.3, 0.5),
                                 ja.MemoryAlgorithm(0.25, [0.3], [0.4], [-0.2], [[0.5]])],
                         ids=["hb", "shifted-memory1"])
def test_monte_carlo_gaussian_data_with_label_noise(alg):
    """SE is exact for Gaussian data with independent label noise: 3 standard errors."""
    s = ja.power_law_spectrum(8, nu=1.5, zeta=0.5)
    rec = [5, 20, 60, 150]
    mc = ja.gaussian_sgd(s, alg, 150, 3, n_seeds=8192, record=rec, label_noise=0.2, chunk=2048)
    se = ja.simulate(s, alg, 150, ja.NoiseModel(3.0, 1.0, -1.0, 0.2), record=rec)
    z = (np.asarray(mc.loss) - np.asarray(se.loss)) / np.asarray(mc.loss_sem)
    assert np.all(np.abs(z) < 3), z
    noiseless = ja.simulate(s, alg, 150, 3.0, record=rec)
    zn = (np.asarray(mc.loss) - np.asarray(noiseless.loss)) / np.asarray(mc.loss_sem)
    assert np.abs(zn[-1]) > 10  # the check can fail: without sigma2 the SE curve is far off


@pytest.mark.parametrize("tau1", [1.0, 0.0, 0.5])
def test_renewal_forcing_equals_simulation(tau1):
    s = ja.power_law_spectrum(100, nu=1.5, zeta=0.5)
    alg = ja.MemoryAlgorithm(0.25, [0.3], [0.4], [-0.2], [[0.5]])
    nm = ja.NoiseModel(4.0, tau1, -0.5, 0.3)
    a = ja.loss_curve(s, alg, 300, nm, record="log")
    b = ja.simulate(s, alg, 300, nm, record="log")
    np.testing.assert_allclose(np.asarray(a.loss), np.asarray(b.loss), rtol=1e-11)
    np.testing.assert_allclose(np.asarray(a.loss_at_gradient_point),
                               np.asarray(b.loss_at_gradient_point), rtol=1e-11)
    fft = ja.loss_curve(s, alg, 300, nm, record="log", renewal_method="fft")
    np.testing.assert_allclose(np.asarray(fft.loss), np.asarray(b.loss), rtol=1e-10)


def test_grid_sweeps_sigma2():
    s = ja.power_law_spectrum(100, nu=1.5, zeta=0.5)
    g = ja.simulate_grid(s, lambda alpha: ja.gd(alpha), {"alpha": [0.2, 0.4], "sigma2": [0.0, 0.5]},
                         100, batch_size=4.0, record=[100])
    for i, a in enumerate([0.2, 0.4]):
        for j, s2 in enumerate([0.0, 0.5]):
            r = ja.simulate(s, ja.gd(a), 100, ja.NoiseModel(4.0, 1.0, -1.0, s2), record=[100])
            np.testing.assert_allclose(float(g.loss[i, j, 0]), float(r.loss[0]), rtol=RTOL)


def test_run_long_with_label_noise_and_its_fingerprint(tmp_path):
    s = ja.power_law_spectrum(100, nu=1.5, zeta=0.5)
    nm = ja.NoiseModel(4.0, 1.0, -1.0, 0.5)
    ck = str(tmp_path / "ck.npz")
    r = ja.run_long(s, ja.gd(0.3), 60, nm, chunk_steps=20, checkpoint=ck, record=[60])
    ref = ja.simulate(s, ja.gd(0.3), 60, nm, record=[60])
    np.testing.assert_allclose(np.asarray(r.loss), np.asarray(ref.loss), rtol=RTOL)
    with pytest.raises(ValueError, match="tau"):
        ja.run_long(s, ja.gd(0.3), 60, ja.NoiseModel(4.0, 1.0, -1.0, 0.1), chunk_steps=20,
                    checkpoint=ck, record=[60])


def test_gd_floor_closed_form():
    """GD with label noise: L_inf = sigma2/2 * S / (1 - tau1 S / b) / b,
    S = sum_k alpha lambda_k / (2 - alpha lambda_k) (the GD noise sums in closed form)."""
    s = ja.power_law_spectrum(3, nu=2.0, zeta=1.0)  # predict_loss needs power-law metadata
    lam = np.asarray(s.eigenvalues)
    a, b, s2 = 0.5, 4.0, 0.6
    S = np.sum(a * lam / (2 - a * lam))
    expect = 0.5 * s2 * S / b / (1 - S / b)
    p = ja.predict_loss(s, ja.gd(a), ja.NoiseModel(b, 1.0, 0.0, s2))
    assert float(p.floor) == pytest.approx(expect, rel=1e-12)
    long = ja.simulate(s, ja.gd(a), 4000, ja.NoiseModel(b, 1.0, 0.0, s2), record=[4000])
    assert float(long.loss[0]) == pytest.approx(expect, rel=1e-10)
    # tau1 = 0: no multiplicative noise, only the label noise; the floor is sigma2/2 S / b
    p0 = ja.predict_loss(s, ja.gd(a), ja.NoiseModel(b, 0.0, 0.0, s2))
    assert float(p0.floor) == pytest.approx(0.5 * s2 * S / b, rel=1e-12)


def test_floor_and_approach_against_a_long_run():
    """Noise phase on a continuum spectrum: floor within 1% at T = 1e5 (measured 1.5e-3: the
    approach term), and (L_t - L_inf) t^(1 - 1/nu) within 1% of the predicted constant
    (measured 1.2e-5)."""
    s = ja.power_law_continuum(2.0, 2.0, 1e9)
    alg = ja.heavy_ball(0.3, 0.6)
    nm = ja.NoiseModel(4.0, 1.0, -1.0, 0.5)
    p = ja.predict_loss(s, alg, nm)
    T = 100_000
    r = ja.loss_curve(s, alg, T, nm, record=[T // 10, T], propagator_method="eigen",
                      renewal_method="fft")
    L = np.asarray(r.loss)
    assert L[-1] == pytest.approx(float(p.floor), rel=1e-2)
    ratio = (L - float(p.floor)) / (float(p.approach_constant) * np.array([T // 10, T]) ** p.approach_exponent)
    assert ratio[-1] == pytest.approx(1.0, abs=1e-2)
    assert p.approach_exponent == pytest.approx(-0.5)


@pytest.mark.slow
def test_approach_in_the_signal_phase():
    """Signal phase, zeta < 1 - 1/nu: the signal term dominates the approach (measured ratio
    0.9977 at T = 1e6)."""
    s = ja.power_law_continuum(2.0, 0.3, 1e9)
    alg = ja.heavy_ball(0.3, 0.6)
    nm = ja.NoiseModel(4.0, 1.0, -1.0, 0.5)
    p = ja.predict_loss(s, alg, nm)
    T = 1_000_000
    r = ja.loss_curve(s, alg, T, nm, record=[T], propagator_method="eigen", renewal_method="fft")
    ratio = (float(r.loss[0]) - float(p.floor)) / (float(p.approach_constant) * T ** p.approach_exponent)
    assert ratio == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), [0.1, 0.2]])
def test_bad_sigma2(bad):
    with pytest.raises(ValueError, match="sigma2"):
        ja.NoiseModel(4.0, 1.0, -1.0, bad)


def test_bad_label_noise_in_monte_carlo_and_piecewise():
    s = ja.power_law_spectrum(4, nu=1.5, zeta=0.5)
    with pytest.raises(ValueError, match="label_noise"):
        ja.gaussian_sgd(s, ja.gd(0.3), 5, 2, n_seeds=4, label_noise=-1.0)
    with pytest.raises(ValueError, match="sigma2"):
        ja.loss_curve(s, lambda t: ja.gd(0.3), 50, ja.NoiseModel(4.0, 1.0, -1.0, 0.1),
                      method="piecewise")


def test_irreducible_risk_and_total():
    nm = ja.NoiseModel(4.0, sigma2=0.5)
    assert float(nm.irreducible_risk()) == 0.25
    assert nm.has_label_noise and not ja.NoiseModel(4.0).has_label_noise
    np.testing.assert_array_equal(np.asarray(nm.coefficients()), [1.0, -1.0, 0.5])
