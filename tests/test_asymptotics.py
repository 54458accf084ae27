"""Asymptotics (spec §5.2, §5.4): phase, propagator and loss constants, power-law fits.

Independent references (float64):

* the propagators themselves, at late times from the eigen route :func:`jaxaccel.propagators_at`
  (which ``tests/test_propagators.py`` checks against stepping and 50-digit powering);
* long SE simulations (Algorithm A, :func:`jaxaccel.simulate`), which never form a propagator
  or a sum; "continuum" problems (:func:`jaxaccel.power_law_continuum`) stand for 1e8
  eigenvalues with ~1200 nodes, discrete ``N >= 1e6`` problems are in the slow tests;
* exact power laws for :func:`jaxaccel.fit_power_law`.

Tolerances: the theory is asymptotic, with relative corrections ``O(t^-(xi_U - 1))`` (§5.2) and
finite-``N`` truncation; the tolerances below are the measured deviations with a margin of
about 2 (issue 3 asks for 5% on the loss constants and 1% on the propagator constants).
"""

import math

import numpy as np
import pytest
import jax
import jax.numpy as jnp

import jaxaccel as ja

TAU = (1.0, -1.0)


# ------------------------------------------------------------------------------ power-law fit
def test_fit_power_law_recovers_exact_power_law():
    t = np.unique(np.round(np.logspace(0, 5, 300)))
    fit = ja.fit_power_law(t, 3.0 * t**-0.7, window=(10.0, 1e5))
    assert abs(fit.exponent + 0.7) < 1e-12 and abs(fit.constant / 3.0 - 1) < 1e-11
    assert fit.uncertainty < 1e-12 and fit.local_slopes.shape == (4,)
    np.testing.assert_allclose(fit.local_slopes, -0.7, atol=1e-12)
    # default window: the last decade
    d = ja.fit_power_law(t, 3.0 * t**-0.7)
    assert abs(d.exponent + 0.7) < 1e-12


def test_fit_power_law_uncertainty_reflects_corrections_and_noise():
    """``L = t^-0.7 (1 + 30/t)`` has the local slope ``-0.7 - 30/(t+30)``: the sub-window slopes
    follow it, the uncertainty (half their range) is of the size of the fit's distance to the
    asymptotic exponent and shrinks like ``1/t`` at later windows."""
    t = np.arange(1, 100_001, dtype=float)
    L = t**-0.7 * (1 + 30.0 / t)
    early = ja.fit_power_law(t, L, (100, 1000))
    late = ja.fit_power_law(t, L, (10_000, 100_000))
    for fit, lo in ((early, 100.0), (late, 10_000.0)):
        centres = lo * 10.0 ** ((np.arange(4) + 0.5) / 4)  # geometric centres of the sub-windows
        np.testing.assert_allclose(fit.local_slopes, -0.7 - 30.0 / (centres + 30.0), atol=0.1 * fit.uncertainty)
        assert fit.uncertainty == pytest.approx(0.5 * np.ptp(fit.local_slopes), rel=1e-15)
        assert 0.5 < abs(fit.exponent + 0.7) / fit.uncertainty < 2.0
    assert 0.005 < late.uncertainty / early.uncertainty < 0.02
    # multiplicative noise (5%) on a clean power law: the error stays within the uncertainty
    rng = np.random.default_rng(0)
    ts = np.unique(np.round(np.logspace(2, 4, 400)))
    hits = 0
    for _ in range(20):
        f = ja.fit_power_law(ts, 2.0 * ts**-1.2 * np.exp(0.05 * rng.normal(size=ts.size)), (100, 1e4))
        hits += abs(f.exponent + 1.2) <= f.uncertainty
    assert hits >= 18


def test_fit_power_law_rejects_bad_input():
    t = np.arange(1.0, 101.0)
    L = t**-0.5
    with pytest.raises(ValueError, match="steps and loss"):
        ja.fit_power_law(t, L[:-1])
    with pytest.raises(ValueError, match="window"):
        ja.fit_power_law(t, L, (50.0, 10.0))
    with pytest.raises(ValueError, match="window"):
        ja.fit_power_law(t, L, (50.0, 51.0))  # two points
    with pytest.raises(ValueError, match="n_sub"):
        ja.fit_power_law(t, L, n_sub=1)
    bad = L.copy()
    bad[-1] = np.inf
    with pytest.raises(ValueError, match="loss"):
        ja.fit_power_law(t, bad)
    with pytest.raises(ValueError, match="loss"):
        ja.fit_power_law(t, -L)


