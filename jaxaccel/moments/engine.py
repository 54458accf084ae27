"""The SE moment engine: Algorithm A of ``docs/theory/sgd_memory.md`` §3.4 on a lax.scan.

Per eigenvalue ``lambda_k`` the second-moment block ``C^(k)`` of ``(w - w*, u)`` evolves as

.. math::
    C^{(k)}_{t+1} = S_{\\lambda_k} C^{(k)}_t S_{\\lambda_k}^T
      + \\frac{\\lambda_k}{b_t}\\big(\\tau_1 G_t + \\sigma^2 - \\tau_2 \\lambda_k g_k\\big) v v^T,\\qquad
    g_k = \\bar w^T C^{(k)} \\bar w,\\quad G_t = \\sum_j \\lambda_j g_j,

with ``L_t = 1/2 sum_k lambda_k C^(k)_11`` and ``L~_t = G_t / 2`` (§3.3, eq. (A)); ``sigma^2`` is
the label-noise variance (§3.5; ``L_t`` is then the excess risk).
With spectrum weights ``m_k`` (aggregated nodes) the ``tau1`` and ``sigma^2`` terms are
multiplied by ``m_k``.

This module is the engine's *internal interface*: its names without a leading underscore
(:class:`MomentState`, :class:`SimulationResult`, :func:`initial_state`, :func:`padded`,
:func:`pairs`, :func:`pairwise_sum`, :func:`prepare`, :func:`run_scan`, :func:`make_result`)
are meant to be imported by the sibling modules of :mod:`jaxaccel.moments` (``simulate``, the
native kernels, grids, sharding, long runs) and by the propagators; users call
:func:`jaxaccel.simulate`.

Implementation notes:

* One jitted ``lax.scan`` over the steps. Recording uses a pointer into the sorted record
  steps, so nothing is synchronised with the host inside the loop.
* For ``M <= 3`` the ``K (K + 1) / 2`` unique entries of each symmetric block (``K = M + 1``;
  3 arrays for memory 1) are stored as separate ``(N,)`` arrays and the update is written out
  entry by entry, so XLA fuses each step into a single pass over the eigenvalues. Larger ``M``
  uses a dense ``(N, K, K)`` einsum path. Both handle the gradient shift ``a``.
* Global sums over eigenvalues (``G_t``, ``L_t``) use a blocked pairwise reduction, so float32
  runs keep ~1e-7 relative accuracy at ``N = 1e7``.
* A run whose loss becomes non-finite or exceeds ``divergence_threshold * L_0`` is reported with
  ``diverged=True`` and the first such step; later recorded losses are set to ``+inf``.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple, Optional

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, Flag, Float, Int, Recorded, RecordedSteps
from jaxaccel.algorithms.base import check_algorithm
from jaxaccel.noise import as_noise_model
from jaxaccel.record import record_steps
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum

__all__ = ["MomentState", "SimulationResult", "initial_state", "pairwise_sum"]


_BLOCK = 1024  # block of the pairwise reduction (and padding granularity of the spectrum)
_UNROLL_MAX_K = 4  # unrolled unique-entry path for M <= 3


class MomentState(NamedTuple):
    """State of the second-moment recursion after ``t`` steps.

    ``entries`` is ``(K(K+1)/2, N)`` (unique entries, row-major upper triangle) on the unrolled
    path and ``(N, K, K)`` on the dense path; ``N`` may include zero padding nodes.
    """

    t: jax.Array
    entries: jax.Array


class SimulationResult(NamedTuple):
    """Output of :func:`simulate`.

    Attributes:
        steps: ``(R,)`` int, the recorded steps (``0`` included by default).
        loss: ``(R,)`` ``L_t`` at the recorded steps.
        loss_at_gradient_point: ``(R,)`` ``L~_t`` (equal to ``loss`` when ``a = 0``).
        diverged: bool scalar.
        diverged_at: int scalar, first step flagged as divergent (``-1`` if none).
        state: final :class:`MomentState` when ``return_state=True``, else ``None``.
    """

    steps: RecordedSteps
    loss: Recorded
    loss_at_gradient_point: Recorded
    diverged: Flag
    diverged_at: Int[jax.Array, ""]
    state: Optional[MomentState] = None


# ----------------------------------------------------------------------------- recording
# ----------------------------------------------------------------------------- reductions
def pairwise_sum(x: Float[Array, "*B n"], block: int = _BLOCK) -> Float[Array, "*B"]:
    """Blocked pairwise sum over the last axis (error ~ eps * block * log_block(N)).

    Used for the global sums ``G_t = sum_k lambda_k g_k`` and ``L_t`` of Algorithm A
    (theory §3.3-§3.4), so float32 runs stay accurate at large ``N``.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.full(10**6, 0.1, dtype=jnp.float32)
        >>> abs(float(pairwise_sum(x)) - 1e5) < 0.05     # a naive float32 loop is off by ~1e3
        True
    """
    while x.shape[-1] > block:
        r = (-x.shape[-1]) % block
        if r:
            x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, r)])
        x = x.reshape(x.shape[:-1] + (-1, block)).sum(-1)
    return x.sum(-1)


# ----------------------------------------------------------------------------- step kernels
def pairs(K):
    """Row-major upper-triangle index pairs ``(i, j)``, ``i <= j``, of a ``K x K`` block."""
    return [(i, j) for i in range(K) for j in range(i, K)]


def _global_sum(x, axis_name=None):
    """Pairwise sum over the eigenvalue axis, plus a cross-device ``psum`` when sharded."""
    total = pairwise_sum(x)
    return total if axis_name is None else jax.lax.psum(total, axis_name)


def _observe(C, lam, w, has_shift, dense, axis_name=None):
    """``(L_t, L~_t)`` of a state: ``1/2 sum lambda C_11`` and ``1/2 sum lambda wbar^T C wbar``."""
    if dense:
        g, c11 = jnp.einsum("i,nij,j->n", w, C, w), C[:, 0, 0]
    else:
        K = w.shape[0]
        c11 = C[(0, 0)]
        g = _quad(C, w, K) if has_shift else c11
    L = 0.5 * _global_sum(lam * c11, axis_name)
    Lg = 0.5 * _global_sum(lam * g, axis_name) if (has_shift or dense) else L
    return L, Lg


def _quad(C, w, K):
    """``g_k = wbar^T C^(k) wbar`` from the unique entries."""
    return sum((w[i] * w[j] * (1.0 if i == j else 2.0)) * C[(i, j)] for i, j in pairs(K))


def _unrolled_update(C, G, lam, m, S0, v, w, inv_b, tau, has_shift, noisy):
    """One step (boxed equation of §3.3) on the unique entries ``C[(i, j)]`` (i <= j), ``(N,)``.

    ``G`` is the global scalar ``G_t`` of the current state, carried from the previous step so
    that the reduction for ``G_{t+1}`` fuses into the same pass over the eigenvalues.
    """
    K = v.shape[0]
    get = lambda i, j: C[(i, j)] if i <= j else C[(j, i)]  # noqa: E731
    if has_shift:
        S = [[S0[i, j] + lam * (v[i] * w[j]) for j in range(K)] for i in range(K)]
    else:
        S = [[S0[i, j] + (lam * v[i] if j == 0 else 0.0) for j in range(K)] for i in range(K)]
    T = [[sum(S[i][k] * get(k, l) for k in range(K)) for l in range(K)] for i in range(K)]
    if noisy:
        g = _quad(C, w, K) if has_shift else C[(0, 0)]
        # lambda/b ((tau1 G + sigma2) m - tau2 lambda g), grouped so that the loop-invariant
        # per-eigenvalue factors are formed once, outside the time loop
        lm = lam * m
        noise = (G * ((inv_b * tau[0]) * lm) + (inv_b * tau[2]) * lm
                 - ((inv_b * tau[1]) * (lam * lam)) * g)
    new = {}
    for i, j in pairs(K):
        val = sum(T[i][l] * S[j][l] for l in range(K))
        if noisy:
            val = val + noise * (v[i] * v[j])
        new[(i, j)] = val
    return new


def _dense_update(C, G, lam, m, S0, v, w, inv_b, tau, has_shift, noisy):
    """One step on the dense blocks ``C`` of shape ``(N, K, K)``."""
    S = S0 + lam[:, None, None] * (v[:, None] * w[None, :])
    new = jnp.einsum("nik,nkl,njl->nij", S, C, S)
    if noisy:
        g = jnp.einsum("i,nij,j->n", w, C, w)
        noise = lam * inv_b * ((tau[0] * G + tau[2]) * m - tau[1] * lam * g)
        new = new + noise[:, None, None] * (v[:, None] * v[None, :])
    return new


def _pack(C, K, dense):
    """Carry layout -> stored layout (a ``(K(K+1)/2, N)`` stack on the unrolled path)."""
    return C if dense else jnp.stack(C)


def _unpack(entries, K, dense):
    """Stored layout -> carry layout (a tuple of ``(N,)`` arrays on the unrolled path).

    Inside the scan the unique entries travel as separate arrays: stacking them every step
    would cost a copy of the whole state per step.
    """
    return entries if dense else tuple(entries[i] for i in range(len(pairs(K))))


def _as_dict(C, K, dense):
    return C if dense else dict(zip(pairs(K), C))


def _as_tuple(C, K, dense):
    return C if dense else tuple(C[p] for p in pairs(K))


@functools.partial(
    jax.jit,
    static_argnames=(
        "steps", "n_rec", "dense", "has_shift", "noisy", "stationary", "return_state", "unroll",
        "axis_name",
    ),
)
def run_scan(
    lam, m, alg, inv_b, tau, rec, entries0, t0, threshold, *,
    steps, n_rec, dense, has_shift, noisy, stationary, return_state, unroll, axis_name=None,
):
    """The jitted scan of Algorithm A on the arguments built by :func:`prepare`.

    Returns ``(loss, loss_at_gradient_point, diverged, diverged_at, state)``; ``axis_name``
    adds a ``psum`` to the global sums when the eigenvalue axis is sharded.
    """
    K = alg.memory + 1
    dtype = lam.dtype
    parts = alg.transition_parts()  # stationary: (K,K),(K,),(K,); schedule: leading T axis
    update = _dense_update if dense else _unrolled_update
    if stationary:
        w_next = None
    else:  # read-out vector of the next step (the last one is reused for the final state)
        w_next = jnp.concatenate([parts[2][1:], parts[2][-1:]], axis=0)

    def record(buf, ptr, div_at, t, obs):
        L, Lg = obs
        bad = ~(jnp.isfinite(L) & jnp.isfinite(Lg)) | (jnp.maximum(L, Lg) > threshold)
        div_at = jnp.where((div_at < 0) & bad, t, div_at)
        hit = rec[ptr] == t
        idx = jnp.where(hit, ptr, n_rec)
        buf = tuple(b.at[idx].set(x) for b, x in zip(buf, obs))
        return buf, ptr + hit.astype(ptr.dtype), div_at

    def body(carry, xs):
        C, obs, buf, ptr, div_at, t = carry
        if stationary:
            (S0, v, w), wn = parts, parts[2]
        else:
            (S0, v, w), wn = xs[0], xs[2]
        ib = xs[1] if inv_b.ndim else inv_b
        buf, ptr, div_at = record(buf, ptr, div_at, t, obs)
        Cd = _as_dict(C, K, dense)
        new = update(Cd, 2.0 * obs[1], lam, m, S0, v, w, ib, tau, has_shift, noisy)
        obs = _observe(new, lam, wn, has_shift, dense, axis_name)
        return (_as_tuple(new, K, dense), obs, buf, ptr, div_at, t + 1), None

    buf0 = (jnp.zeros(n_rec + 1, dtype), jnp.zeros(n_rec + 1, dtype))
    C0 = _unpack(entries0, K, dense)
    w0 = parts[2] if stationary else parts[2][0]
    obs0 = _observe(_as_dict(C0, K, dense), lam, w0, has_shift, dense, axis_name)
    carry0 = (C0, obs0, buf0, jnp.int32(0), jnp.int32(-1), t0)
    xs = (None if stationary else parts, inv_b if inv_b.ndim else None, w_next)
    (C, obs, buf, ptr, div_at, t), _ = jax.lax.scan(
        body, carry0, xs, length=steps, unroll=min(unroll, steps)
    )
    buf, ptr, div_at = record(buf, ptr, div_at, t, obs)  # the final step
    loss, lossg = buf[0][:n_rec], buf[1][:n_rec]
    diverged = div_at >= 0
    after = diverged & (rec[:n_rec] > div_at)
    loss = jnp.where(after | ~jnp.isfinite(loss), jnp.inf, loss)
    lossg = jnp.where(after | ~jnp.isfinite(lossg), jnp.inf, lossg)
    state = MomentState(t, _pack(C, K, dense)) if return_state else None
    return loss, lossg, diverged, div_at, state


# ----------------------------------------------------------------------------- public API
def initial_state(
    spectrum: Spectrum, memory: int, dense: Optional[bool] = None, shards: int = 1
) -> MomentState:
    """``C^(k)_0 = c_k^2 E_11`` (``u_0 = 0``) in the layout used by :func:`simulate`.

    ``shards``: number of devices the eigenvalue axis is split over (padding granularity).

    Example:
        >>> import jaxaccel as ja
        >>> st = initial_state(ja.power_law_spectrum(10, nu=1.5, zeta=0.5), memory=1)
        >>> int(st.t), len(st.entries)       # the 3 unique entries C11, C12, C22 of memory 1
        (0, 3)
    """
    lam, _, c2 = padded(spectrum, shards)
    K = memory + 1
    dense = K > _UNROLL_MAX_K if dense is None else dense
    if dense:
        entries = jnp.zeros((lam.shape[0], K, K), lam.dtype).at[:, 0, 0].set(c2)
    else:
        entries = jnp.zeros((K * (K + 1) // 2, lam.shape[0]), lam.dtype).at[0].set(c2)
    return MomentState(jnp.int32(0), entries)


def padded(spectrum: Spectrum, shards: int = 1):
    """Eigenvalues, weights and c2 padded with inert zero nodes (``lambda = c2 = m = 0``).

    The length becomes a multiple of the reduction block (for ``N`` above one block) times the
    number of ``shards``; zero nodes never move and add nothing to any sum.
    """
    lam, m, c2 = spectrum.eigenvalues, spectrum.weights, spectrum.c2
    n = lam.shape[-1]
    r = (-n) % ((_BLOCK if n > _BLOCK else 1) * shards)
    if r:
        pad = lambda x: jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, r)])  # noqa: E731
        lam, m, c2 = pad(lam), pad(m), pad(c2)
    return lam, m, c2


#: default factor of the sustained-growth rule (:func:`sustained_growth`)
GROWTH_FACTOR = 100.0


def sustained_growth(rec, loss, factor=GROWTH_FACTOR):
    """Slow blow-ups that stay below the absolute threshold: the first recorded step from
    which ``L_t`` stays above ``factor`` times its running minimum up to the last recorded
    step (``-1`` if none). Transient bumps (the loss rises, then falls back below ``factor``
    times the minimum) are not flagged. Traceable (vmap, jit).
    """
    rec = jnp.asarray(rec)
    finite = jnp.where(jnp.isfinite(loss), loss, jnp.inf)
    runmin = jax.lax.cummin(finite, axis=0)
    above = finite > factor * runmin
    # suffix "all": above from this recorded step to the end
    stays = jnp.flip(jnp.cumprod(jnp.flip(above.astype(jnp.int32)))) > 0
    onset = jnp.argmax(stays)
    return jnp.where(stays[onset] & (rec.shape[0] > 1), rec[onset], -1).astype(jnp.int32)


def make_result(rec, loss, lossg, diverged, div_at, final, stacklevel=3,
                growth_factor=GROWTH_FACTOR):
    """:class:`SimulationResult` of a kernel's outputs, with the sustained-growth rule applied
    to the recorded loss (``growth_factor=None`` switches it off); warns when the run diverged.
    A run flagged only by that rule keeps its (finite) recorded losses."""
    if growth_factor is not None:
        grew = sustained_growth(rec, loss, growth_factor)
        flag = ~diverged & (grew >= 0)
        div_at = jnp.where(flag, grew, div_at).astype(jnp.int32)
        diverged = diverged | flag
    else:
        flag = jnp.zeros((), bool)
    if V.is_concrete(diverged) and bool(diverged):
        why = (f" (sustained growth: the loss stays above {growth_factor:g} x its running "
               "minimum from there on)" if bool(flag) else "")
        warnings.warn(
            f"simulate: the run diverged at step {int(div_at)}{why}", RuntimeWarning,
            stacklevel=stacklevel
        )
    return SimulationResult(jnp.asarray(rec), loss, lossg, diverged, div_at, final)


def prepare(
    spectrum, algorithm, steps, batch_size, tau, record, dtype, divergence_threshold,
    initial, return_state, dense, unroll, shards: int = 1,
):
    """Validate the arguments of :func:`simulate`; return ``(args, static kwargs, record steps)``
    for the kernel :func:`run_scan` (``batch_size`` may be a :class:`~jaxaccel.NoiseModel`)."""
    check_spectrum(spectrum)
    check_algorithm(algorithm, finite=False)
    steps = V.check_positive_int(steps, "steps")
    if dtype is not None:
        if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        spectrum = spectrum.astype(dtype)
    dtype = spectrum.dtype
    alg = check_algorithm(algorithm.astype(dtype))
    K = alg.memory + 1
    dense = K > _UNROLL_MAX_K if dense is None else bool(dense)
    if initial is None:
        state = initial_state(spectrum, alg.memory, dense, shards)
        start = 0
    else:
        if not isinstance(initial, MomentState):
            raise ValueError("initial must be a MomentState (from return_state=True)")
        state = initial
        start = int(initial.t) if V.is_concrete(initial.t) else 0
        ref = initial_state(spectrum, alg.memory, dense, shards).entries
        if initial.entries.shape != ref.shape:
            raise ValueError(
                f"initial.entries has shape {initial.entries.shape}, expected {ref.shape} "
                "(same spectrum, memory and layout)"
            )
    if not alg.is_stationary:
        if alg.num_steps < start + steps:
            raise ValueError(
                f"algorithm schedule has {alg.num_steps} steps, need >= {start + steps}"
            )
        alg = alg.map_leaves(lambda x: x[start : start + steps])
    noise = as_noise_model(batch_size, tau, schedule=True)
    inv_b, noisy = noise.inverse_batch(dtype, steps), not noise.is_full_batch
    tau_arr = noise.coefficients(dtype)  # (tau1, tau2, sigma2)
    if not (np.isfinite(divergence_threshold) and divergence_threshold > 0):
        raise ValueError("divergence_threshold must be finite and > 0")
    rec = record_steps(record, steps, start)
    n_rec = rec.shape[0]
    rec_arr = jnp.asarray(np.append(rec, -1), dtype=jnp.int32)
    if alg.zero_shift:
        has_shift = False
    else:
        has_shift = (not V.is_concrete(alg.a)) or bool(np.any(np.asarray(alg.a) != 0))
    lam, m, _ = padded(spectrum, shards)
    L0 = spectrum.initial_loss
    threshold = divergence_threshold * jnp.maximum(L0, jnp.finfo(dtype).tiny)
    args = (lam, m, alg, inv_b, tau_arr, rec_arr, state.entries.astype(dtype),
            jnp.int32(start), threshold)
    static = dict(
        steps=steps, n_rec=n_rec, dense=dense, has_shift=has_shift, noisy=noisy,
        stationary=alg.is_stationary, return_state=bool(return_state),
        unroll=V.check_positive_int(unroll, "unroll"),
    )
    return args, static, rec
