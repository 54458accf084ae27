"""``simulate``: the loss curve of a memory-M algorithm under the SE noise model.

Theory: ``docs/theory/sgd_memory.md`` §3.3-§3.4 (Algorithm A). The run goes to the native
single-pass kernel of JAX's backend where one applies (:mod:`jaxaccel.moments.native`) and to
the XLA scan of :mod:`jaxaccel.moments.engine` otherwise; both give the same numbers.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.moments import native as _native
from jaxaccel.moments.engine import (MomentState, SimulationResult, make_result, prepare,
                                     run_scan)
from jaxaccel.noise import NoiseModel
from jaxaccel.progress import MIN_SECONDS, predicted_seconds
from jaxaccel.record import RecordSpec
from jaxaccel.spectra.spectrum import Spectrum

__all__ = ["simulate"]


def simulate(
    spectrum: Spectrum,
    algorithm: MemoryAlgorithm,
    steps: int,
    batch_size: Union[None, Scalar, Float[ArrayLike, "T"], NoiseModel] = None,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    record: RecordSpec = "all",
    *,
    dtype: Optional[DTypeLike] = None,
    divergence_threshold: float = 1e10,
    divergence_growth: Optional[float] = 100.0,
    initial: Optional[MomentState] = None,
    return_state: bool = False,
    dense: Optional[bool] = None,
    unroll: int = 4,
    kernel: str = "auto",
    progress: bool = False,
) -> SimulationResult:
    """Evolve the SE second moments (Algorithm A, theory §3.4) and return the loss curve.

    .. math::  L_t = \\tfrac12\\sum_k \\lambda_k (C^{(k)}_t)_{11},\\qquad
               \\tilde L_t = \\tfrac12 G_t.

    Args:
        spectrum: the problem (:class:`~jaxaccel.spectra.Spectrum`), ``N`` nodes.
        algorithm: a :class:`~jaxaccel.algorithms.MemoryAlgorithm`; a schedule must cover
            ``steps`` steps (from the start step of ``initial``).
        steps: number of steps ``T`` (positive int); losses are defined for ``t = 0..T``.
        batch_size: ``None`` for full-batch GD with memory, a positive number, or a ``(T,)``
            array of per-step batch sizes (``1/b`` may be replaced by any batch factor, e.g.
            ``(N-b)/((N-1)b)`` for sampling without replacement, by passing its inverse),
            or a :class:`~jaxaccel.NoiseModel` (then ``tau`` is left out).
        tau: ``(tau1, tau2)`` of the SE noise model (15); ``None`` means ``(1, -1)``, exact
            for Gaussian data; ``(1, 1)`` is exact for translation-invariant data.
        record: which steps to record: ``"all"`` (default), ``"log"``/``("log", n)``, an int
            ``k`` (every k-th step) or an array of steps.
        dtype: floating dtype of the run (default: the spectrum's, float64). For float32 pass
            ``jnp.float32``; global sums stay pairwise-accurate.
        divergence_threshold: a run is flagged as diverged when ``L_t`` or ``L~_t`` is
            non-finite or exceeds ``divergence_threshold * max(L_0, L~_0)`` (the run stops
            there; later recorded losses are ``inf``).
        divergence_growth: slow blow-ups below that threshold: a run is also flagged when its
            recorded ``L_t`` stays above ``divergence_growth`` times its running minimum from
            some recorded step to the end (``diverged_at`` is that step; the recorded losses
            are kept). Transient bumps that fall back are not flagged. ``None`` switches the
            rule off. It is judged on the recorded steps, so a sparse ``record`` resolves the
            onset only to the record grid.
        initial: resume from a :class:`MomentState` returned by an earlier run
            (``return_state=True``); recorded steps are then absolute.
        return_state: also return the final state (memory: one block per eigenvalue).
        dense: force the dense ``(N, K, K)`` path (default: unrolled for ``M <= 3``).
        unroll: time steps per scan iteration of the XLA scan (4 is fastest on CPU).
        kernel: ``"auto"`` (default) runs on the native kernel of JAX's backend
            (:mod:`jaxaccel.moments.native`) when it can be built: on the CPU every run of memory
            1..4, stationary or scheduled, with a constant or per-step batch size; on an NVIDIA
            GPU memory-1 stationary runs with a constant batch size; everything else runs on
            the XLA ``lax.scan``; ``"xla"`` always uses the scan; ``"native"``,
            ``"cpu"``, ``"cuda"`` (or ``"cuda:register"`` / ``"cuda:stream"`` to force a
            layout) require that kernel and raise ``ValueError`` saying why it cannot be used.
            Derivatives always go through the scan. On a diverged native run the returned
            state is the one at the divergent step.
        progress: report progress on stderr when the run is predicted to take more than 10 s
            (:mod:`jaxaccel.progress`): it then runs in ~10 chunks of steps through
            :func:`jaxaccel.run_long` (the same numbers; not under ``jit``/``vmap``, not with
            ``initial``).

    Returns:
        :class:`SimulationResult`.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(1000, nu=1.5, zeta=0.5)
        >>> r = ja.simulate(s, ja.heavy_ball(0.5, 0.5), steps=100, batch_size=10, record="log")
        >>> bool(r.loss[-1] < r.loss[0]), bool(r.diverged)
        (True, False)
    """
    if progress and initial is None and V.is_concrete(algorithm.alpha):
        native = _native.current_platform() == "cpu" and 1 <= algorithm.memory <= 4
        if predicted_seconds(spectrum.size * steps, native) > MIN_SECONDS:
            res = _chunked_with_progress(
                spectrum, algorithm, steps, batch_size, tau, record, chunk_steps=-(-steps // 10),
                progress=True, dtype=dtype, divergence_threshold=divergence_threshold,
                divergence_growth=divergence_growth, dense=dense, unroll=unroll, kernel=kernel)
            return res if return_state else res._replace(state=None)
    args, static, rec = prepare(
        spectrum, algorithm, steps, batch_size, tau, record, dtype, divergence_threshold,
        initial, return_state, dense, unroll,
    )
    platform = _native.select(kernel, static, args)
    if platform is not None:
        w = spectrum.weights
        if V.is_concrete(w):  # reduced on the device (no copy of the weights to the host)
            with jax.ensure_compile_time_eval():
                unit = bool(jnp.all(w == 1))
        else:
            unit = False
        reference = (_scan_outputs, tuple(sorted({**static, "return_state": True}.items())))
        loss, lossg, diverged, div_at, entries = _run_native(
            *args, steps=static["steps"], n_rec=static["n_rec"], shift=static["has_shift"],
            unit_weights=unit, platform=platform, mode=kernel, reference=reference,
            kind=_native.variant(platform, args[2].memory, static["stationary"], args[3].ndim > 0,
                                 static["dense"]),
            dense=static["dense"],
        )
        final = MomentState(args[7] + static["steps"], entries) if return_state else None
    else:
        loss, lossg, diverged, div_at, final = run_scan(*args, **static)
    if divergence_growth is not None and not (np.isfinite(divergence_growth)
                                              and divergence_growth > 1):
        raise ValueError(f"divergence_growth must be > 1 or None, got {divergence_growth!r}")
    return make_result(rec, loss, lossg, diverged, div_at, final,
                       growth_factor=divergence_growth)


def _scan_outputs(*args, **static):
    """``run_scan`` with the final entries in place of the state (the native kernels' outputs)."""
    loss, lossg, diverged, div_at, state = run_scan(*args, **static)
    return loss, lossg, diverged, div_at, state.entries


_run_native = jax.jit(
    _native.run,
    static_argnames=("steps", "n_rec", "shift", "unit_weights", "platform", "mode", "reference",
                     "kind", "dense"),
)



#: the chunked runner used for ``progress=True`` (:func:`jaxaccel.run_long`); registered by
#: :mod:`jaxaccel.moments.long`, which builds on this module (so it cannot be imported here)
_CHUNKED = []


def register_chunked(run_long) -> None:
    """Called once by :mod:`jaxaccel.moments.long` with its ``run_long``."""
    _CHUNKED[:] = [run_long]


def _chunked_with_progress(*args, **kwargs):
    return _CHUNKED[0](*args, **kwargs)
