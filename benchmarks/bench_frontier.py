"""Benchmark: :func:`jaxaccel.compute_frontier` on a 32-point d-grid, against a plain NumPy loop
of the same computation measured in the same run.

The computation (theory §17.3): for each model size ``d`` the SE recursion of SGD with label
noise (theory §3.5; the injection ``lambda (tau1 G + sigma2 - tau2 lambda g) / b``) on the
deterministic-equivalent spectrum of the random-features problem (``alpha = 1, beta = 0.7``,
``v = 1e8``), ``T`` steps at batch 1, then the envelope over ``d``. The NumPy reference runs the
same recursion per size with whole-array operations (``numpy_reference``), and its loss is
compared with the engine's (max relative difference printed). Time and peak memory of both are
printed (memory: the peak resident size increase measured by ``tracemalloc`` for NumPy and the
size of the vmapped state for the engine); the ratio is what matters, absolute times depend on
the machine. The spectra are built once and shared by both.

    python benchmarks/bench_frontier.py                # 32 sizes in [50, 5000], T = 1e4
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np

import jaxaccel as ja
from jaxaccel.moments.grid import chunk_size


def numpy_reference(lam, c2, m, lr, steps, sigma2, b=1.0, tau=(1.0, -1.0)):
    """SE recursion of SGD (memory 0 in the engine's memory-1 layout is just C11) per node."""
    c = c2.copy()
    loss = np.empty(steps + 1)
    for t in range(steps + 1):
        L = 0.5 * np.dot(lam, c)
        loss[t] = L
        if t == steps:
            break
        G = 2.0 * L
        c = (1.0 - lr * lam) ** 2 * c + lr**2 * lam * ((tau[0] * G + sigma2) * m
                                                        - tau[1] * lam * c) / b
    return loss


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, default=32)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--n-nodes", type=int, default=300)
    args = p.parse_args(argv)
    ds = np.unique(np.geomspace(50, 5000, args.sizes).astype(int))
    lr, T = 0.25, args.steps
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        probs = {int(d): ja.power_law_features_equivalent(1.0, 0.7, 1e8, int(d),
                                                          n_nodes=args.n_nodes) for d in ds}
    t_spec = time.perf_counter() - t0
    n_nodes = max(p.spectrum.size for p in probs.values())
    print(f"bench_frontier: {ds.size} sizes in [{ds[0]}, {ds[-1]}], T={T}, SGD lr={lr}, batch 1; "
          f"equivalent spectra up to {n_nodes} nodes (built in {t_spec:.1f} s, not timed below)")

    fr = ja.compute_frontier(lambda d: probs[d], ja.gd(lr), ds, 50, record="log")  # compile
    t0 = time.perf_counter()
    fr = ja.compute_frontier(lambda d: probs[d], ja.gd(lr), ds, T, record="all")
    t_eng = time.perf_counter() - t0
    state_bytes = ds.size * n_nodes * 3 * 8
    chunk = chunk_size(probs[int(ds[-1])].spectrum, 1, ds.size, 2**30, 8)

    tracemalloc.start()
    t0 = time.perf_counter()
    ref = []
    for d in ds:
        pr = probs[int(d)]
        s = pr.spectrum
        ref.append(numpy_reference(np.asarray(s.eigenvalues), np.asarray(s.c2),
                                   np.asarray(s.weights), lr, T, pr.label_noise()) + pr.irreducible)
    t_np = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ref = np.array(ref)
    err = float(np.max(np.abs(fr.risk / ref - 1)))
    eig_steps = float(sum(probs[int(d)].spectrum.size for d in ds)) * T
    print(f"{'':>22s} {'time [s]':>9s} {'eigen-steps/s':>14s} {'memory':>12s}")
    print(f"{'compute_frontier':>22s} {t_eng:9.3f} {eig_steps / t_eng:14.3e} "
          f"{state_bytes / 2**20:9.2f} MiB  (vmapped state; chunks of {chunk} sizes)")
    print(f"{'NumPy loop':>22s} {t_np:9.3f} {eig_steps / t_np:14.3e} "
          f"{peak / 2**20:9.2f} MiB  (tracemalloc peak)")
    print(f"speed-up vs NumPy: {t_np / t_eng:.1f}x; max relative difference of the risk curves "
          f"{err:.1e}")
    if fr.loss_fit is not None:
        print(f"frontier exponents at T={T}: P* ~ f^{fr.loss_fit.exponent:.3f}, "
              f"d* ~ f^{fr.d_fit.exponent:.3f} (short horizon: see sims/scaling/plrf_phases.py)")
    return dict(engine_s=t_eng, numpy_s=t_np, max_rel_diff=err)


if __name__ == "__main__":
    main()
