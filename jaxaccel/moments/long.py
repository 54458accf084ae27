"""Long runs: chunked simulation with progress, atomic checkpoints and resume.

A long :func:`~jaxaccel.simulate` run is cut into chunks of ``chunk_steps`` steps, each
one jitted scan continuing from the previous chunk's :class:`~jaxaccel.moments.MomentState`
(the same compiled kernel serves every full chunk). Every ``checkpoint_every`` chunks the state
and everything recorded so far are written atomically to ``checkpoint``; calling
:func:`run_long` again with the same arguments resumes from the file and produces exactly the
curve of an uninterrupted run.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional, Tuple, Union

import numpy as np
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.io import save_npz
from jaxaccel.moments.engine import (GROWTH_FACTOR, MomentState, SimulationResult,
                                     initial_state, make_result)
from jaxaccel.moments.simulate import register_chunked, simulate
from jaxaccel.noise import NoiseModel, as_noise_model
from jaxaccel.record import RecordSpec, record_steps
from jaxaccel.spectra.spectrum import Spectrum


#: checkpoint fields that define the run, with the name a mismatch is reported under
_FINGERPRINT = {
    "eigenvalues": "spectrum.eigenvalues", "c2": "spectrum.c2", "weights": "spectrum.weights",
    "alpha": "algorithm.alpha", "a": "algorithm.a", "b": "algorithm.b", "c": "algorithm.c",
    "D": "algorithm.D", "zero_shift": "algorithm (zero-shift form)",
    "batch_size": "batch_size", "tau": "tau", "dtype": "dtype", "record": "record",
    "total_steps": "steps", "dense": "dense", "kernel": "kernel", "unroll": "unroll",
    "divergence_threshold": "divergence_threshold",
}


def _fingerprint(spectrum, algorithm, steps, noise, rec, simulate_kwargs):
    """Everything that defines a run, as arrays (stored in the checkpoint and compared)."""
    dtype = jnp.dtype(simulate_kwargs.get("dtype") or spectrum.dtype).name
    bs = np.asarray(np.nan) if noise.is_full_batch else np.asarray(noise.batch_size, np.float64)
    fp = dict(eigenvalues=spectrum.eigenvalues, c2=spectrum.c2, weights=spectrum.weights,
              zero_shift=bool(algorithm.zero_shift), batch_size=bs,
              # (tau1, tau2), and sigma2 after them when there is label noise (so checkpoints
              # without label noise keep their fingerprint)
              tau=np.asarray(noise.coefficients(np.float64) if noise.has_label_noise
                             else noise.tau(np.float64)), dtype=np.asarray(dtype), record=rec,
              total_steps=np.asarray(steps),
              dense=np.asarray(str(simulate_kwargs.get("dense"))),
              kernel=np.asarray(str(simulate_kwargs.get("kernel", "auto"))),
              unroll=np.asarray(int(simulate_kwargs.get("unroll", 4))),
              divergence_threshold=np.asarray(
                  float(simulate_kwargs.get("divergence_threshold", 1e10))))
    fp.update({name: x for name, x in zip(("alpha", "a", "b", "c", "D"), algorithm.params)})
    return {k: np.asarray(v) for k, v in fp.items()}


def _load(path, expect):
    """The checkpoint's arrays, after checking that it belongs to this run."""
    try:
        with np.load(path) as f:
            meta = {k: f[k] for k in f.files}
    except Exception as err:  # noqa: BLE001 - zip, pickle and I/O errors of a damaged file
        raise ValueError(f"checkpoint {path!r} cannot be read ({type(err).__name__}: {err}): "
                         "it is corrupt or truncated; delete it to restart the run from step 0, "
                         "or pass another checkpoint path") from err
    missing = [k for k in ("t", "entries", "loss", "loss_g", "diverged_at") if k not in meta]
    if missing:
        raise ValueError(f"checkpoint {path!r} is not a run_long checkpoint (no {missing}); "
                         "delete it or pass another checkpoint path")
    differ = [name for key, name in _FINGERPRINT.items()
              if key not in meta or meta[key].shape != expect[key].shape
              or not np.array_equal(meta[key], expect[key], equal_nan=meta[key].dtype.kind == "f")]
    if differ:
        raise ValueError(
            f"checkpoint {path!r} was written for a different run ({', '.join(differ)} "
            "differ); remove it or pass another checkpoint path"
        )
    return meta


