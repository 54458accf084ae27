"""Accuracy of float32 runs against float64 (same recursion, pairwise global sums).

    python benchmarks/accuracy_float32.py        # N = 1e5, T = 1e4, HB and memory-1
"""

import numpy as np
import jax.numpy as jnp

import jaxaccel as ja


def main(n=100_000, steps=10_000):
    spec = ja.power_law_spectrum(n, nu=1.5, zeta=0.5)
    for name, alg in [("HB(0.4, 0.9)", ja.heavy_ball(0.4, 0.9)),
                      ("memory-1 (0.02, 0.5, -0.7)", ja.memory1_triplet(0.02, 0.5, -0.7)),
                      ("Nesterov(0.3, 0.8)", ja.nesterov(0.3, 0.8))]:
        r64 = ja.simulate(spec, alg, steps, batch_size=10.0, record="log")
        r32 = ja.simulate(spec, alg, steps, batch_size=10.0, record="log", dtype=jnp.float32)
        rel = np.abs(np.asarray(r32.loss, np.float64) / np.asarray(r64.loss) - 1)
        print(f"{name:28s} N={n} T={steps}: float32 vs float64 max rel. error {rel.max():.2e} "
              f"(final step {rel[-1]:.2e})")


if __name__ == "__main__":
    main()
