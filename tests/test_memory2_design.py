"""Memory-2 maps and design (theory §16).

Independent references: the brute-force spectral radius of ``S_lambda`` on a dense
``lambda`` grid (NumPy ``eig``); ``U_Sigma`` from one discrete Lyapunov solve per node (SciPy,
``tau2 = 0``, where ``A_lambda(X) = S X S^T``); long SE simulations (bounded where the map says
stable, diverged where ``U_Sigma > 1``); the factor ``mu`` relating memory 1 to the slice
``r2 = q0 = 0`` of memory 2.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg

import jaxaccel as ja

FIXED = dict(r1=0.98, r2=0.5, q0=0.1)
B = 10.0


def _alg(q1, alpha_eff, r1=0.98, r2=0.5, q0=0.1):
    s, p = r1 + r2, r1 * r2
    return ja.memory2(s, p, q0, q1, -alpha_eff * (1 - s + p) - q0 - q1)


def _rho(alg, lam_max):
    lam = np.concatenate([np.geomspace(1e-8, 1e-2, 500), np.linspace(1e-2, 1, 3000)]) * lam_max
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(alg.transition_matrix(lam))))))


def _lyapunov_U(alg, spec):
    S0, v, wbar = (np.asarray(x) for x in alg.transition_parts())
    tot = 0.0
    for lk, mk in zip(np.asarray(spec.eigenvalues), np.asarray(spec.weights)):
        X = scipy.linalg.solve_discrete_lyapunov(S0 + lk * np.outer(v, wbar), np.outer(v, v))
        tot += mk * lk**2 * X[0, 0]
    return tot / B


def test_memory2_map_vs_brute_force_lyapunov_and_simulation():
    spec = ja.power_law_spectrum(120, nu=2.0, zeta=0.5)
    q1 = np.linspace(-0.5, 1.5, 6)
    ae = np.geomspace(0.3, 300.0, 6)
    m = ja.stability_map(spec, "memory2", {"q1": q1, "alpha_eff": ae}, B, (1.0, 0.0), fixed=FIXED)
    strict = np.asarray(m.strictly_stable)
    U = np.asarray(m.U)
    assert strict.any() and (~strict).any()
    kinds = {"stable": 0, "noise": 0, "unstable": 0}
    sims = []
    for i in range(len(q1)):
        for j in range(len(ae)):
            alg = _alg(q1[i], ae[j])
            rho = _rho(alg, 1.0)
            if abs(rho - 1) > 1e-9:  # away from the boundary the decisions must agree
                assert strict[i, j] == (rho < 1), (q1[i], ae[j], rho)
            if strict[i, j]:
                np.testing.assert_allclose(U[i, j], _lyapunov_U(alg, spec), rtol=1e-9)
            if strict[i, j] and U[i, j] < 0.8 and kinds["stable"] < 2:
                kinds["stable"] += 1
                sims.append((alg, False))
            elif strict[i, j] and 1.2 < U[i, j] < np.inf and kinds["noise"] < 2:
                kinds["noise"] += 1
                sims.append((alg, True))
            elif not strict[i, j] and kinds["unstable"] < 1:
                kinds["unstable"] += 1
                sims.append((alg, True))
    assert kinds == {"stable": 2, "noise": 2, "unstable": 1}, kinds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for alg, should_diverge in sims:
            r = ja.simulate(spec, alg, 3000, batch_size=B, tau=(1.0, 0.0), record=np.array([3000]))
            assert bool(r.diverged) == should_diverge


def test_memory1_is_the_r2_q0_zero_slice_of_memory2():
    delta, q0, q1 = 0.05, 0.4, -0.9
    P1, Q1 = ja.characteristic_polynomials(ja.memory1_triplet(delta, q0, q1))
    P2, Q2 = ja.characteristic_polynomials(ja.memory2(1 - delta, 0.0, 0.0, q0, q1))
    np.testing.assert_allclose(np.asarray(P2), np.concatenate([[0.0], np.asarray(P1)]), atol=1e-14)
    np.testing.assert_allclose(np.asarray(Q2), np.concatenate([[0.0], np.asarray(Q1)]), atol=1e-14)
    np.testing.assert_allclose(float(ja.effective_learning_rate(ja.memory2(1 - delta, 0.0, 0.0, q0, q1))),
                               -(q0 + q1) / delta, rtol=1e-13)


def test_memory2_family_bad_input_names_the_coordinates():
    spec = ja.power_law_spectrum(50, nu=2.0, zeta=0.5)
    with pytest.raises(ValueError, match="memory2"):
        ja.stability_map(spec, "memory2", {"q1": [0.1], "alpha_eff": [1.0]}, B, fixed={"r1": 0.9})
    with pytest.raises(ValueError, match="delta"):
        ja.memory2_search(spec, 1.5, B)
    with pytest.raises(ValueError, match="r2"):
        ja.memory2_search(spec, 0.1, B, r2=[1.0])


@pytest.mark.slow
def test_memory2_search_contains_memory1_and_its_optimum_is_sharp():
    spec = ja.power_law_continuum(2.0, 0.5, n_max=1e5, n_head=100)
    grid = np.geomspace(0.05, 2.0, 6)
    d = ja.memory2_search(spec, 0.02, B, (1.0, -1.0), margin=0.1, r2=[-0.5, 0.0], q0=[0.0, 0.2],
                          m1_q0=grid, iters=12)
    assert d.gain >= 1 - 2e-3            # the memory-1 slice is in the memory-2 grid
    best = d.memory2
    alg = ja.memory2(0.98 + best["r2"], 0.98 * best["r2"], best["q0"], best["q1"], best["q2"])
    ns = ja.noisy_stability(spec, alg, B, (1.0, -1.0))
    assert bool(ns.strict.stable) and float(ns.U_tilde) <= 0.9
    s, p = 0.98 + best["r2"], 0.98 * best["r2"]
    q2 = -1.02 * best["alpha_eff"] * (1 - s + p) - best["q0"] - best["q1"]
    ns2 = ja.noisy_stability(spec, ja.memory2(s, p, best["q0"], best["q1"], q2), B, (1.0, -1.0))
    assert not (bool(ns2.strict.stable) and float(ns2.U_tilde) <= 0.9)  # 2% more is infeasible
