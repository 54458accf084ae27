"""Benchmark: propagator sums and propagators at arbitrary times against NumPy references.

Three measurements on a power-law spectrum (memory-1, ``a != 0``, ``tau = (1, -1)``, b = 10):

1. ``propagator_sums`` (theory §5.3, one small linear solve per eigenvalue) against NumPy's batched
   ``np.linalg.solve`` of the full ``(M+1)^2`` operator ``I - A_lambda`` per eigenvalue.
2. ``propagators_at`` at 200 log-spaced times up to 1e9 (eigen-decomposition of ``A_lambda``)
   against NumPy: ``np.linalg.eig`` of every node's operator and the same modal sum.
3. The loss curve at 200 log-spaced times up to T = 1e6 for N = 1e6 from propagators + renewal
   (``loss_curve``, eigen + FFT) against the direct moment recursion ``simulate`` to the same
   horizon (its cost per step is constant, so a 2000-step prefix is timed and scaled; the
   curves are compared on that prefix).

    python benchmarks/bench_propagators.py            # N = 1e5 for 1-2; N = 1e6, T = 1e6 for 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import jax

import jaxaccel as ja


def _best(f, repeats):
    out = f()
    jax.block_until_ready(out)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        best = min(best, time.perf_counter() - t0)
    return best, out


def _operators(lam, alg, t2b):
    """Full ``K^2 x K^2`` matrices of A_lambda (row-major vec), float64 NumPy."""
    S0, v, wbar = (np.asarray(x, np.float64) for x in alg.transition_parts())
    S = S0[None] + lam[:, None, None] * np.outer(v, wbar)[None]
    K = S0.shape[0]
    A = np.einsum("kij,klm->kiljm", S, S).reshape(lam.size, K * K, K * K)
    A -= t2b * (lam**2)[:, None, None] * np.outer(np.outer(v, v).ravel(),
                                                    np.outer(wbar, wbar).ravel())[None]
    return A, np.outer(v, v).ravel()


def numpy_U_sum(lam, alg, b, tau):
    A, vv = _operators(lam, alg, tau[1] / b)
    I = np.eye(A.shape[-1])[None]
    x = np.linalg.solve(I - A, np.broadcast_to(vv, (lam.size, vv.size))[..., None])[..., 0]
    return tau[0] / b * np.sum(lam**2 * x[:, 0])


def numpy_U_at(lam, alg, b, tau, times):
    A, vv = _operators(lam, alg, tau[1] / b)
    mu, R = np.linalg.eig(A)
    coef = np.linalg.solve(R, np.broadcast_to(vv, (lam.size, vv.size)).astype(complex)[..., None])
    left = R[:, 0, :] * coef[..., 0]                       # <E11, R_j> (R^-1 vv)_j
    pw = mu[:, None, :] ** (np.asarray(times, float)[None, :, None] - 1)
    return tau[0] / b * np.real(np.einsum("k,kj,ktj->t", lam**2, left, pw))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--n-curve", type=int, default=1_000_000)
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--direct-steps", type=int, default=2_000,
                   help="steps of the direct recursion actually timed (then scaled)")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    b, tau = 10.0, (1.0, -1.0)
    alg = ja.memory1(0.3, 0.2, 0.8, -0.3, 0.8)        # a != 0, stable on (0, 1]
    spec = ja.power_law_spectrum(a.n, nu=1.5, zeta=0.5)
    lam = np.asarray(spec.eigenvalues)
    print(f"device: {jax.devices()[0].device_kind}  float64  memory-1 (a != 0), b = {b}, tau = {tau}")

    t_j, sums = _best(lambda: ja.propagator_sums(spec, alg, b, tau).U, a.repeats)
    t0 = time.perf_counter()
    ref = numpy_U_sum(lam, alg, b, tau)
    t_np = time.perf_counter() - t0
    print(f"[1] U_Sigma, N={a.n}: jaxaccel {t_j:.3f} s, numpy {t_np:.3f} s, "
          f"ratio {t_np / t_j:.1f} x, rel. diff {abs(float(sums) / ref - 1):.1e}")

    times = np.unique(np.geomspace(1, 1e9, 200).astype(np.int64))
    t_j, props = _best(lambda: ja.propagators_at(spec, alg, times, batch_size=b, tau=tau).U,
                       a.repeats)
    n_np = min(a.n, 20_000)  # the NumPy reference holds N x times x modes complex numbers
    t0 = time.perf_counter()
    ref = numpy_U_at(lam[:n_np], alg, b, tau, times)
    t_np = (time.perf_counter() - t0) * a.n / n_np
    sub = ja.propagators_at(ja.Spectrum(spec.eigenvalues[:n_np], spec.c2[:n_np]), alg, times,
                            batch_size=b, tau=tau).U
    err = np.max(np.abs(np.asarray(sub) - ref) / np.abs(ref).max())
    print(f"[2] U_n at {times.size} times up to 1e9, N={a.n}: jaxaccel {t_j:.3f} s, numpy "
          f"{t_np:.3f} s* (*{n_np} nodes, scaled), ratio {t_np / t_j:.1f} x, max diff "
          f"{err:.1e} of max |U_n|")

    spec_c = ja.power_law_spectrum(a.n_curve, nu=1.5, zeta=0.5)
    rec = ja.log_steps(a.steps, 200)
    t_r, lr = _best(lambda: ja.loss_curve(spec_c, alg, a.steps, batch_size=b, tau=tau,
                                          record=rec, propagator_method="eigen",
                                          renewal_method="fft").loss, 1)
    # the direct recursion costs the same per step at every t: time a prefix, extrapolate
    t_d = min(a.steps, a.direct_steps)
    rec_d = rec[rec <= t_d]
    t_s, ls = _best(lambda: ja.simulate(spec_c, alg, t_d, batch_size=b, tau=tau,
                                        record=rec_d).loss, 1)
    t_s_full = t_s * a.steps / t_d
    err = np.max(np.abs(np.asarray(lr)[: rec_d.size] / np.asarray(ls) - 1))
    note = "" if t_d == a.steps else f" (*{t_d} steps measured, scaled to {a.steps})"
    print(f"[3] loss curve at {rec.size} log-spaced times up to T={a.steps}, N={a.n_curve}: "
          f"propagators + renewal (eigen + fft) {t_r:.2f} s, direct simulate {t_s_full:.2f} s"
          f"{'*' if note else ''}{note}; ratio {t_s_full / t_r:.1f} x; max rel. diff on the "
          f"common steps {err:.1e}")

if __name__ == "__main__":
    main()
