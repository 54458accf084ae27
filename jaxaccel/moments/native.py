"""Hand-written kernels for the memory-1 SE recursion (CPU and CUDA), called through the XLA FFI.

The XLA ``lax.scan`` of :func:`jaxaccel.simulate` is the portable reference. For the memory-1
stationary case (Heavy Ball, Nesterov, the 5-parameter family, GD as Heavy Ball with
``beta = 0``) with a constant batch size, ``simulate`` runs by default (``kernel="auto"``) on a
native kernel that executes all ``T`` steps of Algorithm A (theory §3.4) in one call, one pass over
the state per step, with the global sums of the new state reduced in the same pass:

* **CPU** (``csrc/memory1_cpu.cc``): a vectorised loop, global sums in float64 per block of
  1024 eigenvalues and then over the blocks in block order; the configurations of a ``vmap``
  are spread over the hardware threads, and a single run of ``N >= 65536`` is split over them
  (bit-identical for any thread count; ``JAXACCEL_NUM_THREADS`` caps the number). The XLA scan makes ~30 passes over the state per step on a CPU
  (``benchmarks/hlo_passes.py``), which is why it stays ~4x NumPy.
* **CUDA** (``csrc/memory1_se.cu``): one persistent cooperative launch; *register mode* keeps
  the moments of up to 32 eigenvalues per thread in registers (on-chip regime, ``N`` up to
  ~1e6 in float32), *stream mode* streams the state once per step (HBM-bound regime:
  28 bytes per eigen-step in float32 with unit weights). The blocks of a configuration meet at
  one barrier per step; global sums in float64.

Both kernels share the step arithmetic (``csrc/memory1_step.h``) and the FFI interface with
the recording and divergence rule of the scan (``csrc/memory1_ffi.h``), accept a ``vmap`` batch of
configurations in one call, stop at the first divergent step (the recorded losses after it are
``inf``, as on the scan) and return the final state for ``initial=`` resumption. Derivatives
(``jax.jvp``/``jax.grad`` through ``simulate``) are taken through the XLA scan
(``jax.custom_jvp``), so differentiating never fails on a native kernel.

Each kernel is compiled the first time it is needed (``c++`` or ``$CXX`` for the CPU, ``nvcc``
for CUDA, ~10 s / ~30 s) into ``$JAXACCEL_CACHE`` (default ``~/.cache/jaxaccel``), keyed by a
hash of the sources, the JAX version and the processor; ``JAXACCEL_CPU_LIB`` /
``JAXACCEL_CUDA_LIB`` name prebuilt libraries instead, and ``JAXACCEL_NATIVE=0`` makes
``kernel="auto"`` always use the scan. :func:`status` says whether a kernel can be used and why
not; without a compiler ``simulate`` silently uses the scan.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform as _platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V

__all__ = ["KERNELS", "SOURCES", "HEADERS", "KernelStatus", "current_platform", "build", "status", "plan", "cache_dir"]

_CSRC = Path(__file__).with_name("csrc")
#: kernel sources by platform, and the headers they share (all inside the package)
SOURCES = {"cpu": _CSRC / "memory1_cpu.cc", "cuda": _CSRC / "memory1_se.cu"}
HEADERS = (_CSRC / "memory1_step.h", _CSRC / "memory1_ffi.h", _CSRC / "memory_m_cpu.h",
           _CSRC / "memory_m_steps.h")
_TARGETS = {
    "cpu": {"float32": "jaxaccel_memory1_cpu_f32", "float64": "jaxaccel_memory1_cpu_f64"},
    "cuda": {"float32": "jaxaccel_memory1_f32", "float64": "jaxaccel_memory1_f64"},
}
#: the general kernel (memory 1..4, per-step parameters; CPU only, csrc/memory_m_cpu.h)
_GENERAL_TARGETS = {"float32": "jaxaccel_memory_cpu_f32", "float64": "jaxaccel_memory_cpu_f64"}
#: largest memory of the general kernel (M = 1..4, blocks K = 2..5)
MAX_MEMORY = 4
_ENV_LIB = {"cpu": "JAXACCEL_CPU_LIB", "cuda": "JAXACCEL_CUDA_LIB"}
#: values of ``simulate(kernel=...)``
KERNELS = ("auto", "xla", "native", "cpu", "cuda", "cuda:register", "cuda:stream")
#: the FFI ``mode`` attribute of each native kernel choice (CUDA layouts: 1 register, 2 stream)
MODES = {"auto": 0, "native": 0, "cpu": 0, "cuda": 0, "cuda:register": 1, "cuda:stream": 2}
#: workspace bytes per configuration on CUDA: barrier counter (the counters padded to 256) and
#: block partials (2 x 16 bytes per block), for up to ``kMaxBlocks`` = 4096 blocks
WORKSPACE = 256 + 32 * 4096

_lock = threading.Lock()
_loaded = {}  # platform -> (lib, path) or error string


class KernelStatus(NamedTuple):
    """Whether a native kernel can be used in this process (:func:`status`).

    Attributes:
        platform: ``"cpu"`` or ``"cuda"``.
        available: the library is built, loaded and registered with XLA.
        reason: why not (empty when available).
        library: path of the loaded shared library, or ``None``.
    """

    platform: str
    available: bool
    reason: str
    library: Optional[str]


def current_platform() -> Optional[str]:
    """``"cpu"`` or ``"cuda"`` for JAX's default backend (``None`` for others, e.g. ROCm, TPU).

    Example:
        >>> current_platform() in ("cpu", "cuda", None)
        True
    """
    backend = jax.default_backend()
    if backend == "cpu":
        return "cpu"
    if backend in ("gpu", "cuda") and _gpu_arch() is not None:
        return "cuda"
    return None


def _gpu_arch() -> Optional[str]:
    try:
        dev = jax.devices("gpu")[0]
    except RuntimeError:
        return None
    cc = getattr(dev, "compute_capability", None)
    return None if cc is None else str(cc).replace(".", "")


def _cpu_signature() -> str:
    """Processor model and feature flags (the CPU library is built with ``-march=native``)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        keep = [ln for ln in lines if ln.startswith(("model name", "flags", "Features"))][:2]
        return "\n".join(keep)
    except OSError:
        return _platform.processor() + _platform.machine()


