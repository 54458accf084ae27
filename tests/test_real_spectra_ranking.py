"""Ranking grid points on a user's own (kernel) spectrum: fitted power-law metadata makes the
asymptotic theory apply, and ``best_grid_point`` ranks by the simulated loss either way.

Reference: the simulated loss of every grid point (``simulate`` one by one) for the ranking;
the fitted exponents of the NTK of the digits (theory §9) for the metadata.
"""

import numpy as np
import pytest

import jaxaccel as ja


@pytest.fixture(scope="module")
def kernel_spectrum():
    X, Y = ja.load_digits(300)
    return ja.Spectrum.from_kernel(ja.relu_ntk(X), Y)


def test_fitted_power_law_metadata_gives_a_phase_and_constants(kernel_spectrum):
    s = kernel_spectrum
    grid = {"alpha": [0.5, 2.0], "beta": [0.0, 0.5]}
    bare = ja.stability_map(s, "heavy_ball", grid, batch_size=10.0)
    assert bare.phase == "unknown"
    assert np.isnan(np.asarray(bare.C_L)[np.asarray(bare.stable)]).all()  # cannot rank
    fit = ja.fit_spectrum_exponents(s)
    with_pl = s.with_power_law(fit.power_law)
    assert with_pl.power_law.nu == pytest.approx(fit.nu) and with_pl.size == s.size
    m = ja.stability_map(with_pl, "heavy_ball", grid, batch_size=10.0)
    assert m.phase in ("signal", "noise")
    C = np.asarray(m.C_L)
    assert np.all(np.isfinite(C[np.asarray(m.stable)]) & (C[np.asarray(m.stable)] > 0))
    with pytest.raises(ValueError, match="power_law"):
        s.with_power_law((1.5, 0.5, 1.0, 1.0))
    with pytest.raises(ValueError, match="power_law.nu"):
        s.with_power_law(ja.PowerLaw(-1.0, 0.5, 1.0, 1.0))


def test_best_grid_point_is_the_smallest_simulated_loss(kernel_spectrum):
    s = kernel_spectrum
    grid = {"alpha": [0.2, 0.8, 2.0, 8.0], "beta": [0.0, 0.6, 0.9]}
    best = ja.best_grid_point(s, ja.heavy_ball, grid, 200, batch_size=10.0)
    ref = np.full((4, 3), np.inf)
    for i, a in enumerate(grid["alpha"]):
        for j, b in enumerate(grid["beta"]):
            if bool(best.stability.stable[i, j]):
                r = ja.simulate(s, ja.heavy_ball(a, b), 200, 10.0, record=[200],
                                divergence_growth=None)
                ref[i, j] = float(r.loss[-1]) if not bool(r.diverged) else np.inf
    np.testing.assert_allclose(best.losses[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-12)
    assert best.index == np.unravel_index(np.argmin(ref), ref.shape)
    assert best.params == {"alpha": grid["alpha"][best.index[0]],
                           "beta": grid["beta"][best.index[1]]}
    with pytest.raises(ValueError, match="family"):
        ja.best_grid_point(s, "heavy_ball", grid, 10)
    with pytest.raises(ValueError, match="horizon"):
        ja.best_grid_point(s, ja.heavy_ball, grid, 0)
