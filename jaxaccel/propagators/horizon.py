"""Long horizons for slowly varying schedules: piecewise-frozen parameters on a geometric grid.

Theory: ``docs/theory/sgd_memory.md`` §3.4 and §4. Per eigenvalue the SE recursion is linear,

.. math::  c_{t+1} = A_t c_t + \\beta_t G_t,\\qquad
           G_t = \\textstyle\\sum_k \\lambda_k \\langle \\bar w_t\\bar w_t^T, c^{(k)}_t\\rangle,

with ``A_t`` the map (16) on the unique entries (it carries the ``tau2`` term) and
``beta_t = (tau1 / b) lambda m vec(v v^T)``. The first ``direct_steps`` steps are stepped exactly
(:func:`jaxaccel.simulate`). After that, time is cut into pieces ``[a, a + n)`` whose lengths
grow geometrically (``n ~ (ratio - 1) a``; every recorded step is a piece boundary). On a piece
the parameters are frozen at the piece's midpoint and the global scalar is taken linear,
``G_{a+s} = g_0 + g_1 s`` with ``g_0 = G_a`` exact; then, exactly for that model,

.. math::  c_{a+n} = A^n c_a + Q_0\\beta\\,g_0 + Q_1\\beta\\,g_1,\\qquad
           Q_0 = \\textstyle\\sum_{j<n} A^j,\\quad Q_1 = \\sum_{j<n}(n-1-j)A^j,

and ``g_1`` follows from consistency at the end of the piece, ``g_0 + g_1 n = G_{a+n}`` (one
linear equation). ``A^n, Q_0, Q_1`` are computed by binary doubling (``O(log n)`` products of
``P x P`` matrices per eigenvalue and piece). The work is ``O(N P^3 log T)`` per piece and
``O(log T / log ratio)`` pieces: no ``O(N T)`` stepping.

Errors come from freezing the parameters over a piece and from the linear model of ``G``; both
shrink with ``ratio - 1`` and grow with how fast the schedule varies. A schedule whose
parameters change by more than ``max_variation`` (relative) across a piece is refused with a
``ValueError``. The tolerances measured against the exact scan are stated in
:func:`jaxaccel.loss_curve` (``method="piecewise"``) and tested in ``tests/test_horizon.py``.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.algorithms.polynomials import effective_learning_rate
from jaxaccel.moments.engine import SimulationResult, make_result, padded
from jaxaccel.moments.simulate import simulate
from jaxaccel.noise import as_noise_model, reject_label_noise
from jaxaccel.propagators.operator import packet_vectors, shifted_matrix
from jaxaccel.record import record_steps
from jaxaccel.spectra.spectrum import check_spectrum

__all__ = ["piece_grid", "MAX_RECORDED"]

#: most recorded steps of a piecewise run (each one ends a piece)
MAX_RECORDED = 100_000


def piece_grid(start: int, steps: int, ratio: float, record: np.ndarray) -> np.ndarray:
    """Piece boundaries from ``start`` to ``steps``: geometric with ``ratio``, plus every
    recorded step after ``start``.

    Example:
        >>> piece_grid(10, 40, 1.5, np.array([0, 25, 40])).tolist()
        [10, 15, 23, 25, 35, 40]
    """
    edges = [start]
    while edges[-1] < steps:
        edges.append(min(steps, max(edges[-1] + 1, int(np.ceil(edges[-1] * ratio)))))
    return np.union1d(edges, record[record > start]).astype(np.int64)


def _power_sums(A, n, nbits):
    """``(A^n, Q0, Q1)`` with ``Q0 = sum_{j<n} A^j``, ``Q1 = sum_{j<n} (n-1-j) A^j``, by binary
    doubling from the most significant bit of ``n``:

    ``Q0(2k) = Q0 + A^k Q0``, ``Q1(2k) = Q1 + k Q0 + A^k Q1`` and
    ``Q0(k+1) = Q0 + A^k``, ``Q1(k+1) = Q1 + Q0`` (the blocks of the ``n``-th power of
    ``[[A, I, 0], [0, I, I], [0, 0, I]]``, at a third of the cost).
    """
    P = A.shape[-1]
    I = jnp.eye(P, dtype=A.dtype)
    Z = jnp.zeros_like(A)

    def body(i, carry):
        An, Q0, Q1, k = carry
        Q1 = Q1 + k.astype(A.dtype) * Q0 + An @ Q1  # double: k -> 2k
        Q0 = Q0 + An @ Q0
        An = An @ An
        k = 2 * k
        bit = (n >> (nbits - 1 - i)) & 1
        Q1 = jnp.where(bit == 1, Q1 + Q0, Q1)  # one more step: k -> k + 1
        Q0 = jnp.where(bit == 1, Q0 + An, Q0)
        An = jnp.where(bit == 1, A @ An, An)
        return An, Q0, Q1, k + bit

    An, Q0, Q1, _ = jax.lax.fori_loop(0, nbits, body, (I, Z, Z, jnp.zeros((), n.dtype)))
    return An, Q0, Q1


@functools.partial(jax.jit, static_argnames=("nbits",))
def _piece(lam, m, c, S0, v, w, eps, nb1, n, *, nbits):
    """The state after a piece of ``n`` steps with frozen ``(S0, v, w)`` (``w`` also reads out
    ``G``), with ``G`` linear over the piece and consistent at its end."""
    B = jax.vmap(lambda l: shifted_matrix(l, S0, v, w, eps))(lam)  # I - A per node
    A = jnp.eye(B.shape[-1], dtype=B.dtype) - B
    An, Q0, Q1 = jax.vmap(lambda a: _power_sums(a, n, nbits))(A)
    _, vv, _, lw = packet_vectors(v, w)
    beta = (nb1 * lam * m)[:, None] * vv[None, :]  # (N, P)
    g0 = jnp.sum(lam * (c @ lw))
    base = jnp.einsum("kij,kj->ki", An, c) + g0 * jnp.einsum("kij,kj->ki", Q0, beta)
    slope = jnp.einsum("kij,kj->ki", Q1, beta)
    alpha_end = jnp.sum(lam * (base @ lw))
    gamma = jnp.sum(lam * (slope @ lw))
    g1 = (alpha_end - g0) / (n - gamma)
    return base + g1 * slope


@jax.jit
def _readout(lam, c, w):
    """``G = sum_k lambda_k wbar^T C_k wbar`` of the state ``c`` (``(N, P)`` unique entries)."""
    return jnp.sum(lam * (c @ packet_vectors(w, w)[3]))


@functools.partial(jax.jit, static_argnames=("nbits",))
def _all_pieces(lam, m, c, S0s, vs, ws, w_read, eps, nb1, ns, *, nbits):
    """All pieces in one scan: ``(L, L~)`` at the end of each piece (``w_read``: the read-out
    vector of the step ending it; ``eps = tau2/b``, ``nb1 = tau1/b`` per piece)."""

    def body(c, xs):
        S0, v, w, wr, e, nb, n = xs
        c = _piece(lam, m, c, S0, v, w, e, nb, n, nbits=nbits)
        return c, (0.5 * jnp.sum(lam * c[:, 0]), 0.5 * _readout(lam, c, wr))

    _, (L, Lg) = jax.lax.scan(body, c, (S0s, vs, ws, w_read, eps, nb1, ns))
    return L, Lg


def _algorithms(schedule, t):
    alg = schedule(jnp.asarray(t, jnp.float64))
    if not isinstance(alg, MemoryAlgorithm) or alg.num_steps != len(t):
        raise ValueError("algorithm must be a callable t -> MemoryAlgorithm whose result has "
                         "the leading axis of t (method='piecewise')")
    return alg


def _variation(schedule, edges):
    """Largest relative change of the parameters (and of alpha_eff) inside each piece, from the
    piece's first two, middle and last two steps."""
    a, b = edges[:-1], edges[1:]
    samples = np.stack([a, np.minimum(a + 1, b - 1), (a + b - 1) // 2, np.maximum(b - 2, a),
                        b - 1], axis=1).astype(np.float64)
    alg = _algorithms(schedule, samples.reshape(-1))
    worst = np.zeros(len(a))
    for x in alg.params + (effective_learning_rate(alg),):
        x = np.asarray(x, np.float64).reshape((len(a), 5, -1))
        span = x.max(axis=1) - x.min(axis=1)
        scale = np.maximum(np.abs(x).max(axis=1), 1e-12)
        worst = np.maximum(worst, (span / scale).max(axis=-1))
    # a step-to-step change extrapolated over the piece (catches oscillating schedules)
    step = np.abs(np.asarray(effective_learning_rate(alg)).reshape(len(a), 5))
    d1 = np.abs(step[:, 1] - step[:, 0]) / np.maximum(step[:, :2].max(axis=1), 1e-12)
    return np.maximum(worst, d1 * (b - a - 1))


