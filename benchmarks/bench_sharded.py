"""Benchmark: eigenvalue axis sharded over devices vs one device (and NumPy).

On CPU the devices are host threads: run with ``--devices 2`` on a 2-core machine (the flag
sets ``XLA_FLAGS=--xla_force_host_platform_device_count`` before JAX starts). On a multi-GPU
machine, leave ``--devices`` unset to use all GPUs.

    python benchmarks/bench_sharded.py --devices 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=None, help="host devices to create (CPU)")
    p.add_argument("--n", type=int, default=400_000)
    p.add_argument("--steps", type=int, default=2000)
    a = p.parse_args()
    if a.devices:
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={a.devices}"
    import numpy as np
    import jax

    import jaxaccel as ja

    sys.path.insert(0, os.path.dirname(__file__))
    from bench_moments import numpy_reference

    spec = ja.power_law_spectrum(a.n, nu=1.5, zeta=0.5)
    alg = ja.heavy_ball(0.4, 0.9)

    def timed(f):
        f().loss.block_until_ready()
        t0 = time.perf_counter()
        r = f()
        r.loss.block_until_ready()
        return time.perf_counter() - t0, r

    t1, r1 = timed(lambda: ja.simulate(spec, alg, a.steps, 10.0, record="log"))
    tn, rn = timed(lambda: ja.simulate_sharded(spec, alg, a.steps, 10.0, record="log"))
    lam, c2 = np.asarray(spec.eigenvalues), np.asarray(spec.c2)
    t0 = time.perf_counter()
    numpy_reference(lam, c2, 0.4, 0.9, 0.1, 100)
    t_np = (time.perf_counter() - t0) / 100 * a.steps
    diff = float(np.max(np.abs(np.asarray(r1.loss) / np.asarray(rn.loss) - 1)))
    rate = a.n * a.steps
    print(f"devices: {len(jax.devices())} x {jax.devices()[0].device_kind}  N={a.n}  T={a.steps}")
    print(f"single device : {t1:8.3f} s  {rate / t1:10.3e} eigen-steps/s")
    print(f"sharded       : {tn:8.3f} s  {rate / tn:10.3e} eigen-steps/s  (x{t1 / tn:.2f})")
    print(f"numpy         : {t_np:8.3f} s* {rate / t_np:10.3e} eigen-steps/s (*100 steps, scaled)")
    print(f"max relative difference sharded vs single: {diff:.1e}")


if __name__ == "__main__":
    main()
