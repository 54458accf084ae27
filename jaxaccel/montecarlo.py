"""Monte-Carlo mini-batch SGD with memory: the independent reference for the SE dynamics.

Runs the actual stochastic iteration (3) with ``grad L_B(w) = H_B (w - w*)``,
``H_B = (1/b) sum_i x_i x_i^T`` (spec §1, mini-batch sampling) on finite-dimensional data whose
covariance is ``diag(lambda)``, in the eigenbasis, and averages the exact population losses

.. math::  L(w_t) = \\tfrac12\\sum_k \\lambda_k (w_t - w^*)_k^2,\\qquad
           \\tilde L_t = \\tfrac12\\sum_k \\lambda_k (w_t + a^T u_t - w^*)_k^2

over independent seeds (``vmap`` over a chunk of seeds, ``lax.scan`` over chunks, running sums
so that memory does not grow with the number of seeds). For Gaussian data ``x ~ N(0, H)`` the
SE approximation with ``tau = (1, -1)`` is exact, so the mean loss must match
:func:`jaxaccel.simulate` within Monte-Carlo error.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel.algorithms import MemoryAlgorithm
from jaxaccel.moments import record_steps
from jaxaccel.spectra import Spectrum


class MonteCarloResult(NamedTuple):
    """Mean and standard error over seeds of the loss at the recorded steps."""

    steps: jax.Array
    loss: jax.Array
    loss_sem: jax.Array
    loss_at_gradient_point: jax.Array
    loss_at_gradient_point_sem: jax.Array
    n_seeds: int


def _sgd_path(key, lam, e0, alg, batch_size, rec, steps, stationary):
    """One stochastic trajectory; returns the recorded ``(L_t, L~_t)``."""
    d = lam.shape[0]
    M = alg.memory
    sqrt_lam = jnp.sqrt(lam)
    n_rec = rec.shape[0] - 1

    def losses(e, u, a):
        p = e + (a @ u if M else 0.0)
        return 0.5 * jnp.sum(lam * e * e), 0.5 * jnp.sum(lam * p * p), p

    def body(carry, xs):
        e, u, buf, ptr, t = carry
        prm = alg if stationary else MemoryAlgorithm.tree_unflatten(None, xs)
        L, Lg, p = losses(e, u, prm.a)
        hit = rec[ptr] == t
        idx = jnp.where(hit, ptr, n_rec)
        buf = buf.at[idx].set(jnp.stack([L, Lg]))
        ptr = ptr + hit.astype(ptr.dtype)
        x = jax.random.normal(jax.random.fold_in(key, t), (batch_size, d), lam.dtype) * sqrt_lam
        g = x.T @ (x @ p) / batch_size
        e_new = e - prm.alpha * g + (prm.b @ u if M else 0.0)
        u_new = prm.c[:, None] * g[None, :] + prm.D @ u
        return (e_new, u_new, buf, ptr, t + 1), None

    u0 = jnp.zeros((M, d), lam.dtype)
    buf0 = jnp.zeros((n_rec + 1, 2), lam.dtype)
    xs = None if stationary else alg.tree_flatten()[0]
    (e, u, buf, ptr, t), _ = jax.lax.scan(
        body, (e0, u0, buf0, jnp.int32(0), jnp.int32(0)), xs, length=steps
    )
    last = alg if stationary else alg.at(steps - 1)
    L, Lg, _ = losses(e, u, last.a)
    buf = buf.at[jnp.where(rec[ptr] == t, ptr, n_rec)].set(jnp.stack([L, Lg]))
    return buf[:n_rec]


@functools.partial(jax.jit, static_argnames=("batch_size", "steps", "chunk", "n_chunks", "stationary"))
def _mc(key, lam, e0, alg, rec, *, batch_size, steps, chunk, n_chunks, stationary):
    path = functools.partial(
        _sgd_path, lam=lam, e0=e0, alg=alg, batch_size=batch_size, rec=rec, steps=steps,
        stationary=stationary,
    )

    def one_chunk(acc, i):
        keys = jax.random.split(jax.random.fold_in(key, i), chunk)
        vals = jax.vmap(lambda k: path(k))(keys)  # (chunk, R, 2)
        return (acc[0] + vals.sum(0), acc[1] + (vals * vals).sum(0)), None

    n_rec = rec.shape[0] - 1
    zero = jnp.zeros((n_rec, 2), lam.dtype)
    (s1, s2), _ = jax.lax.scan(one_chunk, (zero, zero), jnp.arange(n_chunks))
    return s1, s2


def gaussian_sgd(
    spectrum: Spectrum,
    algorithm: MemoryAlgorithm,
    steps: int,
    batch_size: int,
    n_seeds: int = 1000,
    *,
    key=None,
    record="all",
    chunk: int = 256,
) -> MonteCarloResult:
    """Mini-batch SGD with memory on Gaussian data ``x ~ N(0, diag(lambda))``, averaged over seeds.

    The initial error is ``w_0 - w* = sqrt(c2)`` coordinate-wise (signs do not matter for
    Gaussian data) and ``u_0 = 0``. Returns the mean and the standard error of the mean of
    ``L(w_t)`` and ``L(w_t + a^T u_t)``.

    Args:
        spectrum: problem with unit weights (each node one coordinate), ``N`` up to a few hundred.
        algorithm: stationary or scheduled :class:`MemoryAlgorithm`.
        steps: number of SGD steps.
        batch_size: positive int ``b``.
        n_seeds: number of independent runs (rounded up to a multiple of ``chunk``).
        key: ``jax.random.PRNGKey`` (default ``PRNGKey(0)``).
        record: as in :func:`jaxaccel.simulate`.
        chunk: seeds simulated at once (memory ``chunk * N * (M + 1)``).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(4, nu=1.5, zeta=0.5)
        >>> mc = ja.gaussian_sgd(s, ja.heavy_ball(0.3, 0.5), steps=10, batch_size=2, n_seeds=256)
        >>> mc.loss.shape
        (11,)
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"algorithm must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    if V.is_concrete(spectrum.weights) and not np.all(np.asarray(spectrum.weights) == 1):
        raise ValueError("spectrum.weights must all be 1 for Monte Carlo (one node per coordinate)")
    steps = V.check_positive_int(steps, "steps")
    batch_size = V.check_positive_int(batch_size, "batch_size")
    n_seeds = V.check_positive_int(n_seeds, "n_seeds")
    chunk = min(V.check_positive_int(chunk, "chunk"), n_seeds)
    n_chunks = -(-n_seeds // chunk)
    alg = algorithm.astype(spectrum.dtype).truncate(steps)
    rec = record_steps(record, steps)
    rec_arr = jnp.asarray(np.append(rec, -1), dtype=jnp.int32)
    key = jax.random.PRNGKey(0) if key is None else key
    lam = spectrum.eigenvalues
    s1, s2 = _mc(
        key, lam, jnp.sqrt(spectrum.c2), alg, rec_arr,
        batch_size=batch_size, steps=steps, chunk=chunk, n_chunks=n_chunks,
        stationary=alg.is_stationary,
    )
    n = chunk * n_chunks
    mean = s1 / n
    var = jnp.maximum(s2 / n - mean**2, 0.0) * n / max(n - 1, 1)
    sem = jnp.sqrt(var / n)
    return MonteCarloResult(jnp.asarray(rec), mean[:, 0], sem[:, 0], mean[:, 1], sem[:, 1], n)
