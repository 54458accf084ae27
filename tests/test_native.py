"""The native kernels (jaxaccel.moments.native: C++ on the CPU, CUDA on a GPU) against the XLA scan.

The kernel tests run on the native kernel of JAX's backend: the CPU kernel in CI (skipped only
when no C++ compiler is installed), both CUDA layouts on a GPU. Reference:
``simulate(..., kernel="xla")`` in float64, which the rest of the suite checks against
brute-force covariances, closed forms and Monte Carlo. Tolerances: float64 kernel vs float64
scan 1e-12 relative (they differ only in the order of the global sums); float32 kernel vs
float64 scan 2e-4 relative.
"""

import numpy as np
import pytest
import jax
import jax.numpy as jnp

import shutil
import tempfile
from pathlib import Path

import jaxaccel as ja
import jaxaccel.moments.native as jn
from jaxaccel.moments.engine import prepare

PLATFORM = jn.current_platform()
STATUS = jn.status(PLATFORM)
GPU = jn.status("cuda")
MODES = ["cuda:register", "cuda:stream"] if PLATFORM == "cuda" else ["cpu"]
NATIVE = "cuda" if PLATFORM == "cuda" else "cpu"
needs_native = pytest.mark.skipif(
    not STATUS.available and not (PLATFORM == "cpu" and shutil.which("c++")),
    reason=f"native kernel unavailable: {STATUS.reason}",
)
needs_gpu = pytest.mark.skipif(not GPU.available, reason=f"CUDA kernel unavailable: {GPU.reason}")

F64_RTOL = 1e-12


def _spec(n, dtype=jnp.float64, weights=False):
    s = ja.power_law_spectrum(n, nu=1.5, zeta=0.5, dtype=dtype)
    if weights:
        w = 1.0 + np.arange(n) % 3
        s = ja.Spectrum(s.eigenvalues, s.c2, weights=jnp.asarray(w, dtype))
    return s


def _algorithms():
    return {
        "gd": ja.heavy_ball(0.5, 0.0),  # GD as memory 1 (ja.gd is memory 0: the scan)
        "heavy_ball": ja.heavy_ball(0.4, 0.9),
        "nesterov": ja.nesterov(0.3, 0.8),
        "memory1": ja.memory1(alpha=0.3, a=0.4, b=0.6, c=-0.25, D=0.7),
    }


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# ----------------------------------------------------------------------------- everywhere
def test_unknown_kernel_is_rejected():
    with pytest.raises(ValueError, match="kernel"):
        ja.simulate(_spec(10), ja.heavy_ball(0.5, 0.5), 5, kernel="gpu")


def test_forced_kernel_explains_why_not():
    s = _spec(10)
    if not GPU.available:
        with pytest.raises(ValueError, match="cannot be used"):
            ja.simulate(s, ja.heavy_ball(0.5, 0.5), 5, kernel="cuda")
    with pytest.raises(ValueError, match="cannot be used"):
        ja.simulate(s, ja.gd(0.5), 5, kernel="native")  # memory 0
    mem5 = ja.MemoryAlgorithm(0.3, np.zeros(5), np.full(5, 0.1), np.full(5, -0.1),
                              np.diag(np.full(5, 0.5)))
    with pytest.raises(ValueError, match="cannot be used"):
        ja.simulate(s, mem5, 5, kernel="native")  # memory 5: the scan only
    sched = ja.heavy_ball(np.full(5, 0.5), np.full(5, 0.5))
    mem2 = ja.MemoryAlgorithm(0.3, np.zeros(2), [0.2, 0.2], [-0.3, -0.3], np.diag([0.5, 0.6]))
    cases = [(sched, None), (mem2, None), (ja.heavy_ball(0.5, 0.5), np.full(5, 4.0))]
    for alg, bs in cases:
        if PLATFORM == "cuda":  # the CUDA kernel is the stationary memory-1 one
            with pytest.raises(ValueError, match="cannot be used"):
                ja.simulate(s, alg, 5, batch_size=bs, kernel="native")
        elif STATUS.available:  # the CPU runs schedules and memory 2..4 natively
            got = ja.simulate(s, alg, 5, batch_size=bs, kernel="native")
            ref = ja.simulate(s, alg, 5, batch_size=bs, kernel="xla")
            assert _rel(got.loss, ref.loss) < F64_RTOL


