"""Scale features: grids, multi-device sharding, continuum spectra, gradients, long runs.

References: separate single runs (grids), the single-device kernel (sharding), exact
truncated spectra and the GD closed form (continuum), central finite differences (gradients),
an uninterrupted run (checkpoint/resume).
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel as ja
import jaxaccel.moments.long


# ------------------------------------------------------------------------------------ grids
def test_grid_matches_separate_runs_and_chunks_under_budget():
    s = ja.power_law_spectrum(500, nu=1.5, zeta=0.5)
    grid = {"alpha": [0.1, 0.4, 0.8], "beta": [0.0, 0.6], "batch_size": [2.0, 16.0]}
    # a budget this small forces one configuration per chunk
    g = ja.simulate_grid(s, ja.heavy_ball, grid, 120, record="log", memory_budget=1e4)
    assert g.loss.shape[:3] == (3, 2, 2) and list(g.axes) == ["alpha", "beta", "batch_size"]
    for i, a in enumerate(grid["alpha"]):
        for j, b in enumerate(grid["beta"]):
            for k, bs in enumerate(grid["batch_size"]):
                r = ja.simulate(s, ja.heavy_ball(a, b), 120, bs, record="log")
                np.testing.assert_allclose(g.loss[i, j, k], r.loss, rtol=1e-13)
                assert bool(g.diverged[i, j, k]) == bool(r.diverged)
    assert ja.moments.chunk_size(s, 1, 10**6, 1e4) == 1
    assert ja.moments.chunk_size(s, 1, 10**6, 1e9) > 100


def test_grid_sweeps_tau_and_rejects_bad_grids():
    s = ja.power_law_spectrum(100, nu=2.0, zeta=1.0)
    g = ja.simulate_grid(s, ja.nesterov, {"alpha": [0.3], "beta": [0.5], "tau2": [-1.0, 0.0, 1.0]},
                         50, batch_size=3)
    for k, t2 in enumerate([-1.0, 0.0, 1.0]):
        r = ja.simulate(s, ja.nesterov(0.3, 0.5), 50, 3, tau=(1.0, t2), record="log")
        np.testing.assert_allclose(g.loss[0, 0, k], r.loss, rtol=1e-13)
    with pytest.raises(ValueError, match="gamma"):
        ja.simulate_grid(s, ja.heavy_ball, {"alpha": [0.1], "gamma": [0.2]}, 10)
    with pytest.raises(ValueError, match="alpha"):
        ja.simulate_grid(s, ja.heavy_ball, {"alpha": [0.1, np.nan], "beta": [0.2]}, 10)
    with pytest.raises(ValueError, match="beta"):
        ja.simulate_grid(s, ja.heavy_ball, {"alpha": [0.1], "beta": []}, 10)
    with pytest.raises(ValueError, match="grid"):
        ja.simulate_grid(s, ja.heavy_ball, {}, 10)


# ------------------------------------------------------------------------------ multi-device
_SHARD_SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import numpy as np, jax, jaxaccel as ja
    assert len(jax.devices()) == 4
    s = ja.power_law_spectrum(5001, nu=1.5, zeta=0.5)
    rng = np.random.default_rng(0)
    algs = [ja.heavy_ball(0.4, 0.7), ja.nesterov(0.3, 0.6),
            ja.MemoryAlgorithm(0.3, rng.normal(size=4) * 0.1, rng.normal(size=4) * 0.1,
                               rng.normal(size=4) * 0.1, np.eye(4) * 0.3)]
    worst = 0.0
    for alg in algs:
        a = ja.simulate(s, alg, 200, batch_size=3, tau=(1.0, 0.5), return_state=True)
        b = ja.simulate_sharded(s, alg, 200, batch_size=3, tau=(1.0, 0.5), return_state=True)
        worst = max(worst, float(np.max(np.abs(np.asarray(a.loss) / np.asarray(b.loss) - 1))))
        worst = max(worst, float(np.max(np.abs(np.asarray(a.loss_at_gradient_point)
                                                / np.asarray(b.loss_at_gradient_point) - 1))))
        assert len(b.state.entries.sharding.device_set) == 4
    grid = {"alpha": [0.1, 0.5, 0.9], "beta": [0.0, 0.5, 0.9]}
    g1 = ja.simulate_grid(s, ja.heavy_ball, grid, 100, batch_size=5)
    g4 = ja.simulate_grid(s, ja.heavy_ball, grid, 100, batch_size=5, mesh=ja.make_mesh(axis="cfg"))
    ok = np.isfinite(np.asarray(g1.loss))
    worst = max(worst, float(np.max(np.abs(np.asarray(g1.loss)[ok] / np.asarray(g4.loss)[ok] - 1))))
    assert np.array_equal(np.asarray(g1.diverged), np.asarray(g4.diverged))
    print("WORST", worst)
    """
)


