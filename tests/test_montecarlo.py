"""Monte-Carlo SGD on Gaussian data vs the SE dynamics (exact for tau = (1, -1))."""

import numpy as np
import pytest

import jaxaccel as ja


@pytest.mark.parametrize("batch", [3, 10])
def test_monte_carlo_matches_simulate_within_3_se(batch):
    s = ja.power_law_spectrum(8, nu=1.5, zeta=0.5)
    alg = ja.memory1(0.45, 0.3, 0.35, -0.4, 0.6)  # memory-1 with a gradient shift a != 0
    T = 200
    rec = np.unique(np.round(np.geomspace(1, T, 25)).astype(int))
    mc = ja.gaussian_sgd(s, alg, T, batch, n_seeds=20_000, record=rec, chunk=2_000)
    se = ja.simulate(s, alg, T, batch_size=batch, tau=(1.0, -1.0), record=rec)
    z = np.abs(np.asarray(mc.loss) - np.asarray(se.loss)) / np.asarray(mc.loss_sem)
    zg = np.abs(np.asarray(mc.loss_at_gradient_point) - np.asarray(se.loss_at_gradient_point))
    zg /= np.asarray(mc.loss_at_gradient_point_sem)
    assert z.max() < 3.0, z
    assert zg.max() < 3.0, zg
    # the check can fail: the translation-invariant noise model (tau2 = +1) is rejected
    wrong = ja.simulate(s, alg, T, batch_size=batch, tau=(1.0, 1.0), record=rec)
    zw = np.abs(np.asarray(mc.loss) - np.asarray(wrong.loss)) / np.asarray(mc.loss_sem)
    assert zw.max() > 10.0


def test_monte_carlo_rejects_bad_input():
    s = ja.power_law_spectrum(4, nu=1.5, zeta=0.5)
    with pytest.raises(ValueError, match="batch_size"):
        ja.gaussian_sgd(s, ja.gd(0.1), 10, 0)
    with pytest.raises(ValueError, match="n_seeds"):
        ja.gaussian_sgd(s, ja.gd(0.1), 10, 2, n_seeds=0)
    with pytest.raises(ValueError, match="weights"):
        ja.gaussian_sgd(ja.Spectrum([1.0], [1.0], weights=[2.0]), ja.gd(0.1), 10, 2)