def test_auto_uses_the_scan_when_switched_off(monkeypatch):
    s = _spec(500)
    monkeypatch.setenv("JAXACCEL_NATIVE", "0")
    args = prepare(s, ja.heavy_ball(0.4, 0.9), 50, 5.0, (1.0, -1.0), "all", None,
                   1e10, None, False, None, 4)
    assert jn.select("auto", args[1], args[0]) is None
    monkeypatch.delenv("JAXACCEL_NATIVE")
    expect = PLATFORM if STATUS.available else None
    assert jn.select("auto", args[1], args[0]) == expect
    sched = {**args[1], "stationary": False}
    assert jn.select("auto", sched, args[0]) == (expect if PLATFORM == "cpu" else None)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="platform"):
        jn.status("tpu")
    with pytest.raises(ValueError, match="platform"):
        jn.build("rocm")
    with pytest.raises(ValueError, match="arch"):
        jn.build("cuda", arch="sm90")
    with pytest.raises(ValueError, match="mode"):
        jn.plan(1000, mode="cpu")
    with pytest.raises(ValueError, match="n"):
        jn.plan(0)
    with pytest.raises(ValueError, match="configs"):
        jn.plan(1000, configs=-2)
    with pytest.raises(ValueError, match="dtype"):
        jn.plan(1000, dtype="int32")


def test_coefficients_layout():
    alg = ja.memory1(alpha=0.3, a=0.4, b=0.6, c=-0.25, D=0.7)
    q = np.asarray(jn.coefficients(alg, jnp.asarray(0.1), jnp.asarray([1.0, -1.0]),
                                   jnp.asarray(7.0)))
    S0, v, w = (np.asarray(x) for x in alg.transition_parts())
    np.testing.assert_array_equal(q[:4], S0.ravel())
    np.testing.assert_array_equal(q[4:6], v)
    np.testing.assert_array_equal(q[6:8], w)
    np.testing.assert_allclose(q[8:11], [0.1, -0.1, 7.0])


def test_kernel_sources_ship_with_the_package():
    assert all(h.is_file() for h in jn.HEADERS)
    for platform, src in jn.SOURCES.items():
        text = src.read_text()
        assert '#include "memory1_ffi.h"' in text
        for target in jn._TARGETS[platform].values():
            assert f"XLA_FFI_DEFINE_HANDLER_SYMBOL({target}" in text


def test_cache_dir_falls_back_when_not_writable(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXACCEL_CACHE", str(tmp_path / "kernels"))
    assert jn.cache_dir() == tmp_path / "kernels"
    monkeypatch.setenv("JAXACCEL_CACHE", "/proc/jaxaccel-not-writable")
    assert jn.cache_dir().parent == Path(tempfile.gettempdir())


@needs_native
def test_native_kernel_builds_here():
    """Where a C++ compiler exists the CPU kernel must build and load (no silent fallback)."""
    assert STATUS.available, STATUS.reason


@needs_native
def test_gradient_goes_through_the_scan():
    s = _spec(800)

    def final(alpha, kernel):
        return ja.simulate(s, ja.heavy_ball(alpha, 0.8), 100, 10.0, record=[100],
                           kernel=kernel).loss[0]

    g_native = jax.grad(final)(0.3, "auto")
    g_scan = jax.grad(final)(0.3, "xla")
    fd = (final(0.3 + 1e-6, "xla") - final(0.3 - 1e-6, "xla")) / 2e-6
    assert abs(float(g_native) - float(g_scan)) <= 1e-12 * abs(float(g_scan))
    assert abs(float(g_native) - float(fd)) <= 1e-6 * abs(float(fd))
    vals = jax.vmap(lambda a: final(a, "auto"))(jnp.array([0.2, 0.3]))
    assert _rel(vals[1], final(0.3, "xla")) < F64_RTOL


# ----------------------------------------------------------------------------- on a GPU
@needs_native
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(_algorithms()))
@pytest.mark.parametrize("batch_size,tau", [(None, (1.0, -1.0)), (10.0, (1.0, -1.0)), (7.0, (1.0, 1.0))])
def test_kernel_equals_scan_float64(mode, name, batch_size, tau):
    s = _spec(3000)
    alg = _algorithms()[name]
    ref = ja.simulate(s, alg, 300, batch_size, tau, kernel="xla", return_state=True)
    out = ja.simulate(s, alg, 300, batch_size, tau, kernel=mode, return_state=True)
    assert not bool(ref.diverged) and not bool(out.diverged)
    assert _rel(out.loss, ref.loss) < F64_RTOL
    assert _rel(out.loss_at_gradient_point, ref.loss_at_gradient_point) < F64_RTOL
    e_out, e_ref = np.asarray(out.state.entries), np.asarray(ref.state.entries)
    assert np.max(np.abs(e_out - e_ref)) <= F64_RTOL * np.max(np.abs(e_ref))
    assert int(out.state.t) == int(ref.state.t) == 300