def test_sharded_runs_equal_single_device_on_4_cpu_devices():
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    out = subprocess.run([sys.executable, "-c", _SHARD_SCRIPT], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    worst = float(out.stdout.split("WORST")[1])
    assert worst < 1e-12


# -------------------------------------------------------------------------------- continuum
def test_continuum_reproduces_exact_truncated_spectrum_with_noise():
    N, T = 50_000, 2_000
    exact = ja.power_law_spectrum(N, 1.5, 0.5)
    cont = ja.power_law_continuum(1.5, 0.5, n_max=N, n_head=500)
    assert cont.size < 1500
    assert float(cont.weights.sum()) == pytest.approx(N, rel=1e-12)
    alg = ja.heavy_ball(0.4, 0.8)
    a = ja.simulate(exact, alg, T, 10.0, record="log")
    b = ja.simulate(cont, alg, T, 10.0, record="log")
    assert np.max(np.abs(np.asarray(b.loss) / np.asarray(a.loss) - 1)) < 1e-6


def _gd_closed_form_power_law(n_max, ts, alpha, nu=1.5, zeta=0.5, chunk=5_000_000):
    out = np.zeros(len(ts))
    for s0 in range(0, int(n_max), chunk):
        k = np.arange(s0 + 1, min(s0 + chunk, int(n_max)) + 1, dtype=np.float64)
        lam = k**-nu
        w = lam * k ** (nu - 1 - zeta * nu)
        out += np.array([0.5 * np.sum(w * (1 - alpha * lam) ** (2 * t)) for t in ts])
    return out


def test_continuum_gd_closed_form_and_error_estimate():
    ts = np.concatenate([[0], np.unique(np.round(np.geomspace(1, 1e4, 15)).astype(int))])
    ref = _gd_closed_form_power_law(1e6, ts, 0.9)
    fine, est = ja.continuum_error_estimate(ja.gd(0.9), 10_000, nu=1.5, zeta=0.5, n_max=1e6,
                                            record=ts)
    err = np.max(np.abs(np.asarray(fine.loss) / ref - 1))
    assert err < 1e-6
    assert est < 1e-5


@pytest.mark.slow
def test_continuum_matches_1e8_power_law_over_1e5_steps():
    """N = 1e8 truncated power law, T = 1e5: full-batch closed form and a noisy 1e6 reference."""
    ts = np.concatenate([[0], np.unique(np.round(np.geomspace(1, 1e5, 25)).astype(int))])
    ref = _gd_closed_form_power_law(1e8, ts, 0.9)
    cont = ja.power_law_continuum(1.5, 0.5, n_max=1e8)
    r = ja.simulate(cont, ja.gd(0.9), 100_000, record=ts)
    assert np.max(np.abs(np.asarray(r.loss) / ref - 1)) < 1e-3
    # with mini-batch noise: exact N = 1e6 over 1e4 steps
    exact = ja.power_law_spectrum(1_000_000, 1.5, 0.5)
    c6 = ja.power_law_continuum(1.5, 0.5, n_max=1e6)
    alg = ja.heavy_ball(0.4, 0.8)
    a = ja.simulate(exact, alg, 10_000, 10.0, record="log")
    b = ja.simulate(c6, alg, 10_000, 10.0, record="log")
    assert np.max(np.abs(np.asarray(b.loss) / np.asarray(a.loss) - 1)) < 1e-3


# -------------------------------------------------------------------------------- gradients
def test_gradient_of_final_loss_wrt_schedule_parameters_matches_finite_differences():
    s = ja.power_law_spectrum(300, nu=1.5, zeta=0.5)
    T = 150
    t = jnp.arange(T, dtype=jnp.float64)

    def final_log_loss(theta):
        lr0, decay, mom = theta
        alg = ja.heavy_ball(lr0 * (1.0 + t) ** (-decay), mom)
        r = ja.simulate(s, alg, T, batch_size=8.0, record=np.array([T]))
        return jnp.log(r.loss[-1])

    theta = jnp.array([0.4, 0.3, 0.6])
    g = jax.grad(final_log_loss)(theta)
    h = 1e-6
    fd = np.array([
        (final_log_loss(theta.at[i].add(h)) - final_log_loss(theta.at[i].add(-h))) / (2 * h)
        for i in range(3)
    ])
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-6)
    assert np.all(np.abs(fd) > 1e-3)  # a non-trivial gradient


