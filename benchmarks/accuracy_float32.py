"""Accuracy of float32 runs against float64 (same recursion).

The float64 reference is the XLA scan; the float32 runs are the XLA scan (pairwise float32
global sums) and the native kernel of the backend (float64 global sums, ``jaxaccel.moments.native``).

    python benchmarks/accuracy_float32.py        # N = 1e5, T = 1e4, HB, memory-1, Nesterov
"""

import numpy as np
import jax.numpy as jnp

import jaxaccel as ja


def main(n=100_000, steps=10_000):
    spec = ja.power_law_spectrum(n, nu=1.5, zeta=0.5)
    for name, alg in [("HB(0.4, 0.9)", ja.heavy_ball(0.4, 0.9)),
                      ("memory-1 (0.02, 0.5, -0.7)", ja.memory1_triplet(0.02, 0.5, -0.7)),
                      ("Nesterov(0.3, 0.8)", ja.nesterov(0.3, 0.8))]:
        r64 = ja.simulate(spec, alg, steps, batch_size=10.0, record="log", kernel="xla")
        for kernel in ("xla", "auto"):
            r32 = ja.simulate(spec, alg, steps, batch_size=10.0, record="log", dtype=jnp.float32,
                              kernel=kernel)
            rel = np.abs(np.asarray(r32.loss, np.float64) / np.asarray(r64.loss) - 1)
            print(f"{name:28s} N={n} T={steps} kernel={kernel:4s}: float32 vs float64 max rel. "
                  f"error {rel.max():.2e} (final step {rel[-1]:.2e})")


if __name__ == "__main__":
    main()
