"""Monte-Carlo mini-batch SGD driven by optax transforms: the independent reference for SE.

Theory: ``docs/theory/sgd_memory.md`` §1 (mini-batch sampling), §3.1-§3.2 (second moments, SE
noise model and the finite-dataset batch factor), §9.1. The data models are in
:mod:`jaxaccel.reference.data`.

A linear model is trained on a *data model* by actual mini-batch SGD: at each step a batch
``x_1..x_b`` is drawn, the optimizer (any optax transform, e.g. from :mod:`jaxaccel.algorithms.optim`, or a
:class:`~jaxaccel.algorithms.MemoryAlgorithm`) receives the batch gradient at its stored
parameters,

.. math::  \\nabla L_B(y) = H_B (y - w^*),\\qquad H_B = \\frac1b\\sum_{i=1}^b x_i x_i^T,

and the exact population losses :math:`L(w_t) = \\tfrac12 (w_t-w^*)^T H (w_t-w^*)` and
:math:`\\tilde L_t = L(y_t)` at the gradient point ``y_t`` are averaged over independent seeds
(``vmap`` over a chunk of seeds, ``lax.scan`` over chunks, running sums). Every data model is
expressed in coordinates where ``H = diag(variances)``, and the parameters are the error
``w - w^*`` (targets are noiseless, so only the error matters).

:func:`predict_se` runs :func:`jaxaccel.simulate` with the data model's spectrum, batch factor
and ``tau``, so a Monte-Carlo curve and its SE prediction are compared in two lines.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp
import optax

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Scalar
from jaxaccel.algorithms import optim
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.moments.engine import SimulationResult
from jaxaccel.moments.simulate import simulate
from jaxaccel.record import RecordSpec, record_steps
from jaxaccel.reference.data import FiniteData, FourierData, GaussianData, gaussian_data
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum


class MonteCarloResult(NamedTuple):
    """Mean and standard error over seeds of the loss at the recorded steps.

    Attributes:
        steps: ``(R,)`` recorded steps.
        loss: ``(R,)`` mean of ``L(w_t)``; ``+inf`` at steps where some seed had diverged.
        loss_sem: ``(R,)`` standard error of that mean.
        loss_at_gradient_point: ``(R,)`` mean of ``L(y_t)``, ``y_t = w_t + a_t^T u_t``.
        loss_at_gradient_point_sem: ``(R,)`` its standard error.
        n_seeds: number of independent runs averaged.
        diverged: ``True`` when at least one run diverged (non-finite loss, or a loss above
            ``divergence_threshold * L_0``).
        n_diverged: number of diverged runs.
        diverged_at: the first recorded step at which some run was flagged as diverged
            (``-1`` if none); from there on ``loss`` is ``+inf``.
    """

    steps: jax.Array
    loss: jax.Array
    loss_sem: jax.Array
    loss_at_gradient_point: jax.Array
    loss_at_gradient_point_sem: jax.Array
    n_seeds: int
    diverged: bool = False
    n_diverged: int = 0
    diverged_at: int = -1


_NEVER = np.iinfo(np.int32).max  # "no divergence yet" for the running minimum of flagged steps


def _has_memory_state(state) -> bool:
    return any(
        isinstance(s, optim.MemoryState)
        for s in jax.tree_util.tree_leaves(state, is_leaf=lambda x: isinstance(x, optim.MemoryState))
    )


def _mean_sem(s1, s2, n):
    """Mean and standard error of the mean from the running sums of ``n`` runs (``inf`` error
    where the mean is not finite)."""
    mean = s1 / n
    var = jnp.maximum(s2 / n - mean**2, 0.0) * n / max(n - 1, 1)
    return mean, jnp.where(jnp.isfinite(mean), jnp.sqrt(var / n), jnp.inf)


def _path(key, data, e0, rec, threshold, alg, tx, batch_size, noise_sd=None):
    """One stochastic trajectory: the recorded ``(L_t, L~_t)``, a divergence flag and the first
    flagged recorded step (``_NEVER`` if none).

    The steps between consecutive recorded steps run in a ``fori_loop`` (its bounds are the
    same for every seed, so it stays a loop under ``vmap``); losses are evaluated only at the
    recorded steps.
    """
    tx = optim.from_algorithm(alg) if tx is None else tx
    lam = data.variances
    lam_b = lam.reshape(lam.shape + (1,) * (e0.ndim - 1))
    st0 = tx.init(e0)
    with_memory = _has_memory_state(st0)

    def observe(y, st, bad):
        w = optim.weights_from_state(y, st) if with_memory else y
        L, Lg = 0.5 * jnp.sum(lam_b * w * w), 0.5 * jnp.sum(lam_b * y * y)
        bad = bad | ~(jnp.isfinite(L) & jnp.isfinite(Lg)) | (jnp.maximum(L, Lg) > threshold)
        inf = jnp.asarray(jnp.inf, L.dtype)
        return jnp.where(bad, inf, L), jnp.where(bad, inf, Lg), bad

    def step(t, carry):
        y, st = carry
        kt = jax.random.fold_in(key, t)
        x = data.sample(kt, batch_size)
        r = x @ y
        if noise_sd is not None:  # label noise: residual x^T (w - w*) - eps (theory §3.5)
            r = r - noise_sd * jax.random.normal(jax.random.fold_in(kt, 1), r.shape, r.dtype)
        g = x.T @ r / batch_size
        upd, st = tx.update(g, st, y)
        return optax.apply_updates(y, upd), st

    def segment(carry, t_next):
        y, st, t_prev, bad, bad_at = carry
        y, st = jax.lax.fori_loop(t_prev, t_next, step, (y, st))
        L, Lg, now_bad = observe(y, st, bad)
        bad_at = jnp.where(now_bad & ~bad, t_next, bad_at)
        return (y, st, t_next, now_bad, bad_at), jnp.stack([L, Lg])

    carry0 = (e0, st0, jnp.int32(0), jnp.zeros((), bool), jnp.int32(_NEVER))
    (_, _, _, bad, bad_at), vals = jax.lax.scan(segment, carry0, rec)
    return vals, bad, bad_at


@functools.partial(jax.jit, static_argnames=("tx", "batch_size", "chunk", "n_chunks"))
def _mc(key, data, e0, rec, threshold, alg, noise_sd, *, tx, batch_size, chunk, n_chunks):
    path = functools.partial(
        _path, data=data, e0=e0, rec=rec, threshold=threshold, alg=alg, tx=tx,
        batch_size=batch_size, noise_sd=noise_sd,
    )

    def one_chunk(acc, i):
        keys = jax.random.split(jax.random.fold_in(key, i), chunk)
        vals, bad, bad_at = jax.vmap(lambda k: path(k))(keys)  # (chunk, R, 2), (chunk,), (chunk,)
        return (acc[0] + vals.sum(0), acc[1] + (vals * vals).sum(0),
                acc[2] + bad.sum(dtype=jnp.int32), jnp.minimum(acc[3], bad_at.min())), None

    zero = jnp.zeros((rec.shape[0], 2), e0.dtype)
    acc0 = (zero, zero, jnp.int32(0), jnp.int32(_NEVER))
    (s1, s2, nbad, first), _ = jax.lax.scan(one_chunk, acc0, jnp.arange(n_chunks))
    return s1, s2, nbad, first


def monte_carlo_sgd(
    data: Union[GaussianData, FourierData, FiniteData],
    optimizer: Union[optax.GradientTransformation, MemoryAlgorithm],
    initial_error: Union[Float[ArrayLike, "d"], Float[ArrayLike, "d outputs"]],
    steps: int,
    batch_size: int,
    n_seeds: int = 1000,
    *,
    key: Optional[Array] = None,
    record: RecordSpec = "all",
    chunk: int = 256,
    divergence_threshold: float = 1e10,
    label_noise: Scalar = 0.0,
) -> MonteCarloResult:
    """Mini-batch SGD on a data model, averaged over independent seeds (theory §1, §9.1).

    Each run starts from ``y_0 = w_0 - w^* = initial_error`` (data coordinates), draws a fresh
    batch of ``b`` samples per step, hands the batch gradient
    :math:`H_B (y_t - w^*)` to ``optimizer`` and records the exact population losses
    :math:`L(w_t)` (``w_t`` recovered with :func:`jaxaccel.optim.weights_from_state` when the
    optimizer carries a :class:`~jaxaccel.optim.MemoryState`) and :math:`L(y_t)`. Seeds are
    ``vmap``-ed in chunks; the mean and standard error of the mean are returned.

    Args:
        data: :class:`GaussianData`, :class:`FourierData` or :class:`FiniteData`.
        optimizer: an optax ``GradientTransformation`` (e.g. from :mod:`jaxaccel.algorithms.optim`) or a
            :class:`~jaxaccel.algorithms.MemoryAlgorithm` (converted with
            :func:`jaxaccel.optim.from_algorithm`; compiled once per structure).
        initial_error: ``(d,)`` or ``(d, outputs)`` in the data coordinates.
        steps: number of SGD steps ``T``.
        batch_size: positive int ``b`` (``<= N`` for a finite dataset without replacement).
        n_seeds: number of runs (rounded up to a multiple of ``chunk``).
        key: PRNG key (default ``PRNGKey(0)``).
        record: as in :func:`jaxaccel.simulate`.
        chunk: runs simulated at once (memory ``~ chunk * d * (M + 1 + b)``).
        divergence_threshold: a run is flagged as diverged when a loss at a recorded step is
            non-finite or exceeds ``divergence_threshold * L_0``; its later losses count as
            ``+inf`` (losses are only evaluated at the recorded steps).
        label_noise: variance ``sigma2 >= 0`` of independent Gaussian label noise added to
            every sample's label (theory §3.5); the recorded losses stay the excess risk.

    Returns:
        :class:`MonteCarloResult`.

    Example (``optim.heavy_ball(0.3, 0.5)`` in place of the algorithm gives the same numbers;
    a :class:`~jaxaccel.algorithms.MemoryAlgorithm` is a traced argument, so runs with other
    hyperparameters of the same structure reuse the compilation):
        >>> import jaxaccel as ja
        >>> from jaxaccel import reference as mc
        >>> data = mc.gaussian_data([1.0, 0.5, 0.25, 0.125])
        >>> r = mc.monte_carlo_sgd(data, ja.heavy_ball(0.3, 0.5), [1.0, 1.0, 1.0, 1.0],
        ...                        steps=20, batch_size=2, n_seeds=64)
        >>> r.loss.shape, bool(r.loss[-1] < r.loss[0]), bool(r.diverged), r.diverged_at
        ((21,), True, False, -1)
    """
    if not isinstance(data, (GaussianData, FourierData, FiniteData)):
        raise ValueError(f"data must be a GaussianData, FourierData or FiniteData, got "
                         f"{type(data).__name__}")
    steps = V.check_positive_int(steps, "steps")
    batch_size = V.check_positive_int(batch_size, "batch_size")
    data.check_batch_size(batch_size)
    n_seeds = V.check_positive_int(n_seeds, "n_seeds")
    chunk = min(V.check_positive_int(chunk, "chunk"), n_seeds)
    n_chunks = -(-n_seeds // chunk)
    lam = data.variances
    e0 = V.as_float_array(initial_error, "initial_error", lam.dtype)
    if e0.ndim not in (1, 2) or e0.shape[0] != lam.shape[0]:
        raise ValueError(
            f"initial_error must have shape ({lam.shape[0]},) or ({lam.shape[0]}, outputs), "
            f"got {e0.shape}"
        )
    V.check_finite(e0, "initial_error")
    if not (np.isfinite(divergence_threshold) and divergence_threshold > 0):
        raise ValueError("divergence_threshold must be finite and > 0")
    if isinstance(optimizer, MemoryAlgorithm):
        V.check_positive(optimizer.alpha, "optimizer.alpha (learning rate)", strict=False)
        alg, tx = optimizer.astype(lam.dtype).truncate(steps), None
    elif isinstance(optimizer, optax.GradientTransformation):
        alg, tx = None, optimizer
        st = optimizer.init(e0)
        if _has_memory_state(st):  # structure check up front, with a clear message
            optim.weights_from_state(e0, st)
    else:
        raise ValueError(f"optimizer must be an optax GradientTransformation or a MemoryAlgorithm, "
                         f"got {type(optimizer).__name__}")
    label_noise = V.variance(label_noise, "label_noise")
    noise_sd = None if label_noise == 0 else jnp.asarray(np.sqrt(label_noise), lam.dtype)
    rec = record_steps(record, steps)
    rec_arr = jnp.asarray(rec, dtype=jnp.int32)
    key = jax.random.PRNGKey(0) if key is None else key
    L0 = 0.5 * float(jnp.sum(lam.reshape(lam.shape + (1,) * (e0.ndim - 1)) * e0 * e0))
    threshold = jnp.asarray(divergence_threshold * max(L0, np.finfo(np.float64).tiny), lam.dtype)
    s1, s2, nbad, first = _mc(
        key, data, e0, rec_arr, threshold, alg, noise_sd,
        tx=tx, batch_size=batch_size, chunk=chunk, n_chunks=n_chunks,
    )
    n = chunk * n_chunks
    mean, sem = _mean_sem(s1, s2, n)
    nbad = int(nbad)
    first = int(first) if nbad > 0 else -1
    return MonteCarloResult(jnp.asarray(rec), mean[:, 0], sem[:, 0], mean[:, 1], sem[:, 1], n,
                            nbad > 0, nbad, first)


def predict_se(
    data: Union[GaussianData, FourierData, FiniteData],
    algorithm: MemoryAlgorithm,
    initial_error: Union[Float[ArrayLike, "d"], Float[ArrayLike, "d outputs"]],
    steps: int,
    batch_size: int,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    record: RecordSpec = "all",
    **kwargs: Any,
) -> SimulationResult:
    """SE prediction (Algorithm A, theory §3.4: :func:`jaxaccel.simulate`) for a Monte-Carlo set-up.

    Uses the data model's spectrum (``variances``, ``c2 = initial_error**2``), its batch factor
    (``1/b``, or ``(N - b)/((N - 1) b)`` without replacement, passed as
    ``batch_size = 1 / factor``) and its exact ``tau`` unless ``tau`` is given.

    Args:
        data: a data model of this module.
        algorithm: :class:`~jaxaccel.algorithms.MemoryAlgorithm`.
        initial_error: ``(d,)`` or ``(d, outputs)``.
        steps: number of steps.
        batch_size: ``b``.
        tau: ``(tau1, tau2)``; required for :class:`FiniteData` (no exact value in general).
        record: as in :func:`jaxaccel.simulate`.
        **kwargs: passed on to :func:`jaxaccel.simulate`.

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel import reference as mc
        >>> r = mc.predict_se(mc.gaussian_data([1.0, 0.5]), ja.gd(0.5), [1.0, 1.0], 10, 2)
        >>> float(r.loss[0])
        0.75
    """
    if not isinstance(data, (GaussianData, FourierData, FiniteData)):
        raise ValueError(f"data must be a GaussianData, FourierData or FiniteData, got "
                         f"{type(data).__name__}")
    batch_size = V.check_positive_int(batch_size, "batch_size")
    data.check_batch_size(batch_size)
    if tau is None:
        if data.tau is None:
            raise ValueError("tau must be given for a FiniteData model (SE is not exact in general)")
        tau = data.tau
    factor = float(data.batch_factor(batch_size))
    inverse = None if factor == 0.0 else 1.0 / factor
    return simulate(data.spectrum(initial_error), algorithm, steps, batch_size=inverse, tau=tau,
                    record=record, **kwargs)


def gaussian_sgd(
    spectrum: Spectrum,
    algorithm: MemoryAlgorithm,
    steps: int,
    batch_size: int,
    n_seeds: int = 1000,
    *,
    key: Optional[Array] = None,
    record: RecordSpec = "all",
    chunk: int = 256,
    label_noise: Scalar = 0.0,
) -> MonteCarloResult:
    """Mini-batch SGD with memory on Gaussian data ``x ~ N(0, diag(lambda))``, averaged over seeds.

    The Monte-Carlo reference of theory §9.1 for SE with ``tau = (1, -1)`` (exact for Gaussian
    data, §3.2).

    The initial error is ``w_0 - w* = sqrt(c2)`` coordinate-wise (signs do not matter for
    Gaussian data) and ``u_0 = 0``; the algorithm runs as the optax transform
    :func:`jaxaccel.optim.from_algorithm`. Shorthand for :func:`monte_carlo_sgd` with
    :func:`gaussian_data`.

    Args:
        spectrum: problem with unit weights (each node one coordinate), ``N`` up to a few hundred.
        algorithm: stationary or scheduled :class:`MemoryAlgorithm`.
        steps: number of SGD steps.
        batch_size: positive int ``b``.
        n_seeds: number of independent runs (rounded up to a multiple of ``chunk``).
        key: ``jax.random.PRNGKey`` (default ``PRNGKey(0)``).
        record: as in :func:`jaxaccel.simulate`.
        chunk: seeds simulated at once (memory ``chunk * N * (M + 1)``).
        label_noise: label-noise variance ``sigma2`` (theory §3.5; SE stays exact: compare with
            ``simulate(spectrum, algorithm, steps, NoiseModel(b, 1, -1, sigma2))``).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(4, nu=1.5, zeta=0.5)
        >>> mc = ja.gaussian_sgd(s, ja.heavy_ball(0.3, 0.5), steps=20, batch_size=2, n_seeds=64)
        >>> mc.loss.shape
        (21,)
    """
    check_spectrum(spectrum)
    check_algorithm(algorithm, finite=False)
    if V.is_concrete(spectrum.weights) and not np.all(np.asarray(spectrum.weights) == 1):
        raise ValueError("spectrum.weights must all be 1 for Monte Carlo (one node per coordinate)")
    return monte_carlo_sgd(
        gaussian_data(spectrum.eigenvalues), algorithm, jnp.sqrt(spectrum.c2), steps, batch_size,
        n_seeds, key=key, record=record, chunk=chunk, label_noise=label_noise,
    )
