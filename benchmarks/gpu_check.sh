#!/usr/bin/env bash
# One device session: smoke check of the CUDA kernel against the XLA scan, the GPU benchmark,
# then the GPU tests. Output goes to $OUT (or ./gpu_out). Usage: bash benchmarks/gpu_check.sh
set -u
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONPATH=$PWD
export JAXACCEL_CACHE=${JAXACCEL_CACHE:-/tmp/jaxaccel_cache}
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
# a prebuilt library (JAXACCEL_CUDA_LIB) is tried first; if it does not load, build here
if ! python3 -c "import jaxaccel.moments.native as jc, sys; s = jc.status('cuda'); print(s); sys.exit(not s.available)"; then
  unset JAXACCEL_CUDA_LIB
  python3 -c "import jaxaccel.moments.native as jc, time; t = time.time(); print(jc.build('cuda'), time.time() - t)"
fi
timeout 120 python3 - <<'PY' 2>&1 | tee "$OUT/smoke.log"
import numpy as np, jax.numpy as jnp, jaxaccel as ja, jaxaccel.moments.native as jc
print(jc.status("cuda"))
for n, dt in ((3000, jnp.float64), (2_000_000, jnp.float64), (10**6, jnp.float32)):
    s = ja.power_law_spectrum(n, nu=1.5, zeta=0.5, dtype=dt)
    for alg in (ja.heavy_ball(0.4, 0.9), ja.nesterov(0.3, 0.8)):
        ref = ja.simulate(s.astype(jnp.float64), alg, 200, 10.0, kernel="xla")
        for mode in ("cuda:register", "cuda:stream"):
            try:
                out = ja.simulate(s, alg, 200, 10.0, kernel=mode)
                e = np.max(np.abs(np.asarray(out.loss, np.float64) - np.asarray(ref.loss)) / np.asarray(ref.loss))
                print(f"smoke N={n} {dt.__name__} {mode}: max rel diff {e:.2e} plan {jc.plan(n, dtype=dt, mode=mode, shift=True)}", flush=True)
            except Exception as exc:
                print(f"smoke N={n} {mode}: {type(exc).__name__}: {exc}", flush=True)
PY
timeout 240 python3 benchmarks/bench_gpu.py --out "$OUT" 2>&1 | tee "$OUT/bench.log"
timeout 150 python3 -m pytest tests/test_cuda.py -q --maxfail=3 -p no:cacheprovider -p no:xdist -o addopts="-ra" 2>&1 | tee "$OUT/pytest.log" | tail -15
timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/stability.log"
import time, numpy as np, jaxaccel as ja
s = ja.power_law_spectrum(10**5, nu=2.0, zeta=0.5)
for g in (100, 1000):
    grid = {"alpha": np.linspace(0.01, 4.0, g), "beta": np.linspace(-0.9, 0.99, g)}
    ts = []
    for _ in range(3):
        t = time.perf_counter(); m = ja.stability_map(s, "heavy_ball", grid, batch_size=10.0); m.U.block_until_ready(); ts.append(time.perf_counter() - t)
    print(f"HB stability map {g}x{g}, N = 1e5 on GPU: {min(ts[1:]):.3f} s (first call {ts[0]:.2f} s), stable points {int(np.asarray(m.strictly_stable).sum())}")
PY