# --------------------------------------------------------------------------------- phase
def test_loss_phase():
    assert ja.loss_phase(1.5, 0.5) == "signal" and ja.loss_phase(1.5, 2.0) == "noise"
    assert ja.loss_phase(2.0, 1.5) == "boundary"  # zeta = 2 - 1/nu
    assert ja.loss_phase(5.0, 1.79) == "signal" and ja.loss_phase(5.0, 1.81) == "noise"
    for nu, zeta in ((0.0, 1.0), (1.5, -1.0), (np.nan, 1.0)):
        with pytest.raises(ValueError, match="nu|zeta"):
            ja.loss_phase(nu, zeta)


# ------------------------------------------------------------ propagator asymptotics (211/221)
def _memory1_algorithms():
    """HB, Nesterov (a != 0) and a memory-1 triplet with q0 > 0 (all alpha_eff > 0)."""
    return {"hb": ja.heavy_ball(0.4, 0.6), "nesterov": ja.nesterov(0.3, 0.7),
            "triplet": ja.memory1_triplet(0.1, 0.3, -0.4)}


def test_propagator_asymptotics_closed_form():
    s = ja.power_law_spectrum(10, nu=2.0, zeta=1.5, Lambda=0.7, Q=3.0)
    alg = ja.heavy_ball(0.2, 0.5)  # alpha_eff = 0.4
    r = ja.propagator_asymptotics(s, alg, batch_size=4.0, tau=(0.8, 0.3))
    assert abs(float(r.alpha_eff) - 0.4) < 1e-15
    assert abs(float(r.C_V) / (3.0 * math.gamma(2.5) * 0.8**-1.5) - 1) < 1e-14
    # table form of C_U (spec §5.4): tau1 Lambda^(1/nu) Gamma(2 - 1/nu) (2 alpha_eff)^(1/nu) / (4 b nu)
    cu = 0.8 * 0.7**0.5 * math.gamma(1.5) * 0.8**0.5 / (4 * 4.0 * 2.0)
    assert abs(float(r.C_U) / cu - 1) < 1e-14
    assert (r.xi_V, r.xi_U) == (1.5, 1.5)
    assert float(ja.propagator_asymptotics(s, alg, None).C_U) == 0.0


def test_propagator_asymptotics_match_late_propagators():
    """(211), (221) vs U_t, V_t (and tildes) at t = 1e4 for a 1e8-eigenvalue problem (continuum
    form), three memory-1 algorithms, tau2 = -1: within 1% (measured <= 0.05%)."""
    s = ja.power_law_continuum(1.5, 0.5, n_max=1e8, n_head=1000, panels_per_decade=8)
    t = np.array([10_000])
    for name, alg in _memory1_algorithms().items():
        p = ja.propagators_at(s, alg, t, batch_size=5.0, tau=TAU)
        a = ja.propagator_asymptotics(s, alg, batch_size=5.0, tau=TAU)
        v_pred = float(a.C_V) * t ** -a.xi_V
        u_pred = float(a.C_U) * t ** -a.xi_U
        for q, pred in ((p.V, v_pred), (p.V_tilde, v_pred), (p.U, u_pred), (p.U_tilde, u_pred)):
            err = np.abs(np.asarray(q) / pred - 1)
            assert err.max() < 0.01, (name, err)


@pytest.mark.slow
def test_propagator_asymptotics_discrete_4e6():
    """Issue 3 acceptance: N = 4e6 discrete eigenvalues, t = 1e4, within 1% (spec: 0.3%)."""
    s = ja.power_law_spectrum(4_000_000, nu=1.5, zeta=0.5)
    t = np.array([10_000])
    for name, alg in _memory1_algorithms().items():
        p = ja.propagators_at(s, alg, t, batch_size=5.0, tau=TAU)
        a = ja.propagator_asymptotics(s, alg, batch_size=5.0, tau=TAU)
        for q, pred in ((p.V, float(a.C_V) * t ** -a.xi_V), (p.V_tilde, float(a.C_V) * t ** -a.xi_V),
                        (p.U, float(a.C_U) * t ** -a.xi_U), (p.U_tilde, float(a.C_U) * t ** -a.xi_U)):
            err = float(np.abs(np.asarray(q) / pred - 1).max())
            print(f"{name}: |ratio - 1| = {err:.2e}")
            assert err < 0.01, (name, err)


# ------------------------------------------------------------- loss constants (20/21/181/182)
def _ratios(spectrum, alg, b, T, t_min):
    pred = ja.predict_loss(spectrum, alg, batch_size=b, tau=TAU)
    res = ja.simulate(spectrum, alg, T, batch_size=b, tau=TAU, record=ja.log_steps(T, 120), unroll=1)
    assert not bool(res.diverged)
    t = np.asarray(res.steps)
    sel = t >= t_min
    L = np.asarray(res.loss)[sel]
    shape = t[sel].astype(float) ** pred.exponent
    return pred, L / (float(pred.constant) * shape), L / (float(pred.constant_a0) * shape)