def _compiler(platform: str) -> Optional[str]:
    if platform == "cuda":
        found = shutil.which("nvcc")
        if found:
            return found
        home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
        cand = Path(home) / "bin" / "nvcc"
        return str(cand) if cand.exists() else None
    cxx = os.environ.get("CXX")
    return cxx if cxx and shutil.which(cxx) else (shutil.which("c++") or shutil.which("g++"))


def cache_dir() -> Path:
    """Folder of the compiled kernels: ``$JAXACCEL_CACHE``, else ``~/.cache/jaxaccel``, else a
    folder in the temporary directory (when the home directory is not writable).

    Example:
        >>> cache_dir().is_dir()
        True
    """
    env = os.environ.get("JAXACCEL_CACHE")
    for cand in ([Path(env)] if env else [Path.home() / ".cache" / "jaxaccel"]) + [
        Path(tempfile.gettempdir()) / f"jaxaccel-{os.getuid() if hasattr(os, 'getuid') else 0}"
    ]:
        try:
            cand.mkdir(parents=True, exist_ok=True)
            if os.access(cand, os.W_OK):
                return cand
        except OSError:
            continue
    raise RuntimeError("no writable cache directory for the native kernels (set JAXACCEL_CACHE)")


def build(platform: str = "cpu", arch: Optional[str] = None, force: bool = False) -> Path:
    """Compile the kernel of ``platform`` (``"cpu"`` or ``"cuda"``) into the cache; return its path.

    ``arch`` (CUDA only) is the compute capability without the dot (``"90"`` for H100/H200;
    default: the first GPU's). The file name carries a hash of the sources, the JAX version
    and the target (``arch`` or the processor), so a stale library is never reused; it is
    written under a temporary name and renamed. Raises ``RuntimeError`` when the compiler is
    missing or fails.

    Example:
        >>> import shutil
        >>> shutil.which("c++") is None or build("cpu").suffix == ".so"
        True
    """
    if platform not in SOURCES:
        raise ValueError(f"platform must be 'cpu' or 'cuda', got {platform!r}")
    if arch is not None and not str(arch).isdigit():
        raise ValueError(f"arch must be a compute capability like '90', got {arch!r}")
    compiler = _compiler(platform)
    if compiler is None:
        what = "nvcc (install the CUDA toolkit or set CUDA_HOME)" if platform == "cuda" else "a C++ compiler (c++, g++ or $CXX)"
        raise RuntimeError(f"{what} not found")
    inc = jax.ffi.include_dir()
    if platform == "cuda":
        arch = arch or _gpu_arch() or "90"
        target = f"sm{arch}"
        flags = ["-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", "-diag-suppress",
                 "940,2473", f"-gencode=arch=compute_{arch},code=sm_{arch}"]
    else:
        target = "cpu"
        flags = ["-O3", "-march=native", "-fopenmp-simd",
                 "-std=c++20", "-shared", "-fPIC",
                 "-pthread"]
    src = SOURCES[platform]
    key = hashlib.sha256(
        src.read_bytes() + b"".join(h.read_bytes() for h in HEADERS) + jax.__version__.encode()
        + target.encode()
        + (_cpu_signature().encode() if platform == "cpu" else b"")
    ).hexdigest()[:16]
    cache = cache_dir()
    out = cache / f"{src.stem}_{target}_{key}.so"
    if out.exists() and not force:
        return out
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
    os.close(fd)
    cmd = [compiler, *flags, f"-I{inc}", f"-I{_CSRC}", "-o", tmp, str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 and platform == "cpu":  # a compiler without -march / OpenMP SIMD
        cmd = [c for c in cmd if c not in ("-march=native", "-fopenmp-simd")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise RuntimeError(f"compiling {src.name} failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
    os.replace(tmp, out)
    return out


def _load(platform: str) -> None:
    """Build (if needed), load and register the FFI targets of ``platform`` once per process."""
    with _lock:
        if platform in _loaded:
            return
        try:
            if platform == "cuda" and current_platform() != "cuda":
                raise RuntimeError("JAX's default backend is not a CUDA GPU")
            path = os.environ.get(_ENV_LIB[platform]) or str(build(platform))
            lib = ctypes.cdll.LoadLibrary(path)
            names = list(_TARGETS[platform].values())
            if platform == "cpu":
                names += list(_GENERAL_TARGETS.values())
            for target in names:
                jax.ffi.register_ffi_target(
                    target, jax.ffi.pycapsule(getattr(lib, target)),
                    platform="CUDA" if platform == "cuda" else "cpu",
                )
            if platform == "cuda":
                lib.jaxaccel_memory1_plan.restype = ctypes.c_int
                lib.jaxaccel_memory1_plan.argtypes = [
                    ctypes.c_longlong, ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int,
                    ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
                ]
            _loaded[platform] = (lib, path)
        except Exception as exc:  # noqa: BLE001 - reported through status()
            _loaded[platform] = f"{type(exc).__name__}: {exc}"


def status(platform: Optional[str] = None) -> KernelStatus:
    """Whether ``simulate`` can use the native kernel of ``platform`` (default: JAX's backend).

    Builds and loads the kernel on the first call (once per process).

    Example:
        >>> st = status("cpu")
        >>> st.platform, st.available == (st.reason == "")
        ('cpu', True)
    """
    if platform is not None and platform not in SOURCES:
        raise ValueError(f"platform must be 'cpu', 'cuda' or None, got {platform!r}")
    platform = platform or current_platform()
    if platform is None:
        return KernelStatus(str(jax.default_backend()), False,
                            f"no native kernel for backend {jax.default_backend()!r}", None)
    _load(platform)
    got = _loaded[platform]
    if isinstance(got, str):
        return KernelStatus(platform, False, got, None)
    return KernelStatus(platform, True, "", got[1])


def plan(n: int, configs: int = 1, dtype: str = "float32", mode: str = "cuda", shift: bool = False,
         unit_weights: bool = True) -> dict:
    """The CUDA layout the kernel picks for ``n`` eigenvalues and ``configs`` configurations.

    Returns ``{"mode": "register"|"stream", "per_thread": E, "blocks_per_config": B,
    "configs_per_launch": P}``. Needs the CUDA kernel (:func:`status`).

    Example:
        >>> status("cuda").available or plan.__name__ == "plan"
        True
    """
    if mode not in ("cuda", "cuda:register", "cuda:stream"):
        raise ValueError(f"mode must be 'cuda', 'cuda:register' or 'cuda:stream', got {mode!r}")
    n = V.check_positive_int(n, "n")
    configs = V.check_positive_int(configs, "configs")
    if jnp.dtype(dtype).name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    st = status("cuda")
    if not st.available:
        raise RuntimeError(f"CUDA kernel unavailable: {st.reason}")
    B, P = ctypes.c_int(0), ctypes.c_int(0)
    e = _loaded["cuda"][0].jaxaccel_memory1_plan(
        int(n), int(configs), int(jnp.dtype(dtype) == jnp.float64), MODES[mode], int(shift),
        int(unit_weights), ctypes.byref(B), ctypes.byref(P),
    )
    if e < 0:
        raise RuntimeError("no kernel variant fits this problem in the requested mode")
    return {"mode": "stream" if e == 0 else "register", "per_thread": e,
            "blocks_per_config": B.value, "configs_per_launch": P.value}


def unsupported(static: dict, args: tuple, platform: Optional[str]) -> Optional[str]:
    """Why a prepared ``simulate`` call cannot run on the native kernel of ``platform``
    (``None`` if it can). ``static``/``args`` are those of :func:`jaxaccel.moments.engine.prepare`.

    Example:
        >>> unsupported({}, (), "tpu")
        "no native kernel for platform 'tpu'"
    """
    if platform not in SOURCES:
        return f"no native kernel for platform {platform!r}"
    alg, inv_b = args[2], args[3]
    if platform == "cpu":
        if not 1 <= alg.memory <= MAX_MEMORY:
            return f"the CPU kernels are for memory 1..{MAX_MEMORY} (got memory {alg.memory})"
    else:
        if alg.memory != 1:
            return f"the kernel is for memory 1 (got memory {alg.memory})"
        if static["dense"]:
            return "the kernel stores the 3 unique entries (dense=True asked for the dense layout)"
        if not static["stationary"]:
            return "the kernel needs stationary parameters (got a schedule)"
        if inv_b.ndim:
            return "the kernel needs a constant batch size (got a per-step schedule)"
    if not jax.config.jax_enable_x64:
        return "the kernel needs JAX's 64-bit mode (JAXACCEL_X64=0 switched it off)"
    if jnp.dtype(args[0].dtype).name not in ("float32", "float64"):
        return f"the kernel supports float32 and float64 (got {args[0].dtype})"
    st = status(platform)
    return None if st.available else st.reason


def select(kernel: str, static: dict, args: tuple) -> Optional[str]:
    """The native platform a ``simulate(kernel=...)`` call runs on, or ``None`` for the scan.

    ``"auto"`` takes the native kernel of JAX's backend when :func:`unsupported` has no
    objection (and ``JAXACCEL_NATIVE`` is not ``0``); ``"native"``, ``"cpu"`` and ``"cuda*"``
    insist and raise ``ValueError`` saying why they cannot be used.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "xla":
        return None
    plat = current_platform()
    if kernel == "auto":
        if os.environ.get("JAXACCEL_NATIVE", "1") in ("0", "false", "False", "no"):
            return None
        return plat if unsupported(static, args, plat) is None else None
    want = plat if kernel == "native" else kernel.split(":")[0]
    why = (f"JAX's default backend is {jax.default_backend()!r}" if want != plat
           else unsupported(static, args, want))
    if why is not None:
        raise ValueError(f"kernel={kernel!r} cannot be used: {why}")
    return want


def coefficients(alg, inv_b, tau, threshold) -> jax.Array:
    """The 12 float64 kernel coefficients (``csrc/memory1_step.h``): ``S0`` (row-major), ``v``,
    ``wbar``, ``tau1/b``, ``tau2/b``, the divergence threshold and a pad (traced; vmappable).

    Example:
        >>> import jaxaccel as ja
        >>> coefficients(ja.heavy_ball(0.5, 0.9), 0.1, jnp.array([1.0, -1.0]), 10.0).tolist()
        [1.0, 0.9, 0.0, 0.9, -0.5, -0.5, 1.0, 0.0, 0.1, -0.1, 10.0, 0.0]
    """
    S0, v, w = alg.transition_parts()
    f = lambda x: jnp.reshape(jnp.asarray(x, jnp.float64), (-1,))  # noqa: E731
    return jnp.concatenate([
        f(S0), f(v), f(w), f(inv_b * tau[0]), f(inv_b * tau[1]), f(threshold), jnp.zeros(1),
    ])


def variant(platform: str, memory: int, stationary: bool, per_step_batch: bool,
            dense: bool) -> str:
    """Which native kernel runs a call: ``"memory1"`` (the tuned stationary memory-1 kernel of
    the CPU or GPU) or ``"general"`` (CPU: memory 1..4 with per-step parameters or batch sizes,
    and the dense layout).

    Example:
        >>> variant("cpu", 1, True, False, False), variant("cpu", 1, False, False, False)
        ('memory1', 'general')
    """
    if platform == "cpu" and (memory != 1 or not stationary or per_step_batch or dense):
        return "general"
    return "memory1"


def general_coefficients(alg, inv_b, tau, threshold, rows: int) -> jax.Array:
    """``(rows, K^2 + 2K + 3)`` float64 rows of the general kernel (``csrc/memory_m_cpu.h``):
    ``S0`` (row-major), ``v``, ``wbar``, ``tau1/b_t``, ``tau2/b_t``, the threshold; one row per
    step of a schedule (``rows = steps``) or a single row.

    Example:
        >>> import jaxaccel as ja
        >>> general_coefficients(ja.heavy_ball(0.5, 0.9), 0.1, jnp.array([1.0, -1.0]), 10.0,
        ...                      1).tolist()
        [[1.0, 0.9, 0.0, 0.9, -0.5, -0.5, 1.0, 0.0, 0.1, -0.1, 10.0]]
    """
    S0, v, w = alg.transition_parts()
    K = alg.memory + 1
    f64 = lambda x, tail: jnp.broadcast_to(jnp.asarray(x, jnp.float64), (rows,) + tail)  # noqa: E731
    cols = [f64(S0, (K, K)).reshape(rows, K * K), f64(v, (K,)), f64(w, (K,)),
            f64(inv_b * tau[0], ())[:, None], f64(inv_b * tau[1], ())[:, None],
            f64(threshold, ())[:, None]]
    return jnp.concatenate(cols, axis=1)


def _pack(entries, K, dense):
    """The state as ``(K(K+1)/2, N)`` unique entries (the general kernel's layout)."""
    if not dense:
        return entries
    return jnp.stack([entries[:, i, j] for i in range(K) for j in range(i, K)])


def _unpack(entries, K, dense):
    if not dense:
        return entries
    pos = {}
    for p, (i, j) in enumerate((i, j) for i in range(K) for j in range(i, K)):
        pos[(i, j)] = pos[(j, i)] = p
    rows = [jnp.stack([entries[pos[(i, j)]] for j in range(K)], axis=-1) for i in range(K)]
    return jnp.stack(rows, axis=-2)


def _ffi_general(lam, m, alg, inv_b, tau, rec, entries0, t0, threshold, *, steps, n_rec, shift,
                 unit_weights, dense):
    dtype = jnp.dtype(lam.dtype)
    K = alg.memory + 1
    rows = 1 if (alg.is_stationary and jnp.ndim(inv_b) == 0) else steps
    packed = _pack(entries0, K, dense)
    out = (
        jax.ShapeDtypeStruct((n_rec,), dtype),
        jax.ShapeDtypeStruct((n_rec,), dtype),
        jax.ShapeDtypeStruct((), jnp.int32),
        jax.ShapeDtypeStruct(packed.shape, dtype),
    )
    call = jax.ffi.ffi_call(_GENERAL_TARGETS[dtype.name], out, vmap_method="expand_dims")
    loss, lossg, div_at, entries = call(
        lam, m.astype(dtype), packed,
        general_coefficients(alg, inv_b, tau, threshold, rows).reshape(-1), rec,
        jnp.asarray(t0, jnp.int32), steps=np.int64(steps), K=np.int64(K), rows=np.int64(rows),
        shift=np.int64(bool(shift)), unit_weights=np.int64(bool(unit_weights)),
    )
    return _finish(rec, n_rec, loss, lossg, div_at, _unpack(entries, K, dense))


def _finish(rec, n_rec, loss, lossg, div_at, entries):
    """The scan's conventions on the kernel outputs: ``inf`` after the divergent step."""
    diverged = div_at >= 0
    after = diverged & (rec[:n_rec] > div_at)
    loss = jnp.where(after | ~jnp.isfinite(loss), jnp.inf, loss)
    lossg = jnp.where(after | ~jnp.isfinite(lossg), jnp.inf, lossg)
    return loss, lossg, diverged, div_at, entries


def _ffi(lam, m, alg, inv_b, tau, rec, entries0, t0, threshold, *, steps, n_rec, shift,
         unit_weights, platform, mode, kind="memory1", dense=False):
    if kind == "general":
        return _ffi_general(lam, m, alg, inv_b, tau, rec, entries0, t0, threshold, steps=steps,
                            n_rec=n_rec, shift=shift, unit_weights=unit_weights, dense=dense)
    dtype = jnp.dtype(lam.dtype)
    out = (
        jax.ShapeDtypeStruct((n_rec,), dtype),
        jax.ShapeDtypeStruct((n_rec,), dtype),
        jax.ShapeDtypeStruct((), jnp.int32),
        jax.ShapeDtypeStruct(entries0.shape, dtype),
        jax.ShapeDtypeStruct((WORKSPACE if platform == "cuda" else 0,), jnp.uint8),
    )
    call = jax.ffi.ffi_call(_TARGETS[platform][dtype.name], out, vmap_method="expand_dims")
    loss, lossg, div_at, entries, _ = call(
        lam, m.astype(dtype), entries0, coefficients(alg, inv_b, tau, threshold), rec,
        jnp.asarray(t0, jnp.int32), steps=np.int64(steps), mode=np.int64(MODES[mode]),
        shift=np.int64(bool(shift)), unit_weights=np.int64(bool(unit_weights)),
    )
    return _finish(rec, n_rec, loss, lossg, div_at, entries)


@functools.lru_cache(maxsize=None)
def _differentiable(reference, **static):
    """The kernel call as a ``custom_jvp`` whose derivative is that of the scan."""
    fn, items = reference
    ref = functools.partial(fn, **dict(items))

    @jax.custom_jvp
    def f(*args):
        return _ffi(*args, **static)

    @f.defjvp
    def f_jvp(primals, tangents):
        return jax.jvp(ref, primals, tangents)

    return f


def run(lam, m, alg, inv_b, tau, rec, entries0, t0, threshold, *, steps, n_rec, shift,
        unit_weights, platform, mode, reference, kind="memory1", dense=False):
    """Native counterpart of :func:`jaxaccel.moments.engine.run_scan`: ``(loss, lossg, diverged, div_at, entries)``.

    Traceable and vmappable (a vmapped call is one kernel call over all configurations).
    ``reference = (fn, ((name, value), ...))``: ``fn(*args, **dict(...))`` returns the same
    tuple through the scan and supplies the derivatives (a hashable pair, so that ``run`` can
    be jitted with it as a static argument).
    """
    f = _differentiable(reference, steps=steps, n_rec=n_rec, shift=shift,
                        unit_weights=unit_weights, platform=platform, mode=mode, kind=kind,
                        dense=dense)
    return f(lam, m, alg, inv_b, tau, rec, entries0, t0, threshold)
