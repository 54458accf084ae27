"""Divergence reporting: the absolute threshold and the sustained-growth rule for slow blow-ups,
on the scan and the native kernels alike.

References: AM1 with theta = 0.8 beyond its allowed range (kappa (1 - 1/nu) = 0.45) grows
~1.5e3x above its minimum after an onset near t ~ 1.3e4 without reaching the absolute
threshold; stable Heavy Ball configurations (strictly and noisily stable) never stay above
100x their running minimum, although a full-batch HB close to its edge has transient bumps of
~220x that fall back.
"""

import warnings

import numpy as np
import pytest

import jaxaccel as ja

S2 = ja.power_law_continuum(2.0, 0.5, n_max=1e8)


@pytest.mark.parametrize("kernel", ["auto", "xla"])
def test_slow_am1_blow_up_is_flagged_with_its_onset(kernel):
    alg = ja.am1(0.5, 0.9, 1.0, 0.8, 0.5, 1.0, 20_000)
    with pytest.warns(RuntimeWarning, match="sustained growth"):
        r = ja.simulate(S2, alg, 20_000, 10, record="log", kernel=kernel)
    L = np.asarray(r.loss)
    assert bool(r.diverged) and np.all(np.isfinite(L))  # below the absolute threshold
    onset = int(r.diverged_at)
    assert 5_000 < onset < 20_000
    i = int(np.searchsorted(np.asarray(r.steps), onset))
    assert np.all(L[i:] > 100 * np.minimum.accumulate(L)[i:])
    assert L[-1] > 1e3 * L.min()
    without = ja.simulate(S2, alg, 20_000, 10, record="log", kernel=kernel,
                          divergence_growth=None)
    assert not bool(without.diverged)
    # a stable Heavy Ball on the same problem and horizon is not flagged
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        hb = ja.simulate(S2, ja.heavy_ball(0.4, 0.9), 20_000, 10, record="log", kernel=kernel)
    assert not bool(hb.diverged)


@pytest.mark.parametrize("a, b, batch", [(0.4, 0.9, 10.0), (1.0, 0.5, 10.0), (3.9, 0.99, None),
                                         (3.5, 0.9, None), (0.5, 0.99, None)])
def test_stable_heavy_ball_bumps_are_not_flagged(a, b, batch):
    s = ja.power_law_spectrum(1000, nu=2.0, zeta=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = ja.simulate(s, ja.heavy_ball(a, b), 10_000, batch, record="all")
    assert not bool(r.diverged)


def test_growth_rule_is_traceable_and_validated():
    import jax

    s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
    f = jax.vmap(lambda al: ja.simulate(s, ja.heavy_ball(al, 0.5), 50, 10.0).diverged)
    assert not np.asarray(f(np.array([0.2, 0.4]))).any()
    with pytest.raises(ValueError, match="divergence_growth"):
        ja.simulate(s, ja.heavy_ball(0.2, 0.5), 10, divergence_growth=1.0)
