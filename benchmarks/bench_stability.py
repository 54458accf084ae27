"""Benchmark: Heavy Ball stability map against a NumPy loop over the grid.

``jaxaccel.stability_map`` evaluates, on an ``n x n`` grid of ``(alpha, beta)``, the strict
stability margin on ``(0, lambda_max]`` (dense lambda grid + root-locus refinement), the noise
sum ``U_Sigma`` and ``alpha_eff`` and ``C_L`` over a power-law spectrum, in one jitted program
(vmap inside chunks, lax.map over chunks). The NumPy reference loops over the grid points and
computes the same core quantities plainly: the spectral radius of ``S_lambda`` on the same
number of lambda points (closed-form roots of the 2x2 characteristic polynomial) and the
closed-form Heavy Ball ``U_Sigma`` (spec §5.3) vectorised over the spectrum. It does less work
(no refinement, no ``C_L``), so the ratio is conservative.

    python benchmarks/bench_stability.py            # 64 x 64 grid, N = 1e4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import jax

import jaxaccel as ja


def numpy_map(lam, alphas, betas, b, tau, n_lam):
    grid = np.concatenate([np.geomspace(lam.min(), lam.max(), n_lam),
                           np.linspace(lam.min(), lam.max(), n_lam // 2)])
    radius = np.empty((alphas.size, betas.size))
    U = np.empty_like(radius)
    for i, al in enumerate(alphas):
        for j, be in enumerate(betas):
            tr = 1.0 + be - al * grid                      # mu^2 - tr mu + beta = 0
            disc = tr * tr - 4.0 * be + 0j
            r = np.maximum(np.abs((tr + np.sqrt(disc)) / 2), np.abs((tr - np.sqrt(disc)) / 2))
            radius[i, j] = r.max()
            d = 2 * (1 - be**2) - al * lam * (1 - be) + tau[1] / b * al * lam * (1 + be)
            U[i, j] = tau[0] / b * np.sum(al * (1 + be) * lam / d) if np.all(d > 0) else np.inf
    return radius, U


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    # tau2 = 0: strict stability is that of S_lambda alone, which the reference computes
    b, tau = 10.0, (1.0, 0.0)
    spec = ja.power_law_spectrum(a.n, nu=1.5, zeta=0.5)
    alphas = np.geomspace(0.05, 5.0, a.grid)
    betas = np.linspace(-0.9, 0.995, a.grid)
    grid = {"alpha": alphas, "beta": betas}
    run = lambda: ja.stability_map(spec, "heavy_ball", grid, batch_size=b, tau=tau)  # noqa: E731
    smap = run()
    jax.block_until_ready(smap.U)
    best = np.inf
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(run().U)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    radius, U = numpy_map(np.asarray(spec.eigenvalues), alphas, betas, b, tau, 128)
    t_np = time.perf_counter() - t0
    ok = np.isfinite(U) & np.isfinite(np.asarray(smap.U))
    err = np.max(np.abs(np.asarray(smap.U)[ok] / U[ok] - 1))
    agree = np.mean((radius < 1) == np.asarray(smap.strictly_stable))
    print(f"device: {jax.devices()[0].device_kind}  float64  HB map {a.grid}x{a.grid}, N={a.n}")
    print(f"jaxaccel.stability_map : {best:8.3f} s  ({a.grid**2 * a.n / best:.3e} point-eigen/s)")
    print(f"numpy loop             : {t_np:8.3f} s")
    print(f"speed-up               : {t_np / best:8.2f} x   (U_Sigma max rel. diff {err:.1e}; "
          f"strict-stability decisions agree on {agree * 100:.1f}% of points)")


if __name__ == "__main__":
    main()