@needs_native
@pytest.mark.parametrize("mode", MODES)
def test_kernel_with_weights_and_log_record(mode):
    s = _spec(5000, weights=True)
    alg = ja.nesterov(0.2, 0.9)
    ref = ja.simulate(s, alg, 1000, 8.0, record=("log", 40), kernel="xla")
    out = ja.simulate(s, alg, 1000, 8.0, record=("log", 40), kernel=mode)
    np.testing.assert_array_equal(np.asarray(out.steps), np.asarray(ref.steps))
    assert _rel(out.loss, ref.loss) < F64_RTOL
    assert _rel(out.loss_at_gradient_point, ref.loss_at_gradient_point) < F64_RTOL


@needs_native
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [999, 1000])
def test_unpadded_sizes(mode, n):
    """N <= 1024 is not padded: 999 takes the scalar stream path, 1000 the vector path."""
    s = _spec(n, weights=True)
    alg = ja.memory1(alpha=0.3, a=0.4, b=0.6, c=-0.25, D=0.7)
    ref = ja.simulate(s, alg, 200, 3.0, kernel="xla", return_state=True)
    out = ja.simulate(s, alg, 200, 3.0, kernel=mode, return_state=True)
    assert _rel(out.loss, ref.loss) < F64_RTOL
    e_out, e_ref = np.asarray(out.state.entries), np.asarray(ref.state.entries)
    assert np.max(np.abs(e_out - e_ref)) <= F64_RTOL * np.max(np.abs(e_ref))


@needs_native
@pytest.mark.skipif(PLATFORM != "cpu", reason="CPU threading")
def test_cpu_threads_give_identical_results(monkeypatch):
    """A single run split over threads gives bit-identical losses and state (block sums are
    totalled in block order whatever the number of threads)."""
    s = _spec(100_000)  # three runs of 32768 eigenvalues: three threads at most
    alg = ja.nesterov(0.3, 0.8)
    out = {}
    for nth in ("1", "3"):
        monkeypatch.setenv("JAXACCEL_NUM_THREADS", nth)
        out[nth] = ja.simulate(s, alg, 150, 10.0, kernel="cpu", return_state=True)
    np.testing.assert_array_equal(np.asarray(out["1"].loss), np.asarray(out["3"].loss))
    np.testing.assert_array_equal(np.asarray(out["1"].state.entries),
                                  np.asarray(out["3"].state.entries))
    ref = ja.simulate(s, alg, 150, 10.0, kernel="xla")
    assert _rel(out["3"].loss, ref.loss) < F64_RTOL


