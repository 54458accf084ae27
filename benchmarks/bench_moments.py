"""Benchmark: SE second-moment dynamics (memory-1 Heavy Ball) against a plain NumPy loop.

Both implement the same recursion (Algorithm A, theory §3.4, three unique entries per
eigenvalue, global sum each step) on the same power-law spectrum; the NumPy reference is timed
on fewer steps and scaled per step. Prints eigen-steps/s of each and the ratio, for the default
``simulate`` (``kernel="auto"``: the native kernel of the backend for memory 1, see
``jaxaccel.moments.native``) and for the XLA scan (``kernel="xla"``). On a GPU it also
prints the fraction of the memory-bandwidth floor (28 bytes per eigen-step in float32: read and
write 3 moments, read lambda) for a given copy bandwidth.

    python benchmarks/bench_moments.py                 # N = 1e5, T = 1e4 (issue target)
    python benchmarks/bench_moments.py --memory 2      # general-M path (dense blocks)
    python benchmarks/bench_moments.py --n 10000000 --dtype float32 --bandwidth 3.0e12

With ``--memory M > 1`` the algorithm is a stable memory-M "multi-momentum" method (M Heavy
Ball buffers with momenta spread in [0.5, 0.9], gradient step shared) and the NumPy reference
evolves the full ``(M+1) x (M+1)`` block of every eigenvalue with ``einsum``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import jax
import jax.numpy as jnp

import jaxaccel as ja


def numpy_reference(lam, c2, alpha, beta, inv_b, steps):
    c11, c12, c22 = c2.copy(), np.zeros_like(c2), np.zeros_like(c2)
    s11 = 1.0 - alpha * lam
    s21 = -alpha * lam
    loss = np.empty(steps + 1)
    for t in range(steps):
        G = np.dot(lam, c11)
        loss[t] = 0.5 * G
        n = lam * inv_b * (G + lam * c11)  # tau = (1, -1)
        c11, c12, c22 = (
            s11 * s11 * c11 + 2 * s11 * beta * c12 + beta * beta * c22 + alpha * alpha * n,
            s11 * s21 * c11 + (s11 * beta + beta * s21) * c12 + beta * beta * c22 + alpha * alpha * n,
            s21 * s21 * c11 + 2 * s21 * beta * c12 + beta * beta * c22 + alpha * alpha * n,
        )
    loss[steps] = 0.5 * np.dot(lam, c11)
    return loss


def multi_momentum(memory, alpha=0.3):
    """Memory-M method: u_i <- beta_i u_i - alpha g, w <- w - alpha g + sum_i b_i u_i."""
    betas = np.linspace(0.5, 0.9, memory)
    return ja.MemoryAlgorithm(alpha, np.zeros(memory), betas / memory,
                              -alpha * np.ones(memory), np.diag(betas))


def numpy_reference_general(lam, c2, alg, inv_b, steps, tau=(1.0, -1.0)):
    """Dense-block reference: C_k <- S C_k S^T + lam_k/b (tau1 G - tau2 lam_k g_k) v v^T."""
    S0, v, wbar = (np.asarray(x, np.float64) for x in alg.transition_parts())
    S = S0[None] + lam[:, None, None] * np.outer(v, wbar)[None]
    K = S0.shape[0]
    C = np.zeros((lam.size, K, K))
    C[:, 0, 0] = c2
    vv = np.outer(v, v)
    ST = np.ascontiguousarray(S.transpose(0, 2, 1))
    loss = np.empty(steps + 1)
    for t in range(steps):
        gk = (C @ wbar) @ wbar
        G = np.dot(lam, gk)
        loss[t] = 0.5 * np.dot(lam, C[:, 0, 0])
        n = lam * inv_b * (tau[0] * G - tau[1] * lam * gk)
        C = S @ C @ ST + n[:, None, None] * vv[None]
    loss[steps] = 0.5 * np.dot(lam, C[:, 0, 0])
    return loss


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--numpy-steps", type=int, default=500)
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--bandwidth", type=float, default=None, help="device copy bandwidth, bytes/s")
    p.add_argument("--memory", type=int, default=1, help="memory size M (1: Heavy Ball)")
    a = p.parse_args()
    dtype = jnp.dtype(a.dtype)
    spec = ja.power_law_spectrum(a.n, nu=1.5, zeta=0.5, dtype=dtype)
    alpha, beta, b = 0.4, 0.9, 10.0
    alg = ja.heavy_ball(alpha, beta) if a.memory == 1 else multi_momentum(a.memory)
    best = {}
    for kernel in ("auto", "xla"):
        run = lambda: ja.simulate(spec, alg, a.steps, batch_size=b, record=("log", 100),  # noqa: E731
                                  kernel=kernel)
        run().loss.block_until_ready()  # compile
        best[kernel] = min(_timed(run) for _ in range(a.repeats))
    lam, c2 = np.asarray(spec.eigenvalues, np.float64), np.asarray(spec.c2, np.float64)
    t0 = time.perf_counter()
    if a.memory == 1:
        ref = numpy_reference(lam, c2, alpha, beta, 1.0 / b, a.numpy_steps)
    else:
        ref = numpy_reference_general(lam, c2, alg, 1.0 / b, a.numpy_steps)
    t_np = (time.perf_counter() - t0) / a.numpy_steps
    # same recursion: compare the first numpy-steps losses
    check = ja.simulate(spec, alg, a.numpy_steps, batch_size=b)
    err = np.max(np.abs(np.asarray(check.loss, np.float64) - ref) / ref)
    rate_np = a.n / t_np
    native = ja.native.status().available and a.memory == 1
    print(f"device: {jax.devices()[0].device_kind}  dtype={a.dtype}  N={a.n}  T={a.steps}  "
          f"M={a.memory}")
    print(f"numpy reference          : {t_np * a.steps:8.3f} s*  {rate_np:10.3e} eigen-steps/s "
          f"(*{a.numpy_steps} steps measured, scaled)")
    for kernel, label in (("auto", "simulate (default)"), ("xla", "simulate(kernel='xla')")):
        rate = a.n * a.steps / best[kernel]
        what = "native kernel" if (kernel == "auto" and native) else "XLA scan"
        print(f"{label:24s} : {best[kernel]:8.3f} s   {rate:10.3e} eigen-steps/s  "
              f"{rate / rate_np:6.2f} x numpy  [{what}]")
        if a.bandwidth:
            bytes_per = 28 if dtype == jnp.float32 else 56
            print(f"{'':24s}   bandwidth floor {rate * bytes_per / a.bandwidth * 100:5.1f} % "
                  f"of {a.bandwidth:.2e} B/s")
    print(f"max rel. loss difference vs numpy (first {a.numpy_steps} steps): {err:.1e}")


def _timed(f):
    t0 = time.perf_counter()
    f().loss.block_until_ready()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
