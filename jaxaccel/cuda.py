"""Persistent CUDA kernels for the memory-1 SE recursion, called from JAX through the XLA FFI.

The XLA ``lax.scan`` of :func:`jaxaccel.simulate` is the portable reference; on a CUDA GPU the
memory-1 stationary case (Heavy Ball, Nesterov, the 5-parameter family, GD as ``beta = 0``)
can run instead in one persistent kernel that executes all ``T`` steps of Algorithm A
(spec §3.4) in a single launch (source: ``jaxaccel/csrc/memory1_se.cu``):

* **register mode** (the on-chip regime, ``N`` up to ~1e6 in float32 on an H100): each thread
  keeps the three moment entries of up to 32 eigenvalues in registers for the whole run, so a
  step costs the arithmetic plus one reduction and one barrier among the blocks;
* **stream mode** (the HBM-bound regime, ``N >= 1e7``): one pass over the state per step, with
  the global sums of the new state reduced in the same pass (28 bytes per eigen-step in
  float32 with unit weights: read ``c11, c12, c22, lambda``, write ``c11, c12, c22``);
* a batch of configurations (``vmap``, :func:`jaxaccel.simulate_grid`) is one call: the
  configurations run side by side, each on its own group of blocks.

Global sums are accumulated in float64 in both precisions (per-thread partials, warp and block
trees, then the block partials in a fixed order, so every block sees the same total).

The kernel is compiled once with ``nvcc`` into ``$JAXACCEL_CACHE`` (default
``~/.cache/jaxaccel``) the first time it is needed; ``JAXACCEL_CUDA_LIB=/path/lib.so`` uses a
prebuilt library instead. :func:`status` says whether the kernel can be used here and why not.
On a machine without a CUDA GPU nothing is built and :func:`jaxaccel.simulate` uses the XLA scan.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import jax
import jax.numpy as jnp

_SOURCE = Path(__file__).with_name("csrc") / "memory1_se.cu"
_TARGETS = {"float32": "jaxaccel_memory1_f32", "float64": "jaxaccel_memory1_f64"}
#: kernel modes accepted by ``simulate(kernel=...)``: the FFI ``mode`` attribute
MODES = {"cuda": 0, "cuda:register": 1, "cuda:stream": 2}
#: workspace bytes per configuration: barrier tags (2 x 8 bytes per block, padded to 256) and
#: block partials (2 x 16 bytes per block), for up to ``kMaxBlocks`` = 4096 blocks
WORKSPACE = 256 + 48 * 4096

_lock = threading.Lock()
_state = {"lib": None, "error": None, "tried": False}


class KernelStatus(NamedTuple):
    """Whether the CUDA kernel can be used in this process (:func:`status`).

    Attributes:
        available: the library is built, loaded and registered with XLA.
        reason: why not (empty when available).
        library: path of the loaded shared library, or ``None``.
    """

    available: bool
    reason: str
    library: Optional[str]


def _gpu_arch() -> Optional[str]:
    try:
        dev = jax.devices("gpu")[0]
    except RuntimeError:
        return None
    cc = getattr(dev, "compute_capability", None)
    return None if cc is None else str(cc).replace(".", "")


def _nvcc() -> Optional[str]:
    found = shutil.which("nvcc")
    if found:
        return found
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    cand = Path(home) / "bin" / "nvcc"
    return str(cand) if cand.exists() else None


def build(arch: Optional[str] = None, force: bool = False, verbose: bool = False) -> Path:
    """Compile ``csrc/memory1_se.cu`` with ``nvcc`` into the cache directory; return its path.

    ``arch`` is the compute capability without the dot (``"90"`` for H100/H200; default: the
    first GPU's). The file name carries a hash of the source, the JAX version and ``arch``, so a
    stale library is never reused; the library is written to a temporary name and renamed.
    Raises ``RuntimeError`` when ``nvcc`` is missing or fails.

    Example:
        >>> import jaxaccel.cuda as jc
        >>> callable(jc.build)
        True
    """
    arch = arch or _gpu_arch() or "90"
    if not arch.isdigit():
        raise ValueError(f"arch must be a compute capability like '90', got {arch!r}")
    nvcc = _nvcc()
    if nvcc is None:
        raise RuntimeError("nvcc not found (install the CUDA toolkit or set CUDA_HOME)")
    src = _SOURCE.read_bytes()
    key = hashlib.sha256(src + jax.__version__.encode() + arch.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("JAXACCEL_CACHE", Path.home() / ".cache" / "jaxaccel"))
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"memory1_se_sm{arch}_{key}.so"
    if out.exists() and not force:
        return out
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
    os.close(fd)
    cmd = [
        nvcc, "-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC",
        "-diag-suppress", "940,2473", f"-gencode=arch=compute_{arch},code=sm_{arch}",
        f"-I{jax.ffi.include_dir()}", "-o", tmp, str(_SOURCE),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise RuntimeError(f"nvcc failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
    if verbose:
        print(proc.stderr)
    os.replace(tmp, out)
    return out


def _load() -> None:
    """Build (if needed), load and register the FFI targets once per process."""
    with _lock:
        if _state["tried"]:
            return
        _state["tried"] = True
        try:
            if jax.default_backend() != "gpu" or _gpu_arch() is None:
                raise RuntimeError("JAX's default backend is not a CUDA GPU")
            path = os.environ.get("JAXACCEL_CUDA_LIB") or str(build())
            lib = ctypes.cdll.LoadLibrary(path)
            for target in _TARGETS.values():
                jax.ffi.register_ffi_target(
                    target, jax.ffi.pycapsule(getattr(lib, target)), platform="CUDA"
                )
            lib.jaxaccel_memory1_plan.restype = ctypes.c_int
            lib.jaxaccel_memory1_plan.argtypes = [
                ctypes.c_longlong, ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int,
                ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
            ]
            _state["lib"], _state["path"] = lib, path
        except Exception as exc:  # noqa: BLE001 - reported through status()
            _state["error"] = f"{type(exc).__name__}: {exc}"


def status() -> KernelStatus:
    """Whether :func:`jaxaccel.simulate` can use the CUDA kernel here (builds it on first call).

    Example:
        >>> import jax, jaxaccel.cuda as jc
        >>> st = jc.status()
        >>> st.available == (jax.default_backend() == "gpu" and st.reason == "")
        True
    """
    _load()
    if _state["lib"] is None:
        return KernelStatus(False, _state["error"] or "not loaded", None)
    return KernelStatus(True, "", _state.get("path"))


def plan(n: int, configs: int = 1, dtype="float32", mode: str = "cuda", shift: bool = False,
         unit_weights: bool = True) -> dict:
    """The variant the kernel picks for ``n`` eigenvalues and ``configs`` configurations.

    Returns ``{"mode": "register"|"stream", "per_thread": E, "blocks_per_config": B,
    "configs_per_launch": P}`` (needs the kernel: :func:`status`).

    Example:
        >>> import jaxaccel.cuda as jc
        >>> jc.status().available or jc.plan.__name__ == "plan"
        True
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    st = status()
    if not st.available:
        raise RuntimeError(f"CUDA kernel unavailable: {st.reason}")
    B, P = ctypes.c_int(0), ctypes.c_int(0)
    e = _state["lib"].jaxaccel_memory1_plan(
        int(n), int(configs), int(jnp.dtype(dtype) == jnp.float64), MODES[mode], int(shift),
        int(unit_weights), ctypes.byref(B), ctypes.byref(P),
    )
    if e < 0:
        raise RuntimeError("no kernel variant fits this problem in the requested mode")
    return {"mode": "stream" if e == 0 else "register", "per_thread": e,
            "blocks_per_config": B.value, "configs_per_launch": P.value}


def unsupported(static: dict, args: tuple) -> Optional[str]:
    """Why the prepared ``simulate`` call cannot run on the CUDA kernel (``None`` if it can)."""
    alg, inv_b = args[2], args[3]
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
    if jnp.dtype(args[0].dtype).name not in _TARGETS:
        return f"the kernel supports float32 and float64 (got {args[0].dtype})"
    st = status()
    return None if st.available else st.reason


def coefficients(alg, inv_b, tau, threshold) -> jax.Array:
    """The 12 float64 kernel coefficients: ``S0`` (row-major), ``v``, ``wbar``,
    ``tau1/b``, ``tau2/b``, the divergence threshold and a pad (all traced; vmappable)."""
    S0, v, w = alg.transition_parts()
    f = lambda x: jnp.reshape(jnp.asarray(x, jnp.float64), (-1,))  # noqa: E731
    return jnp.concatenate([
        f(S0), f(v), f(w), f(inv_b * tau[0]), f(inv_b * tau[1]), f(threshold), jnp.zeros(1),
    ])


def run(lam, m, alg, inv_b, tau, rec, entries0, t0, threshold, *, steps, n_rec, shift,
        unit_weights, return_state, mode="cuda"):
    """Kernel counterpart of ``moments._run`` (same arguments and outputs; traceable, vmappable:
    a vmapped call is one launch over all configurations)."""
    dtype = jnp.dtype(lam.dtype)
    target = _TARGETS[dtype.name]
    out = (
        jax.ShapeDtypeStruct((n_rec,), dtype),
        jax.ShapeDtypeStruct((n_rec,), dtype),
        jax.ShapeDtypeStruct((), jnp.int32),
        jax.ShapeDtypeStruct(entries0.shape, dtype),
        jax.ShapeDtypeStruct((WORKSPACE,), jnp.uint8),
    )
    call = jax.ffi.ffi_call(target, out, vmap_method="expand_dims")
    loss, lossg, div_at, entries, _ = call(
        lam, m.astype(dtype), entries0, coefficients(alg, inv_b, tau, threshold), rec,
        jnp.asarray(t0, jnp.int32), steps=np.int64(steps), mode=np.int64(MODES[mode]),
        shift=np.int64(bool(shift)), unit_weights=np.int64(bool(unit_weights)),
    )
    diverged = div_at >= 0
    after = diverged & (rec[:n_rec] > div_at)
    loss = jnp.where(after | ~jnp.isfinite(loss), jnp.inf, loss)
    lossg = jnp.where(after | ~jnp.isfinite(lossg), jnp.inf, lossg)
    return loss, lossg, diverged, div_at, entries
