"""Monitors along a schedule: the running noise sum, the adiabatic loss, the applied rate.

Theory: ``docs/theory/sgd_memory.md`` §7.2 and §8.3. Along a schedule the *momentary* noise sum
:math:`U_\\Sigma(t)` (the stationary sum of §5.3 evaluated at the step-``t`` parameters)
monitors noisy stability: a run is predicted to start diverging at the first step where it
reaches 1 (:func:`running_noise_sum`). :func:`adiabatic_loss` is the adiabatic prediction (249)
of the loss along a schedule; :func:`applied_learning_rate` (derived, first order in
``lambda``) is the cumulative learning rate that a memory algorithm has actually applied, which
lags ``sum_{s<t} alpha_eff,s`` while the momentum buffer still holds recent gradients and
explains most of the finite-horizon gap between the AM1 slopes and the rate (27).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Int, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.algorithms.polynomials import effective_learning_rate
from jaxaccel.noise import NoiseModel, as_noise_model
from jaxaccel.propagators.sums import heavy_ball_sums, memory1_sums, propagator_sums
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum


# ----------------------------------------------------------------------------- monitors
class RunningNoiseSum(NamedTuple):
    """Momentary noise sums along a schedule (theory §7.2 "practical monitor", §8.3).

    Attributes:
        steps: ``(R,)`` int, the schedule steps ``t`` evaluated.
        U: ``(R,)`` :math:`U_\\Sigma(t)`, the stationary sum (§5.3) at the step-``t``
            parameters and batch size (``+inf`` where those parameters are not strictly stable).
        U_tilde: ``(R,)`` :math:`\\tilde U_\\Sigma(t)` (equal to ``U`` when ``a = 0``).
        stable: ``(R,)`` bool, strict stability of the momentary map on every node.
        onset: int scalar, the first evaluated step with ``U_tilde >= 1`` or unstable
            parameters (the predicted divergence onset); ``-1`` if none.
    """

    steps: jax.Array
    U: jax.Array
    U_tilde: jax.Array
    stable: jax.Array
    onset: jax.Array


def _is_heavy_ball(alg: MemoryAlgorithm) -> bool:
    """``a = 0, b = D = beta, c = -alpha`` (memory 1), checked on concrete values."""
    if alg.memory != 1 or not all(V.is_concrete(x) for x in alg.params):
        return False
    al, a, b, c, D = (np.asarray(x) for x in alg.params)
    return bool(np.all(a == 0) and np.all(b[..., 0] == D[..., 0, 0]) and np.all(c[..., 0] == -al))


def _no_shift(alg: MemoryAlgorithm) -> bool:
    return V.is_concrete(alg.a) and bool(np.all(np.asarray(alg.a) == 0))


def running_noise_sum(
    spectrum: Spectrum,
    algorithm: MemoryAlgorithm,
    batch_size: Union[Scalar, Float[ArrayLike, "T"], NoiseModel],
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    steps: Optional[Int[ArrayLike, "R"]] = None,
    method: str = "auto",
    chunk: Optional[int] = None,
) -> RunningNoiseSum:
    """Momentary :math:`U_\\Sigma(t)` along a schedule and the predicted divergence onset.

    At each evaluated step ``t`` the stationary sums of theory §5.3 are computed for the
    step-``t`` parameters and batch size ``b_t``:

    .. math::  U_\\Sigma(t) = \\frac{\\tau_1}{b_t}\\sum_k\\lambda_k^2\\,
               \\langle E_{11},(I-\\mathcal A_{\\lambda_k,t})^{-1}(v_tv_t^T)\\rangle .

    Divergence is predicted from the first step where ``U~_Sigma(t) >= 1`` (§7.2, §8.3); for
    Jacobi Heavy Ball ``U_Sigma(t) >~ tau1 alpha_eff(t) sum_k lambda_k / (2 b)`` grows
    linearly, so the onset is proportional to ``b``.

    Evaluation uses :mod:`jaxaccel.propagators.sums`: ``heavy_ball_sums`` (any
    ``tau``) for Heavy-Ball-shaped parameters, ``memory1_sums`` (eq. 25) for memory-1 with
    ``a = 0`` when ``tau2 = 0``, else the general linear solve ``propagator_sums``. Steps are
    processed in chunks with ``lax.map``, so memory stays ``O(chunk * N)``.

    Args:
        spectrum: the problem, ``N`` nodes.
        algorithm: a schedule (:class:`~jaxaccel.algorithms.MemoryAlgorithm` with a time
            axis of length ``T``) or a stationary algorithm (then ``steps`` defaults to ``[0]``).
        batch_size: positive scalar or ``(T,)`` per-step batch sizes.
        tau: ``(tau1, tau2)`` of the SE noise model (``(1, -1)``: Gaussian data).
        steps: ``(R,)`` int steps in ``[0, T)`` to evaluate (default: all ``T``). On a
            sparse grid the onset is resolved only to the grid.
        method: ``"auto"``, ``"heavy_ball"``, ``"memory1"`` or ``"general"``.
        chunk: steps per ``lax.map`` batch (default ``~4e6 / N``).

    Returns:
        :class:`RunningNoiseSum`.

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel import jacobi_heavy_ball, running_noise_sum
        >>> s = ja.power_law_spectrum(1000, nu=2.0, zeta=0.5)
        >>> run = running_noise_sum(s, jacobi_heavy_ball(0.5, 0.0, 2.0, 600), batch_size=100)
        >>> 0 < int(run.onset) < 600, bool(run.U[int(run.onset) - 1] < 1 <= run.U[int(run.onset)])
        (True, True)
    """
    check_spectrum(spectrum)
    check_algorithm(algorithm, finite=False)
    if method not in ("auto", "heavy_ball", "memory1", "general"):
        raise ValueError(
            f"method must be 'auto', 'heavy_ball', 'memory1' or 'general', got {method!r}"
        )
    alg = algorithm.astype(spectrum.dtype)
    T = 1 if alg.is_stationary else alg.num_steps
    if alg.is_stationary:
        alg = MemoryAlgorithm.from_params([x[None] for x in alg.params])
    dtype = spectrum.dtype
    noise = as_noise_model(batch_size, tau, schedule=True, required=True)
    bs = noise.batch_size.astype(dtype)
    if bs.ndim == 1 and bs.shape[0] < T:
        raise ValueError(f"batch_size schedule has {bs.shape[0]} entries, need >= {T}")
    tau_arr = noise.tau(dtype)
    if steps is None:
        idx = np.arange(T)
    else:
        idx = np.asarray(steps)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError("steps must be a non-empty 1-D array of integers")
        if idx.min() < 0 or idx.max() >= T:
            raise ValueError(f"steps must lie in [0, {T - 1}], got [{idx.min()}, {idx.max()}]")
    if method == "auto":
        tau2_zero = V.is_concrete(tau_arr) and float(tau_arr[1]) == 0.0
        if _is_heavy_ball(alg):
            method = "heavy_ball"
        elif alg.memory == 1 and _no_shift(alg) and tau2_zero:
            method = "memory1"
        else:
            method = "general"
    if method in ("heavy_ball", "memory1") and alg.memory != 1:
        raise ValueError(f"method={method!r} needs a memory-1 algorithm, got M={alg.memory}")
    if method == "memory1" and V.is_concrete(tau_arr) and float(tau_arr[1]) != 0.0:
        raise ValueError("method='memory1' (closed form (25)) needs tau2 = 0")

    sel = jnp.asarray(idx)
    params = [x[sel] for x in alg.params]
    b_sel = bs[sel] if bs.ndim == 1 else jnp.broadcast_to(bs, sel.shape)

    if chunk is None:
        chunk = max(1, 4_000_000 // max(spectrum.size, 1))
    chunk = V.check_positive_int(chunk, "chunk")
    U, Ut, stable = _momentary_sums(spectrum, tuple(params), b_sel, tau_arr, method=method,
                                    batch=min(chunk, idx.size))
    stable = jnp.asarray(stable, bool)
    U = jnp.where(stable, U, jnp.inf)
    Ut = jnp.where(stable, Ut, jnp.inf)
    bad = (Ut >= 1) | ~stable
    onset = jnp.where(jnp.any(bad), sel[jnp.argmax(bad)], -1)
    return RunningNoiseSum(sel, U, Ut, stable, onset)


@functools.partial(jax.jit, static_argnames=("method", "batch"))
def _momentary_sums(spectrum, params, b_sel, tau_arr, *, method, batch):
    """``U, U~, stable`` of the step-``t`` parameters, one ``lax.map`` over the selected steps
    (jitted at module level so that repeated calls with equal shapes reuse the compilation)."""
    def one(xs):
        (alpha, a, b, c, D), bt = xs[:5], xs[5]
        if method == "heavy_ball":
            out = heavy_ball_sums(spectrum, alpha, D[0, 0], bt, tau_arr)
        elif method == "memory1":
            delta = 1.0 - D[0, 0]
            q1 = a[0] * c[0] - alpha
            q0 = alpha * D[0, 0] + b[0] * c[0] - a[0] * c[0]
            out = memory1_sums(spectrum, delta, q0, q1, bt, tau_arr[0])
        else:
            alg_t = MemoryAlgorithm.from_params([alpha, a, b, c, D])
            out = propagator_sums(spectrum, alg_t, bt, tau_arr)
        return out.U, out.U_tilde, out.stable

    return jax.lax.map(one, (*params, b_sel), batch_size=batch)


class AdiabaticPrediction(NamedTuple):
    """Adiabatic prediction of the loss along a schedule (theory §7.2, eq. 249).

    Attributes:
        steps: ``(R,)`` the steps ``t``.
        cumulative_lr: ``(R,)`` :math:`A_t=\\sum_{s<t}\\alpha_{{\\rm eff},s}`.
        V: ``(R,)`` the adiabatic signal sum :math:`\\sum_k\\lambda_kc_k^2e^{-2\\lambda_kA_t}`.
        V_power_law: ``(R,)`` its power-law form :math:`Q\\Gamma(\\zeta+1)(2A_t)^{-\\zeta}`
            (NaN when the spectrum carries no :class:`~jaxaccel.spectra.PowerLaw`).
        U: ``(R,)`` momentary :math:`U_\\Sigma(t)` (zeros for full batch).
        loss: ``(R,)`` :math:`V_t / (2(1-U_\\Sigma(t)))` (``+inf`` where ``U >= 1``).
        applied_lr: ``(R,)`` :math:`A^{\\rm app}_t`, the learning rate the memory has actually
            applied by step ``t`` (see :func:`applied_learning_rate`); ``<= A_t`` while the
            memory is still filling, ``A_t - O(1)`` for a stationary algorithm.
        V_applied: ``(R,)`` the signal sum (249) with :math:`A_t` replaced by
            :math:`A^{\\rm app}_t`: the adiabatic prediction corrected for the lag of the memory.
    """

    steps: jax.Array
    cumulative_lr: jax.Array
    V: jax.Array
    V_power_law: jax.Array
    U: jax.Array
    loss: jax.Array
    applied_lr: jax.Array
    V_applied: jax.Array


def applied_learning_rate(algorithm: MemoryAlgorithm,
                          steps: Int[ArrayLike, "R"]) -> Float[jax.Array, "R"]:
    """Cumulative learning rate actually applied by a memory algorithm, to first order in ``lambda``.

    For a mode ``lambda -> 0`` the gradient is ``g_s = lambda e_0 + O(lambda^2)``; the matrix
    form (3) (``w <- w - alpha_s g_s + b_s . u_s``, ``u <- D_s u_s + c_s g_s``) then gives
    ``u_s = lambda e_0 m_s + O(lambda^2)`` with ``m_{s+1} = D_s m_s + c_s``, ``m_0 = 0``, and

    .. math::  e_t = e_0\\big(1-\\lambda A^{\\rm app}_t\\big)+O(\\lambda^2),\\qquad
               A^{\\rm app}_t=\\sum_{s<t}\\big(\\alpha_s-b_s^Tm_s\\big)

    (derived here; the shift ``a`` enters only at order ``lambda^2``). Stationary, ``m_s`` tends
    to ``(1-D)^{-1}c`` and each term to ``alpha_eff`` (22); along a schedule whose memory
    horizon ``~1/delta_t`` grows (AM1, theory §7.2), ``A^app_t`` lags ``A_t = sum_{s<t}
    alpha_eff,s`` by the gradients still held in the buffer. Computed by one ``lax.scan``.

    Args:
        algorithm: a schedule (``T`` steps) or a stationary algorithm.
        steps: ``(R,)`` non-negative int steps (``<= T`` for a schedule).

    Returns:
        ``(R,)`` :math:`A^{\\rm app}_t`.

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel import applied_learning_rate
        >>> [round(float(x), 6) for x in applied_learning_rate(ja.heavy_ball(0.5, 0.5), [0, 1, 2])]
        [0.0, 0.5, 1.25]
    """
    check_algorithm(algorithm, finite=False)
    idx = _check_steps(steps)
    alg = algorithm
    if alg.is_stationary:
        n = int(idx.max())  # the scan runs max(steps) steps
        alg = alg.map_leaves(lambda x: jnp.broadcast_to(x, (max(n, 1),) + x.shape))
    elif idx.max() > alg.num_steps:
        raise ValueError(f"steps must lie in [0, {alg.num_steps}], got max {idx.max()}")
    return _applied_lr(alg, jnp.asarray(idx))


@jax.jit
def _applied_lr(alg: MemoryAlgorithm, idx):
    alpha, _, b, c, D = alg.params

    def step(m, xs):
        al, bb, cc, DD = xs
        inc = al - jnp.dot(bb, m)
        return DD @ m + cc, inc

    m0 = jnp.zeros(b.shape[-1], alpha.dtype)
    _, inc = jax.lax.scan(step, m0, (alpha, b, c, D))
    A = jnp.concatenate([jnp.zeros(1, alpha.dtype), jnp.cumsum(inc)])
    return A[idx]


def _check_steps(steps) -> np.ndarray:
    idx = np.asarray(steps)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("steps must be a non-empty 1-D array of integers")
    if idx.min() < 0:
        raise ValueError(f"steps must be >= 0, got min {idx.min()}")
    return idx


@functools.partial(jax.jit, static_argnames=("batch",))
def _signal_sums(lam, c2, A, *, batch):
    """:math:`\\sum_k\\lambda_kc_k^2e^{-2\\lambda_kA}` for each row ``(A_t, A^app_t)`` of ``A``."""
    return jax.lax.map(
        lambda a: (jnp.sum(lam * c2 * jnp.exp(-2.0 * lam * a[0])),
                   jnp.sum(lam * c2 * jnp.exp(-2.0 * lam * a[1]))),
        A, batch_size=batch,
    )


def adiabatic_loss(
    spectrum: Spectrum,
    algorithm: MemoryAlgorithm,
    steps: Int[ArrayLike, "R"],
    batch_size: Union[None, Scalar, Float[ArrayLike, "T"], NoiseModel] = None,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
) -> AdiabaticPrediction:
    """Adiabatic loss prediction (249) along a schedule, by analogy with the signal phase (20).

    .. math::
        V_t\\approx\\sum_k\\lambda_kc_k^2\\,e^{-2\\lambda_k\\sum_{s<t}\\alpha_{{\\rm eff},s}}
        \\approx Q\\,\\Gamma(\\zeta+1)\\Big(2\\sum_{s<t}\\alpha_{{\\rm eff},s}\\Big)^{-\\zeta},
        \\qquad L_t\\approx\\frac{V_t}{2(1-U_\\Sigma(t))}.

    For AM1, ``sum_{s<t} alpha_eff,s ~ alpha0 t^{1+theta}/(1+theta)`` and the rate is
    ``t^{-zeta(1+theta)}`` (27). The prediction assumes each mode relaxes at the momentary
    rate ``alpha_eff,t lambda``; it ignores the memory of the momentum buffer (``~1/delta_t``
    steps), so at finite horizons it differs from the simulated loss.

    Args:
        spectrum: the problem (``N`` nodes); ``V_power_law`` uses its ``power_law`` metadata.
        algorithm: schedule of length ``T`` or stationary algorithm (``alpha_eff`` from (22)).
        steps: ``(R,)`` int steps in ``[0, T]`` (any non-negative steps if stationary).
        batch_size: ``None`` (full batch: ``U = 0``) or as in :func:`running_noise_sum`.
        tau: ``(tau1, tau2)`` for the noise sum.

    Returns:
        :class:`AdiabaticPrediction`.

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel import adiabatic_loss
        >>> s = ja.power_law_spectrum(10**5, nu=2.0, zeta=0.5)
        >>> p = adiabatic_loss(s, ja.gd(1.0), [10**4])   # A_t = t
        >>> round(float(p.V[0] / p.V_power_law[0]), 2)
        1.0
    """
    check_spectrum(spectrum)
    check_algorithm(algorithm, finite=False)
    idx = _check_steps(steps)
    alg = algorithm.astype(spectrum.dtype)
    aeff = effective_learning_rate(alg)
    if alg.is_stationary:
        A = aeff * jnp.asarray(idx, spectrum.dtype)
    else:
        T = alg.num_steps
        if idx.max() > T:
            raise ValueError(f"steps must lie in [0, {T}], got max {idx.max()}")
        A = jnp.concatenate([jnp.zeros(1, aeff.dtype), jnp.cumsum(aeff)])[jnp.asarray(idx)]
    lam, c2 = spectrum.eigenvalues, spectrum.c2
    chunk = max(1, 4_000_000 // spectrum.size)
    A_app = applied_learning_rate(alg, idx)
    V_t, V_app = _signal_sums(lam, c2, jnp.stack([A, A_app], axis=-1), batch=min(chunk, idx.size))
    pl = spectrum.power_law
    if pl is None:
        V_pl = jnp.full_like(V_t, jnp.nan)
    else:
        V_pl = pl.Q * math.gamma(pl.zeta + 1.0) * (2.0 * A) ** (-pl.zeta)
    noise = as_noise_model(batch_size, tau, schedule=True)
    if noise.is_full_batch:
        U = jnp.zeros_like(V_t)
    else:
        last = 0 if alg.is_stationary else alg.num_steps - 1
        U = running_noise_sum(spectrum, algorithm, noise, steps=np.minimum(idx, last)).U_tilde
    loss = jnp.where(U < 1, V_t / (2.0 * (1.0 - U)), jnp.inf)
    return AdiabaticPrediction(jnp.asarray(idx), A, V_t, V_pl, U, loss, A_app, V_app)
