"""Benchmark: a grid of Heavy-Ball configurations (launch-bound small-N regime).

``jaxaccel.simulate_grid`` runs G configurations x N eigenvalues in one compiled program;
the reference is NumPy broadcasting the same recursion over a (G, N) array, measured in the
same run on fewer steps. Prints eigen-steps/s (G * N * T / time) and the ratio.

    python benchmarks/bench_grid.py            # G = 256, N = 1e4, T = 1e3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import jax

import jaxaccel as ja


def numpy_grid(lam, c2, alpha, beta, inv_b, steps):
    """Broadcast HB second-moment recursion over configurations (rows) and eigenvalues."""
    a, b = alpha[:, None], beta[:, None]
    c11 = np.broadcast_to(c2, (a.shape[0], c2.shape[0])).copy()
    c12, c22 = np.zeros_like(c11), np.zeros_like(c11)
    s11, s21 = 1.0 - a * lam, -a * lam
    for _ in range(steps):
        G = c11 @ lam
        n = lam * inv_b * (G[:, None] + lam * c11)
        c11, c12, c22 = (
            s11 * s11 * c11 + 2 * s11 * b * c12 + b * b * c22 + a * a * n,
            s11 * s21 * c11 + (s11 * b + b * s21) * c12 + b * b * c22 + a * a * n,
            s21 * s21 * c11 + 2 * s21 * b * c12 + b * b * c22 + a * a * n,
        )
    return 0.5 * (c11 @ lam)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=int, default=256)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--numpy-steps", type=int, default=50)
    a = p.parse_args()
    side = int(np.sqrt(a.configs))
    grid = {"alpha": np.linspace(0.05, 0.5, side), "beta": np.linspace(0.0, 0.9, a.configs // side)}
    G = grid["alpha"].size * grid["beta"].size
    spec = ja.power_law_spectrum(a.n, nu=1.5, zeta=0.5)
    run = lambda: ja.simulate_grid(spec, ja.heavy_ball, grid, a.steps, batch_size=10.0,  # noqa: E731
                                   record=np.array([a.steps])).loss.block_until_ready()
    run()
    t0 = time.perf_counter()
    run()
    t_jax = time.perf_counter() - t0
    A, B = (m.ravel() for m in np.meshgrid(grid["alpha"], grid["beta"], indexing="ij"))
    lam, c2 = np.asarray(spec.eigenvalues), np.asarray(spec.c2)
    t0 = time.perf_counter()
    numpy_grid(lam, c2, A, B, 0.1, a.numpy_steps)
    t_np = (time.perf_counter() - t0) / a.numpy_steps * a.steps
    rate = G * a.n * a.steps
    print(f"device: {jax.devices()[0].device_kind}  configs={G}  N={a.n}  T={a.steps}")
    print(f"jaxaccel.simulate_grid : {t_jax:8.3f} s  {rate / t_jax:10.3e} eigen-steps/s")
    print(f"numpy broadcast        : {t_np:8.3f} s* {rate / t_np:10.3e} eigen-steps/s "
          f"(*{a.numpy_steps} steps measured, scaled)")
    print(f"speed-up               : {t_np / t_jax:8.2f} x")


if __name__ == "__main__":
    main()