@pytest.mark.parametrize("zeta, phase", [(0.5, "signal"), (2.0, "noise")])
def test_predicted_loss_constant_continuum(zeta, phase):
    """Theorem 3 (a = 0, eqs. 20/21 with 211/221): nu = 1.5, 1e8 eigenvalues (continuum), heavy
    ball with U_Sigma ~ 0.3; L_t / prediction over t in [3e3, 1e4] within 3% (measured 1%)."""
    s = ja.power_law_continuum(1.5, zeta, n_max=1e8, n_head=1000, panels_per_decade=8)
    pred, r, r0 = _ratios(s, ja.heavy_ball(0.4, 0.6), 5.0, 10_000, 3_000)
    assert pred.phase == phase
    assert pred.exponent == pytest.approx(-0.5 if phase == "signal" else -4.0 / 3.0, rel=1e-15)
    assert 0.25 < float(pred.sums.U) < 0.35
    np.testing.assert_array_equal(r, r0)  # a = 0: both formulas coincide
    print(f"{phase}: ratios {np.round(r, 4)}")
    assert np.abs(r - 1).max() < 0.03, r


@pytest.mark.parametrize("zeta", [0.5, 2.5])
def test_general_shift_constants_continuum(zeta):
    """Theorem 8 (a != 0, eqs. 181/182): memory-1 with a = 0.8, nu = 2 (continuum), b = 2,
    U~_Sigma ~ 0.83. The general formula is within 2% (measured 0.1%); the a = 0 formula is
    off by more than 20%."""
    alg = ja.MemoryAlgorithm(0.5, [0.8], [0.3], [-0.5], [[0.5]])
    s = ja.power_law_continuum(2.0, zeta, n_max=1e8, n_head=1000, panels_per_decade=8)
    pred, r, r0 = _ratios(s, alg, 2.0, 10_000, 3_000)
    assert 0.7 < float(pred.sums.U_tilde) < 0.9 and float(pred.sums.U) < 0.5
    print(f"zeta={zeta}: ratios {np.round(r, 4)}, a=0 formula {np.round(r0, 3)}")
    assert np.abs(r - 1).max() < 0.02, r
    assert np.abs(r0 - 1).min() > 0.2, r0


@pytest.mark.slow
@pytest.mark.parametrize("zeta", [0.5, 2.0])
def test_predicted_loss_constant_discrete_1e6(zeta):
    """Issue 3 acceptance: N = 1e6 discrete eigenvalues, nu = 1.5, simulated to t = 1e4;
    L_t / prediction within 5% for t in [2e3, 1e4]."""
    s = ja.power_law_spectrum(1_000_000, 1.5, zeta)
    pred, r, _ = _ratios(s, ja.heavy_ball(0.4, 0.6), 5.0, 10_000, 2_000)
    print(f"zeta={zeta}: ratios {np.round(r, 4)}")
    assert np.abs(r - 1).max() < 0.05, r


@pytest.mark.slow
@pytest.mark.parametrize("zeta", [0.5, 2.0])
def test_predicted_loss_constant_continuum_1e5(zeta):
    """1e8 eigenvalues (continuum), simulated to t = 1e5: within 1.5% for t >= 1e4."""
    s = ja.power_law_continuum(1.5, zeta, n_max=1e8, n_head=2000, panels_per_decade=16)
    _, r, _ = _ratios(s, ja.heavy_ball(0.4, 0.6), 5.0, 100_000, 10_000)
    print(f"zeta={zeta}: ratios {np.round(r, 4)}")
    assert np.abs(r - 1).max() < 0.015, r


@pytest.mark.slow
@pytest.mark.parametrize("zeta", [0.3, 3.0])
def test_general_shift_constants_discrete_nu5(zeta):
    """The spec's check (§5.2, a = 0.8, nu = 5, t = 6000): discrete spectrum (N = 2000, enough
    for nu = 5); the general formula within 5% over [2e3, 6e3], the a = 0 formula off by > 30%."""
    alg = ja.MemoryAlgorithm(0.5, [0.8], [0.3], [-0.5], [[0.5]])
    s = ja.power_law_spectrum(2000, 5.0, zeta)
    _, r, r0 = _ratios(s, alg, 2.0, 6_000, 2_000)
    print(f"zeta={zeta}: ratios {np.round(r, 4)}, a=0 formula {np.round(r0, 3)}")
    assert np.abs(r - 1).max() < 0.05, r
    assert np.abs(r0 - 1).min() > 0.3, r0