# -------------------------------------------------------------------------------- long runs
def test_checkpoint_resume_after_interruption_gives_identical_curve(tmp_path, monkeypatch):
    s = ja.power_law_spectrum(2000, nu=1.5, zeta=0.5)
    steps = np.arange(700)
    alg = ja.heavy_ball(0.4 + 0.05 * np.cos(steps / 50), 0.7)
    ref = ja.run_long(s, alg, 700, batch_size=5.0, record="log", chunk_steps=100)
    one = ja.simulate(s, alg, 700, batch_size=5.0, record="log")
    np.testing.assert_allclose(ref.loss, one.loss, rtol=1e-12)

    ckpt = tmp_path / "run.npz"
    real = jaxaccel.moments.long.simulate
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(jaxaccel.moments.long, "simulate", dying)
    with pytest.raises(KeyboardInterrupt):
        ja.run_long(s, alg, 700, batch_size=5.0, record="log", chunk_steps=100,
                    checkpoint=str(ckpt))
    assert ckpt.exists() and int(np.load(ckpt)["t"]) == 300
    monkeypatch.setattr(jaxaccel.moments.long, "simulate", real)
    resumed = ja.run_long(s, alg, 700, batch_size=5.0, record="log", chunk_steps=100,
                          checkpoint=str(ckpt))
    np.testing.assert_array_equal(np.asarray(resumed.loss), np.asarray(ref.loss))
    np.testing.assert_array_equal(np.asarray(resumed.steps), np.asarray(ref.steps))
    assert not list(tmp_path.glob(".tmp-*"))  # atomic writes leave no temporaries
    # a checkpoint of another run is refused
    with pytest.raises(ValueError, match="different run"):
        ja.run_long(s, ja.heavy_ball(0.1, 0.2), 700, batch_size=5.0, record="log",
                    chunk_steps=100, checkpoint=str(ckpt))


def test_run_long_progress_and_divergence(capsys):
    s = ja.power_law_spectrum(100, nu=1.5, zeta=0.5)
    with pytest.warns(RuntimeWarning):
        r = ja.run_long(s, ja.gd(2.5), 200, record="all", chunk_steps=20, progress=True)
    assert bool(r.diverged) and 20 < int(r.diverged_at) < 40
    assert np.all(np.isinf(np.asarray(r.loss)[int(r.diverged_at) + 1:]))
    assert "step 200/200" in capsys.readouterr().err
