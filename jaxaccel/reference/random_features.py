"""Monte-Carlo SGD on actual sampled power-law random features (the independent reference of
theory §17.1).

Each step draws ``b`` data points ``x ~ N(0, diag(j^-2 alpha))`` in ``R^v``, labels
``y = <x, b*> + eps`` (``eps ~ N(0, sigma2)``), features ``z = W^T x`` with the sampled
embedding, and hands the mini-batch gradient ``(1/b) sum z (<z, theta> - y)`` of the risk
``1/2 E[(y - <z, theta>)^2]`` to the optimizer (an optax transform, or a MemoryAlgorithm run as
one). Recorded: the exact population excess risk ``1/2 (theta - theta*)^T K (theta - theta*)``
over the best model of the embedding, averaged over seeds. Nothing here uses the SE
approximation, so it checks :func:`jaxaccel.simulate` on
:func:`~jaxaccel.spectra.random_features.power_law_features` with label noise
``2 P_inf + sigma2``.
"""

from __future__ import annotations

import functools
from typing import Optional, Union

import numpy as np
import jax
import jax.numpy as jnp
import optax

from jaxaccel import _validation as V
from jaxaccel.algorithms import optim
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.record import RecordSpec, record_steps
from jaxaccel.reference.montecarlo import MonteCarloResult, _has_memory_state, _mean_sem
from jaxaccel.spectra.random_features import RandomFeatures

__all__ = ["random_features_sgd"]


@functools.partial(jax.jit, static_argnames=("tx", "batch_size", "chunk", "n_chunks", "with_memory"))
def _rf_mc(key, W, sqrtD, bstar, theta_star, K, rec, noise_sd, *, tx, batch_size, chunk,
           n_chunks, with_memory):
    v, d = W.shape

    def path(k):
        th0 = jnp.zeros(d, W.dtype)
        st0 = tx.init(th0)

        def step(t, carry):
            th, st = carry
            kt = jax.random.fold_in(k, t)
            x = jax.random.normal(kt, (batch_size, v), W.dtype) * sqrtD
            y = x @ bstar + noise_sd * jax.random.normal(jax.random.fold_in(kt, 1),
                                                         (batch_size,), W.dtype)
            z = x @ W
            g = z.T @ (z @ th - y) / batch_size
            upd, st = tx.update(g, st, th)
            return optax.apply_updates(th, upd), st

        def segment(carry, t_next):
            th, st, t_prev = carry
            th, st = jax.lax.fori_loop(t_prev, t_next, step, (th, st))
            w = optim.weights_from_state(th, st) if with_memory else th
            e = w - theta_star
            return (th, st, t_next), 0.5 * e @ (K @ e)

        _, vals = jax.lax.scan(segment, (th0, st0, jnp.int32(0)), rec)
        return vals

    def one_chunk(acc, i):
        keys = jax.random.split(jax.random.fold_in(key, i), chunk)
        vals = jax.vmap(path)(keys)
        return (acc[0] + vals.sum(0), acc[1] + (vals * vals).sum(0)), None

    z = jnp.zeros(rec.shape[0], W.dtype)
    (s1, s2), _ = jax.lax.scan(one_chunk, (z, z), jnp.arange(n_chunks))
    return s1, s2


def random_features_sgd(problem: RandomFeatures,
                        optimizer: Union[MemoryAlgorithm, optax.GradientTransformation],
                        steps: int, batch_size: int, n_seeds: int = 1000, *,
                        sigma2: float = 0.0, key: Optional[jax.Array] = None,
                        record: RecordSpec = "all", chunk: int = 128,
                        divergence_threshold: float = 1e10) -> MonteCarloResult:
    """Mini-batch SGD on the sampled features of ``problem`` (it must keep its embedding:
    ``power_law_features(..., keep_embedding=True)``), averaged over seeds; ``loss`` is the
    excess risk over ``theta*`` (add ``problem.irreducible + sigma2 / 2`` for the total risk).
    A mean that is not finite or exceeds ``divergence_threshold * L_0`` marks the run diverged
    (``diverged``, ``diverged_at``: the first such recorded step; ``loss`` is ``+inf`` from
    there; ``n_diverged`` is 1 then, as the runs are only seen through their mean).

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel.spectra.random_features import power_law_features
        >>> rf = power_law_features(1.0, 1.0, v=30, d=10, keep_embedding=True)
        >>> r = random_features_sgd(rf, ja.gd(0.3), 20, 2, n_seeds=64, record=[0, 20])
        >>> bool(r.loss[1] < r.loss[0])
        True
    """
    if not isinstance(problem, RandomFeatures):
        raise ValueError(f"problem must be RandomFeatures, got {type(problem).__name__}")
    if problem.embedding is None:
        raise ValueError("problem must keep its embedding (power_law_features(..., "
                         "keep_embedding=True))")
    steps = V.check_positive_int(steps, "steps")
    batch_size = V.check_positive_int(batch_size, "batch_size")
    n_seeds = V.check_positive_int(n_seeds, "n_seeds")
    chunk = min(V.check_positive_int(chunk, "chunk"), n_seeds)
    sigma2 = V.variance(sigma2, "sigma2")
    if not (np.isfinite(divergence_threshold) and divergence_threshold > 0):
        raise ValueError("divergence_threshold must be finite and > 0")
    if isinstance(optimizer, MemoryAlgorithm):
        tx = optim.from_algorithm(optimizer.truncate(steps))
    elif isinstance(optimizer, optax.GradientTransformation):
        tx = optimizer
    else:
        raise ValueError("optimizer must be a MemoryAlgorithm or an optax GradientTransformation")
    W = np.asarray(problem.embedding, np.float64)
    v, d = W.shape
    j = np.arange(1, v + 1, dtype=np.float64)
    D, bstar = j ** (-2.0 * problem.alpha), j ** (-problem.beta)
    K = W.T @ (D[:, None] * W)
    theta_star = np.linalg.lstsq(K, W.T @ (D * bstar), rcond=None)[0]
    with_memory = _has_memory_state(tx.init(jnp.zeros(d)))
    rec = jnp.asarray(record_steps(record, steps), jnp.int32)
    n_chunks = -(-n_seeds // chunk)
    key = jax.random.PRNGKey(0) if key is None else key
    s1, s2 = _rf_mc(key, jnp.asarray(W), jnp.asarray(np.sqrt(D)), jnp.asarray(bstar),
                    jnp.asarray(theta_star), jnp.asarray(K), rec,
                    jnp.asarray(np.sqrt(sigma2)), tx=tx, batch_size=batch_size,
                    chunk=chunk, n_chunks=n_chunks, with_memory=with_memory)
    n = chunk * n_chunks
    mean, sem = _mean_sem(s1, s2, n)
    # a blow-up is reported, not returned as a silent inf/NaN: from the first recorded step whose
    # mean is not finite or exceeds divergence_threshold * L_0, the loss is +inf
    L0 = max(float(problem.spectrum.initial_loss), np.finfo(np.float64).tiny)
    bad = np.asarray(~jnp.isfinite(mean) | (mean > divergence_threshold * L0))
    first = int(np.asarray(rec)[np.argmax(bad)]) if bad.any() else -1
    if first >= 0:
        mean = jnp.where(rec >= first, jnp.inf, mean)
        sem = jnp.where(rec >= first, jnp.inf, sem)
    nan = jnp.full_like(mean, jnp.nan)  # no gradient-point loss is recorded here
    return MonteCarloResult(rec, mean, sem, nan, nan, n, first >= 0, int(first >= 0), first)