def _batches(batch_fn, t):
    """``b_t`` of a callable batch schedule, checked (positive, finite, one per step)."""
    b = np.asarray(batch_fn(np.asarray(t, np.float64)), np.float64)
    if b.shape != np.shape(t) or not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ValueError("batch_size must be a callable t -> b_t returning one positive finite "
                         "batch size per step (method='piecewise')")
    return b


def _batch_variation(batch_fn, edges):
    a, b = edges[:-1], edges[1:]
    inv = 1.0 / _batches(batch_fn, np.stack([a, (a + b - 1) // 2, b - 1], axis=1).reshape(-1))
    inv = inv.reshape(len(a), 3)
    return (inv.max(axis=1) - inv.min(axis=1)) / inv.max(axis=1)


def loss_curve_piecewise(spectrum, schedule: Callable, steps: int,
                       batch_size=None, tau=None, record="log", *, direct_steps: int = 1000,
                       ratio: float = 1.01, max_variation: float = 0.05,
                       divergence_threshold: float = 1e10, dtype=None,
                       kernel: str = "auto") -> SimulationResult:
    """The loss of a slowly varying schedule at the recorded steps (see the module docstring).

    ``schedule`` maps an array of steps ``t`` to a :class:`MemoryAlgorithm` with that leading
    axis (e.g. ``AM1Schedule.algorithm``). Called by :func:`jaxaccel.loss_curve` with
    ``method="piecewise"``, which documents the arguments.
    """
    check_spectrum(spectrum)
    if not callable(schedule) or isinstance(schedule, MemoryAlgorithm):
        raise ValueError("algorithm must be a callable t -> MemoryAlgorithm for "
                         "method='piecewise'")
    steps = V.check_positive_int(steps, "steps")
    direct_steps = V.check_positive_int(direct_steps, "direct_steps")
    if not (np.isfinite(ratio) and 1.0 < ratio <= 2.0):
        raise ValueError(f"ratio must lie in (1, 2], got {ratio!r}")
    if not (np.isfinite(max_variation) and max_variation > 0):
        raise ValueError(f"max_variation must be finite and > 0, got {max_variation!r}")
    batch_fn = batch_size if callable(batch_size) else None
    noise = as_noise_model(None if batch_fn else batch_size, tau)
    reject_label_noise(noise, "loss_curve(method='piecewise')")
    rec = record_steps(record, steps)
    if rec.size > MAX_RECORDED:
        raise ValueError(f"record gives {rec.size} steps: method='piecewise' records at most "
                         f"{MAX_RECORDED} (every recorded step ends a piece; use record='log')")
    t_dir = min(direct_steps, steps)
    direct_alg = _algorithms(schedule, np.arange(t_dir))
    head_rec = np.union1d(rec[rec <= t_dir], [t_dir])
    if batch_fn is not None:
        noise = as_noise_model(_batches(batch_fn, np.arange(t_dir)), noise.tau(), schedule=True)
    # the growth rule is judged once, on the whole curve (make_result below)
    head = simulate(spectrum, direct_alg, t_dir, noise, record=head_rec, return_state=True,
                    dense=False, divergence_threshold=divergence_threshold,
                    divergence_growth=None, dtype=dtype, kernel=kernel)
    loss = np.full(rec.shape, np.nan)
    lossg = np.full(rec.shape, np.nan)
    in_head = np.isin(head_rec, rec)
    loss[:int(in_head.sum())] = np.asarray(head.loss)[in_head]
    lossg[:int(in_head.sum())] = np.asarray(head.loss_at_gradient_point)[in_head]
    div_at = int(head.diverged_at)
    if steps > t_dir and div_at < 0:
        edges = piece_grid(t_dir, steps, ratio, rec)
        var = _variation(schedule, edges)
        if batch_fn is not None:
            var = np.maximum(var, _batch_variation(batch_fn, edges))
        if var.max() > max_variation:
            k = int(np.argmax(var > max_variation))
            raise ValueError(
                f"the schedule varies too fast for method='piecewise': its parameters change by "
                f"{var[k]:.3g} (relative) over the piece [{edges[k]}, {edges[k + 1]}) "
                f"(max_variation={max_variation}); use a smaller ratio, more direct_steps, or "
                "method='direct'")
        lam, m, _ = padded(spectrum)
        c = jnp.asarray(head.state.entries).T  # (N, P)
        dtype = c.dtype
        mids = _algorithms(schedule, 0.5 * (edges[:-1] + edges[1:] - 1)).astype(dtype)
        reads = _algorithms(schedule, np.minimum(edges[1:], steps - 1)).astype(dtype)
        S0s, vs, ws = mids.transition_parts()
        t12 = noise.tau(dtype)
        mid_t = 0.5 * (edges[:-1] + edges[1:] - 1)
        inv_b = (1.0 / jnp.asarray(_batches(batch_fn, mid_t), dtype) if batch_fn is not None
                 else jnp.broadcast_to(noise.inverse_batch(dtype), mid_t.shape))
        ns = jnp.asarray(np.diff(edges), jnp.int64)
        L, Lg = _all_pieces(lam, m, c, S0s, vs, ws, reads.transition_parts()[2],
                            t12[1] * inv_b, t12[0] * inv_b, ns,
                            nbits=int(np.max(np.diff(edges))).bit_length())
        L, Lg = np.asarray(L), np.asarray(Lg)
        thr = divergence_threshold * max(float(spectrum.initial_loss), np.finfo(np.float64).tiny)
        bad = ~(np.isfinite(L) & np.isfinite(Lg)) | (np.maximum(L, Lg) > thr)
        if bad.any():
            div_at = int(edges[1:][np.argmax(bad)])
        pos = np.searchsorted(edges[1:], rec[rec > t_dir])
        loss[rec > t_dir] = L[pos]
        lossg[rec > t_dir] = Lg[pos]
    after = (rec > div_at) if div_at >= 0 else np.zeros(rec.shape, bool)
    loss = np.where(after | ~np.isfinite(loss), np.inf, loss)
    lossg = np.where(after | ~np.isfinite(lossg), np.inf, lossg)
    return make_result(rec, jnp.asarray(loss), jnp.asarray(lossg), jnp.asarray(div_at >= 0),
                       jnp.asarray(div_at, jnp.int32), None)