def run_long(
    spectrum: Spectrum,
    algorithm: MemoryAlgorithm,
    steps: int,
    batch_size: Union[None, Scalar, NoiseModel] = None,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    record: RecordSpec = "log",
    *,
    chunk_steps: int = 10_000,
    checkpoint: Optional[str] = None,
    checkpoint_every: int = 1,
    progress: bool = False,
    **simulate_kwargs: Any,
) -> SimulationResult:
    """:func:`simulate` in chunks, with optional progress output and checkpoint/resume.

    Args:
        spectrum, algorithm, steps, batch_size, tau, record: as in :func:`simulate`
            (``record`` steps are absolute and resolved once for the whole run).
        chunk_steps: steps per jitted chunk.
        checkpoint: path of an ``.npz`` checkpoint; if it exists the run resumes from it.
            Written atomically every ``checkpoint_every`` chunks and at the end.
        progress: print a progress line (step, loss, elapsed time) to stderr after each chunk.
        **simulate_kwargs: forwarded (``dtype``, ``divergence_threshold``, ``dense``, ``unroll``).

    Returns:
        the :class:`SimulationResult` of the whole run (state of the last step included).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=1.5, zeta=0.5)
        >>> r = ja.run_long(s, ja.heavy_ball(0.3, 0.5), 50, batch_size=4, chunk_steps=20)
        >>> int(r.steps[-1])
        50
    """
    steps = V.check_positive_int(steps, "steps")
    chunk_steps = V.check_positive_int(chunk_steps, "chunk_steps")
    checkpoint_every = V.check_positive_int(checkpoint_every, "checkpoint_every")
    rec = record_steps(record, steps)
    noise = as_noise_model(batch_size, tau, schedule=True)
    bs_full = None if noise.is_full_batch else np.asarray(noise.batch_size, dtype=np.float64)
    expect = _fingerprint(spectrum, algorithm, steps, noise, rec, simulate_kwargs)
    chunk_kwargs = dict(simulate_kwargs)
    growth = chunk_kwargs.pop("divergence_growth", GROWTH_FACTOR)
    state = None
    loss, lossg = np.full(rec.shape, np.nan), np.full(rec.shape, np.nan)
    div_at = -1
    if checkpoint is not None and os.path.exists(checkpoint):
        meta = _load(checkpoint, expect)
        state = MomentState(jnp.int32(int(meta["t"])), jnp.asarray(meta["entries"]))
        loss, lossg, div_at = meta["loss"].copy(), meta["loss_g"].copy(), int(meta["diverged_at"])
    if state is None:
        dense = simulate_kwargs.get("dense")
        state = initial_state(spectrum.astype(simulate_kwargs.get("dtype") or spectrum.dtype),
                              algorithm.memory, dense)
    t = int(state.t)
    t_start = time.perf_counter()
    n_chunk = 0
    while t < steps:
        n = min(chunk_steps, steps - t)
        in_chunk = rec[(rec >= t) & (rec <= t + n)]
        if in_chunk.size == 0 or in_chunk[0] != t:
            in_chunk = np.union1d([t], in_chunk)
        if bs_full is None or bs_full.ndim == 0:
            bs = bs_full
        else:
            bs = bs_full[t : t + n]
        chunk_noise = NoiseModel(bs, noise.tau1, noise.tau2, noise.sigma2)
        res = simulate(  # the growth rule is judged once, on the whole curve (below)
            spectrum, algorithm, n, chunk_noise, record=in_chunk, initial=state, return_state=True,
            divergence_growth=None, **chunk_kwargs,
        )
        got = np.asarray(res.steps)
        idx = np.searchsorted(rec, got)
        ok = (idx < rec.size) & (rec[np.minimum(idx, rec.size - 1)] == got)
        loss[idx[ok]] = np.asarray(res.loss)[ok]
        lossg[idx[ok]] = np.asarray(res.loss_at_gradient_point)[ok]
        if div_at < 0 and bool(res.diverged):
            div_at = int(res.diverged_at)
        state = res.state
        t += n
        n_chunk += 1
        if progress:
            last = np.asarray(res.loss)[-1]
            print(f"[jaxaccel] step {t}/{steps}  loss {last:.4e}  "
                  f"{time.perf_counter() - t_start:.1f}s", file=sys.stderr, flush=True)
        if checkpoint is not None and (n_chunk % checkpoint_every == 0 or t >= steps):
            save_npz(checkpoint, t=t, entries=state.entries, loss=loss, loss_g=lossg,
                     diverged_at=div_at, **expect)
    if div_at >= 0:
        loss = np.where(rec > div_at, np.inf, loss)
        lossg = np.where(rec > div_at, np.inf, lossg)
    return make_result(rec, jnp.asarray(loss), jnp.asarray(lossg), jnp.asarray(div_at >= 0),
                       jnp.asarray(div_at, jnp.int32), state, growth_factor=growth)


register_chunked(run_long)