def test_full_batch_prediction():
    """Full batch: L_t = V_{t+1}/2 ~ C_V t^-zeta / 2 (211); simulated to t = 1e4: within 1%."""
    s = ja.power_law_continuum(1.5, 0.5, n_max=1e8, n_head=1000, panels_per_decade=8)
    alg = ja.heavy_ball(0.4, 0.6)
    pred = ja.predict_loss(s, alg, None)
    assert pred.phase == "full_batch" and pred.exponent == -0.5
    res = ja.simulate(s, alg, 10_000, batch_size=None, record=[3000, 10_000], unroll=1)
    r = np.asarray(res.loss) / (float(pred.constant) * np.array([3000.0, 1e4]) ** -0.5)
    assert np.abs(r - 1).max() < 0.01, r


# -------------------------------------------------------------------- flags, vmap, bad input
def test_unstable_and_boundary_predictions():
    s = ja.power_law_spectrum(500, nu=1.5, zeta=0.5)
    p = ja.predict_loss(s, ja.heavy_ball(0.4, 0.6), batch_size=0.5, tau=(1.0, 0.0))  # U~ > 1
    assert bool(p.sums.stable) and float(p.sums.U_tilde) > 1
    assert np.isinf(float(p.constant)) and np.isinf(float(p.constant_a0))
    q = ja.predict_loss(s, ja.heavy_ball(5.0, 0.5), batch_size=10.0)  # A_lambda unstable
    assert not bool(q.sums.stable) and np.isinf(float(q.constant))
    edge = ja.power_law_spectrum(500, nu=2.0, zeta=1.5)
    e = ja.predict_loss(edge, ja.heavy_ball(0.4, 0.6), batch_size=10.0)
    assert e.phase == "boundary" and np.isnan(float(e.constant))


def test_predictions_vmap_over_hyperparameters():
    s = ja.power_law_spectrum(500, nu=1.5, zeta=2.0)
    alphas = jnp.array([0.1, 0.4])

    def const(alpha):
        return ja.predict_loss(s, ja.heavy_ball(alpha, 0.6), batch_size=8.0).constant

    batched = jax.vmap(const)(alphas)
    single = np.array([float(const(a)) for a in np.asarray(alphas)])
    np.testing.assert_allclose(np.asarray(batched), single, rtol=1e-12)


def test_predictions_reject_bad_input():
    s = ja.power_law_spectrum(100, nu=1.5, zeta=0.5)
    hb = ja.heavy_ball(0.1, 0.5)
    with pytest.raises(ValueError, match="stationary"):
        ja.predict_loss(s, ja.heavy_ball(np.full(5, 0.1), 0.5), 4.0)
    with pytest.raises(ValueError, match="power_law"):
        ja.predict_loss(ja.Spectrum([1.0, 0.5], [1.0, 1.0]), hb, 4.0)
    with pytest.raises(ValueError, match="nu"):
        ja.predict_loss(ja.power_law_spectrum(100, nu=0.8, zeta=0.5), hb, 4.0)
    with pytest.raises(ValueError, match="alpha_eff"):
        ja.predict_loss(s, ja.gd(-0.1), 4.0)
    with pytest.raises(ValueError, match="batch_size"):
        ja.predict_loss(s, hb, -1.0)
    with pytest.raises(ValueError, match="tau"):
        ja.propagator_asymptotics(s, hb, 4.0, tau=(1.0, 0.0, 2.0))
    with pytest.raises(ValueError, match="algorithm"):
        ja.propagator_asymptotics(s, "hb", 4.0)


# ------------------------------------------------------------------------------------ the sim
def test_propagator_constants_sim_quick(tmp_path, capsys):
    """sims/sgd_memory/propagator_constants.py with one algorithm (the problem and horizon of
    the tests above, so the compilations are shared)."""
    import importlib.util
    import json
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sims",
                        "sgd_memory", "propagator_constants.py")
    spec = importlib.util.spec_from_file_location("sim_propagator_constants", path)
    sim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sim)
    out = str(tmp_path / "pc")
    summary = sim.main(["--algorithms", "hb", "--batch", "5", "--out", out])
    for ext in ("npz", "json", "png"):
        f = os.path.join(out, f"propagator_constants.{ext}")
        assert os.path.isfile(f) and os.path.getsize(f) > 0, f
    with open(os.path.join(out, "propagator_constants.json")) as f:
        meta = json.load(f)
    data = np.load(os.path.join(out, "propagator_constants.npz"))
    assert data["loss"].shape == (2, data["steps"].size)
    rows = summary["table"]
    assert [r["phase"] for r in rows] == ["signal", "noise"] and len(meta["table"]) == 2
    assert summary["max_relative_deviation"] < 0.03
    for r in rows:
        assert abs(r["V_T_ratio"] - 1) < 0.01 and abs(r["U_T_ratio"] - 1) < 0.01
        assert abs(r["fitted_exponent"] - r["predicted_exponent"]) < 0.02
    assert "L/pred" in capsys.readouterr().out