@needs_gpu
def test_many_blocks_per_configuration():
    """N = 2e6 in float64 spreads one configuration over every multiprocessor (barrier path)."""
    s = _spec(2_000_000)
    alg = ja.heavy_ball(0.4, 0.9)
    ref = ja.simulate(s, alg, 60, 10.0, kernel="xla")
    for mode in ("cuda:stream", "cuda"):
        out = ja.simulate(s, alg, 60, 10.0, kernel=mode)
        assert _rel(out.loss, ref.loss) < F64_RTOL, mode
    assert jn.plan(2_000_000, dtype="float64", mode="cuda:stream")["blocks_per_config"] > 1


@needs_native
def test_resume_gives_the_same_curve():
    s = _spec(4000)
    alg = ja.memory1(alpha=0.3, a=0.4, b=0.6, c=-0.25, D=0.7)
    full = ja.simulate(s, alg, 200, 5.0, kernel=NATIVE)
    half = ja.simulate(s, alg, 100, 5.0, kernel=NATIVE, return_state=True)
    rest = ja.simulate(s, alg, 100, 5.0, kernel=NATIVE, initial=half.state)
    np.testing.assert_array_equal(np.asarray(rest.steps), np.arange(100, 201))
    assert _rel(rest.loss, full.loss[100:]) < F64_RTOL
    # a state from the scan resumes on the kernel
    xla_half = ja.simulate(s, alg, 100, 5.0, kernel="xla", return_state=True)
    mixed = ja.simulate(s, alg, 100, 5.0, kernel=NATIVE, initial=xla_half.state)
    assert _rel(mixed.loss, full.loss[100:]) < F64_RTOL


@needs_native
def test_vmapped_grid_is_one_kernel_call_and_matches():
    s = _spec(5000)
    grid = {"alpha": np.linspace(0.05, 0.8, 8), "beta": np.linspace(0.0, 0.95, 9)}
    ref = ja.simulate_grid(s, ja.heavy_ball, grid, 300, batch_size=10.0, kernel="xla")
    out = ja.simulate_grid(s, ja.heavy_ball, grid, 300, batch_size=10.0)
    np.testing.assert_array_equal(np.asarray(out.diverged), np.asarray(ref.diverged))
    np.testing.assert_array_equal(np.asarray(out.diverged_at), np.asarray(ref.diverged_at))
    ok = ~np.asarray(ref.diverged)
    assert ok.sum() > 20
    assert _rel(np.asarray(out.loss)[ok], np.asarray(ref.loss)[ok]) < F64_RTOL
    hlo = jax.jit(lambda a: ja.simulate(s, ja.heavy_ball(a, 0.5), 10, 10.0).loss)
    text = jax.jit(jax.vmap(hlo)).lower(jnp.linspace(0.1, 0.5, 4)).as_text()
    assert text.count(jn._TARGETS[PLATFORM]["float64"] + "(") == 1


@needs_native
@pytest.mark.parametrize("mode", MODES)
def test_divergence_reported_like_the_scan(mode):
    s = _spec(2000)
    alg = ja.heavy_ball(1.9, 0.9)
    with pytest.warns(RuntimeWarning, match="diverged"):
        ref = ja.simulate(s, alg, 400, 4.0, kernel="xla")
    with pytest.warns(RuntimeWarning, match="diverged"):
        out = ja.simulate(s, alg, 400, 4.0, kernel=mode)
    assert bool(out.diverged) and int(out.diverged_at) == int(ref.diverged_at)
    k = int(ref.diverged_at)
    assert _rel(out.loss[:k], ref.loss[:k]) < F64_RTOL
    assert np.all(np.isinf(np.asarray(out.loss[k + 1:])))


@needs_native
def test_float32_kernel_accuracy():
    """float32 state with float64 global sums: within 2e-4 of the float64 scan at N = 1e6."""
    n, steps = 1_000_000, 2000 if PLATFORM == "cuda" else 300
    alg = ja.heavy_ball(0.4, 0.9)
    ref = ja.simulate(_spec(n), alg, steps, 10.0, record=("log", 50), kernel="xla")
    out = ja.simulate(_spec(n, jnp.float32), alg, steps, 10.0, record=("log", 50), kernel=NATIVE)
    assert out.loss.dtype == jnp.float32
    assert _rel(out.loss, ref.loss) < 2e-4
