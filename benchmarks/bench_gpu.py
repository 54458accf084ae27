"""GPU benchmark of the SE recursion: persistent CUDA kernel vs XLA scan, in three regimes.

Everything goes through the public ``jaxaccel.simulate`` (``kernel="xla"`` for the XLA scan,
``"cuda"``/``"cuda:register"``/``"cuda:stream"`` for the kernel), memory-1 Heavy Ball
(alpha = 0.4, beta = 0.9, b = 10, tau = (1, -1)) on the power law nu = 1.5, zeta = 0.5, 100
log-spaced recorded steps. Measured in the same run:

* the device's copy bandwidth (a jitted ``2 * x`` over 1 GiB: bytes read + written / time);
* a plain NumPy per-step loop of the same recursion (``bench_moments.numpy_reference``, a few
  steps timed and scaled), for the ratio the other benchmarks print;
* HBM-bound regime: N = 1e7, T = 1e4, float32 and float64: eigen-steps/s and the fraction of
  the bandwidth floor (28 bytes per eigen-step in float32, 56 in float64);
* on-chip regime: N = 1e6 (and 1e5), T = 1e4, float32: microseconds per step;
* launch-bound regime: one run at N = 1e4, and a grid of 256 configurations x N = 1e4
  (``simulate_grid``, one vmapped call), T = 1e4: eigen-steps/s;
* accuracy: float32 kernel vs float64 scan (maximum relative loss difference).

    python benchmarks/bench_gpu.py --out results/     # prints a table, writes gpu.json

Run with ``XLA_PYTHON_CLIENT_PREALLOCATE=false``. Timings: best of ``--repeats`` runs after one
compiling run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import jax
import jax.numpy as jnp

import jaxaccel as ja
import jaxaccel.moments.native as jc

sys.path.insert(0, os.path.dirname(__file__))
from bench_moments import numpy_reference  # noqa: E402

ALPHA, BETA, BATCH = 0.4, 0.9, 10.0
ROWS = []


def _best(f, repeats):
    f()  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times) if times else float("nan")


def copy_bandwidth(repeats=20):
    """Device-to-device copy of 2 GiB (bytes read + written over time): the larger of a jitted
    XLA elementwise copy and, where PyTorch is installed, ``Tensor.copy_`` timed with events."""
    x = jnp.arange(2**29, dtype=jnp.float32)
    f = jax.jit(lambda x: 2.0 * x)
    f(x).block_until_ready()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(x).block_until_ready()
        ts.append(time.perf_counter() - t0)
    best = {"xla": 2 * x.nbytes / float(np.median(ts))}
    del x
    try:
        import torch

        a = torch.rand(2**29, device="cuda")
        b = torch.empty_like(a)
        b.copy_(a)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ts = []
        for _ in range(repeats):
            start.record()
            b.copy_(a)
            end.record()
            torch.cuda.synchronize()
            ts.append(start.elapsed_time(end) / 1e3)
        best["torch"] = 2 * a.numel() * 4 / float(np.median(ts))
        del a, b
        torch.cuda.empty_cache()
    except Exception as exc:  # noqa: BLE001 - torch is optional
        print(f"(torch copy not measured: {exc})")
    print(f"copy bandwidth measurements: { {k: f'{v:.3e}' for k, v in best.items()} }")
    return max(best.values())


def run(n, steps, dtype, kernel, repeats, configs=None):
    spec = ja.power_law_spectrum(n, nu=1.5, zeta=0.5, dtype=dtype)
    if configs is None:
        def f():
            r = ja.simulate(spec, ja.heavy_ball(ALPHA, BETA), steps, BATCH, record=("log", 100),
                            kernel=kernel)
            r.loss.block_until_ready()
            return r
    else:
        grid = {"alpha": np.linspace(0.05, 0.6, 16), "beta": np.linspace(0.0, 0.9, configs // 16)}

        def f():
            g = ja.simulate_grid(spec, ja.heavy_ball, grid, steps, batch_size=BATCH,
                                 record=("log", 100), kernel=kernel, memory_budget=2**34)
            g.loss.block_until_ready()
            return g
    try:
        t = _best(f, repeats)
        return t, f()
    except Exception as exc:  # noqa: BLE001 - one failing case must not hide the others
        print(f"FAILED n={n} steps={steps} {dtype} {kernel} configs={configs}: "
              f"{type(exc).__name__}: {str(exc)[:300]}", flush=True)
        return float("nan"), None


def row(regime, n, steps, dtype, kernel, t, configs=1, bw=None, note=""):
    rate = n * steps * configs / t
    bytes_per = 28 if dtype == "float32" else 56
    frac = rate * bytes_per / bw if bw else float("nan")
    r = dict(regime=regime, n=n, steps=steps, configs=configs, dtype=dtype, kernel=kernel,
             seconds=t, us_per_step=t / steps * 1e6, eigen_steps_per_s=rate,
             bandwidth_fraction=frac, note=note)
    ROWS.append(r)
    print(f"{regime:10s} N={n:>9d} C={configs:>3d} {dtype:7s} {kernel:14s} {t:8.3f} s "
          f"{t / steps * 1e6:9.2f} us/step {rate:10.3e} eig-steps/s  floor {frac * 100:5.1f}%  {note}",
          flush=True)
    return r


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="folder for gpu.json")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--steps", type=int, default=10_000)
    a = p.parse_args()
    st = jc.status("cuda")
    dev = jax.devices()[0]
    print(f"device: {dev.device_kind}  jax {jax.__version__}  kernel: {st}", flush=True)
    if not st.available:
        raise SystemExit("the CUDA kernel is unavailable: " + st.reason)
    bw = copy_bandwidth()
    print(f"copy bandwidth (read + write): {bw:.3e} B/s", flush=True)
    T = a.steps
    info = {"device": dev.device_kind, "jax": jax.__version__, "copy_bandwidth": bw}

    # NumPy reference (same recursion, float64, a few steps scaled)
    spec = ja.power_law_spectrum(10**6, nu=1.5, zeta=0.5)
    lam, c2 = np.asarray(spec.eigenvalues), np.asarray(spec.c2)
    t0 = time.perf_counter()
    numpy_reference(lam, c2, ALPHA, BETA, 1.0 / BATCH, 20)
    np_rate = 10**6 * 20 / (time.perf_counter() - t0)
    info["numpy_eigen_steps_per_s"] = np_rate
    print(f"numpy reference (N = 1e6, float64, CPU): {np_rate:.3e} eigen-steps/s", flush=True)

    # HBM-bound regime
    for dtype in ("float32", "float64"):
        for kernel in ("xla", "cuda"):
            t, _ = run(10**7, T, dtype, kernel, a.repeats)
            row("hbm", 10**7, T, dtype, kernel, t, bw=bw,
                note=str(jc.plan(10**7, dtype=dtype)) if kernel == "cuda" else "")
    # on-chip and launch-bound regimes: also the incremental cost per step, (t(5T) - t(T)) / 4T,
    # which leaves out the fixed cost of a call (validation, dispatch, compilation cache lookup)
    for n, dtype, kernels in ((10**6, "float32", ("xla", "cuda:register", "cuda:stream")),
                              (10**5, "float32", ("xla", "cuda:register", "cuda:stream")),
                              (10**5, "float64", ("xla", "cuda")),
                              (10**4, "float32", ("xla", "cuda"))):
        regime = {10**6: "on-chip", 10**5: "on-chip", 10**4: "small"}[n]
        for kernel in kernels:
            try:
                t, _ = run(n, T, dtype, kernel, a.repeats)
                t5, _ = run(n, 5 * T, dtype, kernel, a.repeats)
            except ValueError as exc:
                print(f"{regime} N={n} {kernel}: {exc}")
                continue
            inc = (t5 - t) / (4 * T) * 1e6
            plan = str(jc.plan(n, dtype=dtype, mode=kernel)) if kernel != "xla" else ""
            r = row(regime, n, T, dtype, kernel, t, bw=bw, note=f"incremental {inc:.2f} us/step {plan}")
            r["incremental_us_per_step"] = inc
    for kernel in ("xla", "cuda"):
        t, _ = run(10**4, T, "float32", kernel, a.repeats, configs=256)
        row("grid", 10**4, T, "float32", kernel, t, configs=256, bw=bw,
            note=str(jc.plan(10**4, 256, shift=True)) if kernel == "cuda" else "")

    # accuracy of float32 (kernel and scan) against the float64 scan
    acc = {}
    for n in (10**6, 10**7):
        _, ref = run(n, T, "float64", "xla", 0)
        for dtype, kernel in (("float32", "cuda"), ("float32", "xla"), ("float64", "cuda")):
            _, out = run(n, T, dtype, kernel, 0)
            if out is not None and ref is not None:
                acc[f"N={n} {dtype} {kernel}"] = rel(out.loss, ref.loss)
    for k, v in acc.items():
        print(f"accuracy vs float64 scan, {k}: max rel. loss difference {v:.2e}", flush=True)
    info["accuracy"] = acc
    info["rows"] = ROWS
    print("\nregime     N          C   dtype   kernel         us/step  incr.us  eigen-steps/s  floor%  x numpy")
    for r in ROWS:
        print(f"{r['regime']:10s} {r['n']:<10d} {r['configs']:<3d} {r['dtype']:7s} {r['kernel']:14s}"
              f" {r['us_per_step']:8.2f} {r.get('incremental_us_per_step', float('nan')):8.2f}"
              f"  {r['eigen_steps_per_s']:12.3e}  {r['bandwidth_fraction'] * 100:6.1f}"
              f"  {r['eigen_steps_per_s'] / np_rate:8.1f}")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        tmp = os.path.join(a.out, "gpu.json.tmp")
        with open(tmp, "w") as fh:
            json.dump(info, fh, indent=1)
        os.replace(tmp, os.path.join(a.out, "gpu.json"))


if __name__ == "__main__":
    main()
