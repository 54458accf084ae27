"""Benchmark: scheduled memory-1 (AM1, Jacobi Heavy Ball) and memory-2 runs on the native
kernels, against a plain NumPy per-step loop of the same recursion measured in the same run.

The recursion is Algorithm A (theory §3.4) on the unique entries of each eigenvalue's block,
with the step's parameters (``S0_t``, ``v_t``, ``wbar_t``, ``1/b_t``). The NumPy reference
does the same entry-wise update with whole-array operations (the fastest plain-NumPy form),
timed on ``--numpy-steps`` steps and scaled per step. Printed per method: the default
``simulate`` (``kernel="auto"``: the general native CPU kernel for schedules and memory 2..4),
the XLA scan, their ratio to NumPy, eigen-steps/s, and the time relative to a stationary
Heavy Ball run on the tuned memory-1 kernel (the target: schedules within 1.3x of it).

    python benchmarks/bench_schedules.py               # N = 1e5, T = 1e4, batch 10, log record

It then times the long-horizon method (``loss_curve(..., method="piecewise")``) against the exact
direct run (native kernel) for AM1 on ``power_law_continuum(nu=1.5, zeta=0.5, n_max=1e8)`` at
``T = --long-steps`` (default 1e6): time ratio and max relative loss difference, and the
piecewise run alone at T = 1e8.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import jax

import jaxaccel as ja


def numpy_reference(lam, c2, alg, inv_b, steps, tau=(1.0, -1.0)):
    """Unique-entry SE recursion with per-step parameters (stationary ones broadcast)."""
    S0, v, w = (np.asarray(x, np.float64) for x in alg.transition_parts())
    K = v.shape[-1]
    if S0.ndim == 2:
        S0, v, w = (np.broadcast_to(x, (steps,) + x.shape) for x in (S0, v, w))
    inv_b = np.broadcast_to(np.asarray(inv_b, np.float64), (steps,))
    pairs = [(i, j) for i in range(K) for j in range(i, K)]
    C = {p: np.zeros_like(lam) for p in pairs}
    C[(0, 0)] = c2.copy()
    get = lambda i, j: C[(i, j)] if i <= j else C[(j, i)]  # noqa: E731
    quad = lambda ww: sum(ww[i] * ww[j] * (1.0 if i == j else 2.0) * get(i, j)  # noqa: E731
                          for i, j in pairs)
    loss = np.empty(steps + 1)
    G = float(np.dot(lam, quad(w[0])))
    for t in range(steps):
        loss[t] = 0.5 * np.dot(lam, C[(0, 0)])
        S = [[S0[t, i, j] + lam * (v[t, i] * w[t, j]) for j in range(K)] for i in range(K)]
        g = quad(w[t])
        noise = (inv_b[t] * lam) * (tau[0] * G - tau[1] * lam * g)
        T = [[sum(S[i][k] * get(k, l) for k in range(K)) for l in range(K)] for i in range(K)]
        C = {(i, j): sum(T[i][l] * S[j][l] for l in range(K)) + noise * (v[t, i] * v[t, j])
             for i, j in pairs}
        G = float(np.dot(lam, quad(w[min(t + 1, steps - 1)])))
    loss[steps] = 0.5 * np.dot(lam, C[(0, 0)])
    return loss


def multi_momentum(memory, alpha=0.3):
    betas = np.linspace(0.5, 0.9, memory)
    return ja.MemoryAlgorithm(alpha, np.zeros(memory), betas / memory,
                              -alpha * np.ones(memory), np.diag(betas))


def _timed(f, repeats):
    f().loss.block_until_ready()  # compile
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        f().loss.block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--numpy-steps", type=int, default=100)
    p.add_argument("--batch", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--long-steps", type=int, default=1_000_000)
    a = p.parse_args()
    spec = ja.power_law_spectrum(a.n, nu=1.5, zeta=0.5)
    T, b = a.steps, a.batch
    methods = {
        "heavy_ball (stationary)": (ja.heavy_ball(0.4, 0.9), b),
        "AM1 (theta = 0.4)": (ja.am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0, T), b),
        "Jacobi HB (full batch)": (ja.jacobi_heavy_ball(0.5, 0.0, 1.0, T), None),
        "memory-2 (stationary)": (multi_momentum(2), b),
        "memory-2 (batch schedule)": (multi_momentum(2), np.geomspace(b, 10 * b, T)),
    }
    lam, c2 = np.asarray(spec.eigenvalues), np.asarray(spec.c2)
    print(f"device: {jax.devices()[0].device_kind}  N={a.n}  T={T}  batch={b}  "
          f"(numpy: {a.numpy_steps} steps measured, scaled)")
    print(f"{'method':26s} {'default s':>9s} {'scan s':>8s} {'numpy s*':>9s} {'x numpy':>8s} "
          f"{'scan x np':>9s} {'eig-steps/s':>11s} {'vs HB':>6s} {'max rel diff':>12s}")
    base = None
    for name, (alg, bs) in methods.items():
        def run(kernel, alg=alg, bs=bs):
            return ja.simulate(spec, alg, T, bs, record=("log", 100), kernel=kernel)
        t_auto, t_xla = _timed(lambda: run("auto"), a.repeats), _timed(lambda: run("xla"), 1)
        n = a.numpy_steps
        inv_b = 0.0 if bs is None else 1.0 / np.asarray(bs, np.float64)[..., :n] if np.ndim(bs) \
            else 1.0 / bs
        alg_n = alg if alg.is_stationary else alg.truncate(n)
        t0 = time.perf_counter()
        ref = numpy_reference(lam, c2, alg_n, inv_b, n)
        t_np = (time.perf_counter() - t0) / n * T
        check = ja.simulate(spec, alg_n, n, None if bs is None else
                            (np.asarray(bs)[:n] if np.ndim(bs) else bs))
        err = float(np.max(np.abs(np.asarray(check.loss) - ref) / ref))
        base = t_auto if base is None else base
        print(f"{name:26s} {t_auto:9.3f} {t_xla:8.3f} {t_np:9.2f} {t_np / t_auto:8.1f} "
              f"{t_np / t_xla:9.1f} {a.n * T / t_auto:11.3e} {t_auto / base:6.2f} {err:12.1e}")
    long_horizon(a.long_steps)


def long_horizon(T):
    cont = ja.power_law_continuum(1.5, 0.5, n_max=1e8)
    args = (0.5, 0.9, 1.0, 0.4, 0.5, 1.0)  # AM1: delta0, kappa, alpha0, theta, eta', t0
    sch = ja.am1_schedule(*args)
    t0 = time.perf_counter()
    exact = ja.simulate(cont, ja.am1(*args, T), T, 10.0, record="log")
    exact.loss.block_until_ready()
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    pw = ja.loss_curve(cont, sch.algorithm, T, 10.0, record="log", method="piecewise")
    t_pw = time.perf_counter() - t0
    err = float(np.max(np.abs(np.asarray(pw.loss) / np.asarray(exact.loss) - 1)))
    t0 = time.perf_counter()
    ja.loss_curve(cont, sch.algorithm, 10**8, 10.0, record="log", method="piecewise")
    t_1e8 = time.perf_counter() - t0
    print(f"\nlong horizon, AM1 on power_law_continuum(1.5, 0.5, n_max=1e8) ({cont.size} nodes), "
          f"T = {T:.0e}: exact {t_exact:.2f} s, piecewise {t_pw:.2f} s "
          f"({t_exact / t_pw:.1f}x), max rel diff {err:.1e}; piecewise to T = 1e8: {t_1e8:.2f} s "
          "(compilation included)")


if __name__ == "__main__":
    main()
