"""Accelerated parameter schedules: Jacobi Heavy Ball and AM1, with their noise monitors.

Spec: ``sgd_memory.md`` §7 (AM1, accelerated memory-1) and §8 (Jacobi-scheduled Heavy Ball).

Each schedule comes in two forms:

* plain callables ``t -> parameter`` (a :class:`JacobiSchedule` or :class:`AM1Schedule` of
  functions built from ``jax.numpy``), usable as optax schedules (``count -> value``);
* a non-stationary :class:`~jaxaccel.algorithms.MemoryAlgorithm` holding the parameters of
  steps ``t = 0 .. steps-1`` on a leading time axis, ready for :func:`jaxaccel.simulate`.

Hyper-parameters are traced values (``jax.vmap`` over ``theta`` or ``L`` works, ``steps`` is
static); they are validated eagerly when concrete.

Along a schedule the *momentary* noise sum :math:`U_\\Sigma(t)` (the stationary sum of spec §5.3
evaluated at the step-``t`` parameters, §7.2 and §8.3) monitors noisy stability: a run is
predicted to start diverging at the first step where it reaches 1
(:func:`running_noise_sum`). :func:`adiabatic_loss` is the adiabatic prediction (249) of the
loss along a schedule; :func:`applied_learning_rate` (derived, first order in ``lambda``) is the
cumulative learning rate that a memory algorithm has actually applied, which lags
``sum_{s<t} alpha_eff,s`` while the momentum buffer still holds recent gradients and explains
most of the finite-horizon gap between the AM1 slopes and the rate (27).

Floors: the two monitors evaluate :mod:`jaxaccel.propagators` sums (a higher floor), which are
imported lazily inside them.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Callable, NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Int, Scalar
from jaxaccel.algorithms import MemoryAlgorithm, am1_form, effective_learning_rate, heavy_ball
from jaxaccel.spectra import Spectrum

__all__ = [
    "JacobiSchedule",
    "jacobi_schedule",
    "jacobi_heavy_ball",
    "AM1Schedule",
    "am1_schedule",
    "am1",
    "AM1ExponentWarning",
    "am1_theta_max",
    "check_am1_exponents",
    "RunningNoiseSum",
    "running_noise_sum",
    "AdiabaticPrediction",
    "adiabatic_loss",
    "applied_learning_rate",
]


# ----------------------------------------------------------------------------- validation
def _scalar(x, name):
    """A float scalar (possibly traced), finite when concrete."""
    x = V.as_float_array(x, name)
    if x.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {x.shape}")
    V.check_finite(x, name)
    return x


def _require(x, name, ok, what):
    """Raise ``ValueError`` naming ``name`` when a concrete ``x`` fails ``ok``."""
    if V.is_concrete(x) and not bool(ok(np.asarray(x))):
        raise ValueError(f"{name} must be {what}, got {np.asarray(x)!r}")


# ----------------------------------------------------------------------------- Jacobi HB
class JacobiSchedule(NamedTuple):
    """Heavy Ball parameters of the Jacobi schedule as functions of the step ``t``.

    Attributes:
        alpha: ``t -> alpha_t`` (learning rate).
        beta: ``t -> beta_t`` (momentum).
    """

    alpha: Callable
    beta: Callable


def jacobi_schedule(a: Scalar, b: Scalar, L: Scalar) -> JacobiSchedule:
    """Jacobi Heavy-Ball schedule (Brakhage 1987) as callables ``t -> alpha_t, beta_t`` (§8.1).

    .. math::
        \\alpha_n=\\frac{(2n+a+b+1)(2n+a+b+2)}{L\\,(n+a+1)(n+a+b+1)},\\qquad
        \\beta_n=\\frac{n\\,(n+b)\\,(2n+a+b+2)}{(n+a+1)(n+a+b+1)(2n+a+b)},\\qquad n=t.

    **Index convention.** Step ``t = 0, 1, 2, ...`` of the Heavy Ball iteration
    ``w_{t+1} = w_t - alpha_t grad L(w_t) + beta_t (w_t - w_{t-1})`` (with ``w_{-1} = w_0``)
    uses ``n = t``. Then the residual polynomial after ``t`` steps is exactly the normalised
    Jacobi polynomial ``P_t^{(a,b)}(1 - 2 lambda / L) / P_t^{(a,b)}(1)``. At ``n = 0`` the
    removable singularity is resolved: ``alpha_0 = (a+b+2) / (L (a+1))`` and ``beta_0 = 0``.
    The 2023 companion repository (``schedules/jacobi.py``) evaluates its schedules at
    ``step = t + 1`` (i.e. ``n = t + 1``), one off from this exact indexing; that shift keeps
    the asymptotics but not the polynomial identity. Its learning rate ``lr`` corresponds to
    ``L = 2 / lr``.

    Asymptotically ``alpha_n -> 4/L``, ``1 - beta_n ~ (2a+1)/n`` and
    ``alpha_eff ~ 4n / ((2a+1) L)``.

    Args:
        a: Jacobi parameter ``a > -1`` (scalar). ``a = zeta`` gives the rate ``t^{-2 zeta}``.
        b: Jacobi parameter ``b > -1`` (scalar), usually 0.
        L: upper edge of the spectrum interval ``(0, L]``, ``L > 0``; take ``L >= lambda_max``.

    Returns:
        :class:`JacobiSchedule` of two functions accepting integer or float arrays of steps.

    Example:
        >>> from jaxaccel.schedules import jacobi_schedule
        >>> sch = jacobi_schedule(0.5, 0.0, 2.0)
        >>> float(sch.alpha(0)), float(sch.beta(0))   # (a+b+2)/(L(a+1)), 0
        (0.8333333333333334, 0.0)
    """
    a, b, L = _scalar(a, "a"), _scalar(b, "b"), _scalar(L, "L")
    _require(a, "a", lambda x: x > -1, "> -1 (Jacobi weight must be integrable)")
    _require(b, "b", lambda x: x > -1, "> -1 (Jacobi weight must be integrable)")
    _require(L, "L", lambda x: x > 0, "> 0")
    s = a + b

    def alpha(t):
        n = jnp.asarray(t, a.dtype)
        first = n == 0
        m = jnp.where(first, 1.0, n)  # keep the general branch finite at n = 0
        general = (2 * m + s + 1) * (2 * m + s + 2) / (L * (m + a + 1) * (m + s + 1))
        return jnp.where(first, (s + 2) / (L * (a + 1)), general)

    def beta(t):
        n = jnp.asarray(t, a.dtype)
        first = n == 0
        m = jnp.where(first, 1.0, n)
        general = m * (m + b) * (2 * m + s + 2) / ((m + a + 1) * (m + s + 1) * (2 * m + s))
        return jnp.where(first, jnp.zeros_like(general), general)

    return JacobiSchedule(alpha, beta)


def jacobi_heavy_ball(a: Scalar, b: Scalar, L: Scalar, steps: int) -> MemoryAlgorithm:
    """Heavy Ball with the Jacobi schedule for steps ``t = 0 .. steps-1`` (spec §8.1).

    The parameters are those of :func:`jacobi_schedule` (exact indexing ``n = t``; see there
    for the one-off convention of the 2023 companion repository). Noiseless, the loss is
    :math:`L_t = \\tfrac12\\sum_k\\lambda_k c_k^2\\,r_t(\\lambda_k)^2` with
    :math:`r_t(\\lambda) = P^{(a,b)}_t(1-2\\lambda/L)/P^{(a,b)}_t(1)`, decaying like
    :math:`t^{-\\min(2\\zeta, 2a+1)}` when ``L > lambda_max`` (§8.2). With mini-batch noise the
    momentary :math:`U_\\Sigma(t)` grows linearly in ``t`` and the run diverges (§8.3; see
    :func:`running_noise_sum`).

    Args:
        a, b: Jacobi parameters, ``> -1`` (scalars).
        L: spectrum edge, ``> 0`` (scalar).
        steps: schedule length ``T`` (positive int, static).

    Returns:
        A non-stationary memory-1 :class:`~jaxaccel.algorithms.MemoryAlgorithm` (``T`` steps).

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel.schedules import jacobi_heavy_ball
        >>> s = ja.power_law_spectrum(20_000, nu=2.0, zeta=0.5)
        >>> hb = jacobi_heavy_ball(0.5, 0.0, 2.0, steps=200)
        >>> r = ja.simulate(s, hb, 200, record=[50, 200])
        >>> round(float(r.loss[1] / r.loss[0]), 2)    # ~ 4^{-2 zeta} = 0.25
        0.25
    """
    steps = V.check_positive_int(steps, "steps")
    sch = jacobi_schedule(a, b, L)
    t = jnp.arange(steps)
    return heavy_ball(sch.alpha(t), sch.beta(t))


# ----------------------------------------------------------------------------- AM1
class AM1Schedule(NamedTuple):
    """AM1 parameters as functions of the step ``t`` (spec §7.1-7.2).

    Attributes:
        delta: ``t -> delta_t = 1 - beta_t``.
        alpha_eff: ``t -> alpha_eff,t`` (effective learning rate (22)).
        eta: ``t -> eta_t``, the momentum-buffer learning rate of form (250).
        eta_prime: ``t -> eta'`` (the constant kick).
        beta: ``t -> beta_t`` (momentum).
        q0: ``t -> q_{0,t} = beta_t eta'`` (memory-1 triplet).
    """

    delta: Callable
    alpha_eff: Callable
    eta: Callable
    eta_prime: Callable
    beta: Callable
    q0: Callable


def _am1_checks(delta0, kappa, alpha0, theta, eta_kick, t0):
    delta0, kappa, alpha0 = _scalar(delta0, "delta0"), _scalar(kappa, "kappa"), _scalar(alpha0, "alpha0")
    theta, eta_kick, t0 = _scalar(theta, "theta"), _scalar(eta_kick, "eta_kick"), _scalar(t0, "t0")
    _require(kappa, "kappa", lambda x: (x > 0) & (x < 1), "in the open interval (0, 1)")
    _require(delta0, "delta0", lambda x: x > 0, "> 0")
    _require(alpha0, "alpha0", lambda x: x > 0, "> 0 (a learning rate)")
    _require(eta_kick, "eta_kick", lambda x: x >= 0, ">= 0 (a learning rate)")
    _require(t0, "t0", lambda x: x > 0, "> 0")
    if V.is_concrete(delta0) and V.is_concrete(t0) and V.is_concrete(kappa):
        d_first = float(delta0) * float(t0) ** (-float(kappa))
        if not d_first < 2.0:
            raise ValueError(
                f"delta0 must give delta_0 = delta0 * t0^-kappa < 2 (strict stability needs "
                f"0 < delta < 2), got delta_0 = {d_first!r}"
            )
    return delta0, kappa, alpha0, theta, eta_kick, t0


def am1_schedule(delta0: Scalar, kappa: Scalar, alpha0: Scalar, theta: Scalar, eta_kick: Scalar,
                 t0: Scalar = 1.0) -> AM1Schedule:
    """AM1 power-law schedule (spec §7.2) as callables of the step ``t``.

    .. math::
        \\delta_t=\\delta_0(t+t_0)^{-\\kappa},\\quad
        \\alpha_{{\\rm eff},t}=\\alpha_0(t+t_0)^{\\vartheta},\\quad \\eta'_t=\\eta',\\quad
        \\beta_t = 1-\\delta_t,\\quad \\eta_t=\\delta_t(\\alpha_{{\\rm eff},t}-\\eta'),

    i.e. the triplet mapping of §7.1, ``eta' = q0 / (1 - delta)`` and
    ``eta = delta (alpha_eff - q0 / (1 - delta))``, with ``eta'`` held constant
    (``q_{0,t} = beta_t eta'``). The algorithm is the decoupled momentum (250):
    ``v <- beta_t v + g;  w <- w - eta_t v - eta' g``.

    Args:
        delta0: ``> 0``; with ``t0`` it must give ``delta_0 < 2``.
        kappa: decay exponent of ``delta_t``, in ``(0, 1)``.
        alpha0: ``> 0``, scale of the effective learning rate.
        theta: growth exponent of ``alpha_eff`` (``vartheta`` of the spec); the noisy
            stability range is ``0 <= theta <= kappa (1 - 1/nu)`` (see
            :func:`check_am1_exponents`).
        eta_kick: the constant kick ``eta' >= 0``.
        t0: time offset ``> 0`` (default 1).

    Returns:
        :class:`AM1Schedule` of functions of the step.

    Example:
        >>> from jaxaccel.schedules import am1_schedule
        >>> sch = am1_schedule(0.5, 0.9, 1.0, 0.4, 0.5, t0=1.0)
        >>> float(sch.delta(0)), float(sch.alpha_eff(0)), float(sch.eta(0))
        (0.5, 1.0, 0.25)
    """
    delta0, kappa, alpha0, theta, eta_kick, t0 = _am1_checks(
        delta0, kappa, alpha0, theta, eta_kick, t0
    )
    dtype = delta0.dtype

    def _x(t):
        return jnp.asarray(t, dtype) + t0

    def delta(t):
        return delta0 * _x(t) ** (-kappa)

    def alpha_eff(t):
        return alpha0 * _x(t) ** theta

    def eta_prime(t):
        return jnp.broadcast_to(eta_kick, jnp.shape(t)).astype(dtype)

    def beta(t):
        return 1.0 - delta(t)

    def eta(t):
        return delta(t) * (alpha_eff(t) - eta_kick)

    def q0(t):
        return beta(t) * eta_kick

    return AM1Schedule(delta, alpha_eff, eta, eta_prime, beta, q0)


def am1(delta0: Scalar, kappa: Scalar, alpha0: Scalar, theta: Scalar, eta_kick: Scalar, t0: Scalar,
        steps: int) -> MemoryAlgorithm:
    """AM1 (accelerated memory-1) for steps ``t = 0 .. steps-1`` (spec §7.2, form (250)).

    Parameters as in :func:`am1_schedule`; the matrix form comes from
    :func:`jaxaccel.algorithms.am1_form` (``alpha = eta + eta'``, ``b = -eta beta``, ``c = 1``,
    ``D = beta``, ``a = 0``), so its momentary effective learning rate (22) is
    ``alpha0 (t + t0)^theta``. The heuristic rate is
    :math:`L_t = O(t^{-\\zeta(1+\\vartheta)})` (27) inside the allowed range of ``theta``.

    Args:
        delta0, kappa, alpha0, theta, eta_kick, t0: scalars, see :func:`am1_schedule`.
        steps: schedule length ``T`` (positive int, static).

    Returns:
        A non-stationary memory-1 :class:`~jaxaccel.algorithms.MemoryAlgorithm`.

    Raises:
        ValueError: naming the argument, for ``kappa`` outside ``(0, 1)``, negative learning
            rates (``alpha0``, ``eta_kick``, or ``eta_t < 0`` because
            ``alpha_eff,t < eta_kick``), ``t0 <= 0``, ``delta_0 >= 2`` or ``steps <= 0``.

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel.schedules import am1
        >>> alg = am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0, steps=100)
        >>> alg.num_steps, round(float(ja.effective_learning_rate(alg)[99]), 10)   # 100^0.4
        (100, 6.3095734448)
    """
    steps = V.check_positive_int(steps, "steps")
    sch = am1_schedule(delta0, kappa, alpha0, theta, eta_kick, t0)
    t = jnp.arange(steps)
    eta = sch.eta(t)
    if V.is_concrete(eta) and np.any(np.asarray(eta) < 0):
        first = int(np.argmax(np.asarray(eta) < 0))
        raise ValueError(
            f"alpha0 too small: alpha_eff,t = alpha0 (t+t0)^theta must stay >= eta_kick so that "
            f"eta_t = delta_t (alpha_eff,t - eta_kick) >= 0 (negative learning rate at t={first})"
        )
    return am1_form(eta, sch.eta_prime(t), sch.beta(t))


class AM1ExponentWarning(UserWarning):
    """AM1 exponents outside the momentary-stationarity range ``0 <= theta <= kappa (1-1/nu)``."""


def am1_theta_max(kappa: float, nu: float) -> float:
    """Largest allowed AM1 exponent ``theta = kappa (1 - 1/nu)`` (Theorem 7.2 via §7.2).

    Example:
        >>> from jaxaccel.schedules import am1_theta_max
        >>> am1_theta_max(0.9, 2.0)
        0.45
    """
    kappa, nu = float(kappa), float(nu)
    if not (np.isfinite(kappa) and 0 < kappa < 1):
        raise ValueError(f"kappa must be in the open interval (0, 1), got {kappa!r}")
    if not (np.isfinite(nu) and nu > 1):
        raise ValueError(f"nu must be finite and > 1, got {nu!r}")
    return kappa * (1.0 - 1.0 / nu)


def check_am1_exponents(theta: float, kappa: float, nu: float, warn: bool = True) -> bool:
    """Check the AM1 exponents against momentary stationarity ``0 <= theta <= kappa (1-1/nu)``.

    Spec §7.2 (from Theorem 7.2: ``alpha_eff delta^{1 - 1/nu} = O(1)``, so ``U_Sigma(t)`` stays
    bounded along the schedule). Outside the range the momentary noise sum grows and the run is
    expected to diverge eventually under mini-batch noise.

    Args:
        theta: growth exponent of ``alpha_eff,t``.
        kappa: decay exponent of ``delta_t``, in ``(0, 1)``.
        nu: spectral exponent of the problem, ``> 1``.
        warn: emit an :class:`AM1ExponentWarning` when the check fails.

    Returns:
        ``True`` when ``theta`` lies in the allowed range.

    Example:
        >>> from jaxaccel.schedules import check_am1_exponents
        >>> check_am1_exponents(0.4, kappa=0.9, nu=2.0)
        True
        >>> check_am1_exponents(0.8, kappa=0.9, nu=2.0, warn=False)
        False
    """
    theta = float(theta)
    if not np.isfinite(theta):
        raise ValueError(f"theta must be finite, got {theta!r}")
    top = am1_theta_max(kappa, nu)
    ok = 0.0 <= theta <= top * (1 + 1e-12)
    if not ok and warn:
        warnings.warn(
            f"AM1 exponent theta={theta} is outside the allowed range "
            f"[0, kappa (1 - 1/nu)] = [0, {top:.6g}] (kappa={kappa}, nu={nu}): the momentary "
            "noise sum U_Sigma(t) grows along the schedule and mini-batch runs eventually diverge",
            AM1ExponentWarning,
            stacklevel=2,
        )
    return ok


# ----------------------------------------------------------------------------- monitors
class RunningNoiseSum(NamedTuple):
    """Momentary noise sums along a schedule (spec §7.2 "practical monitor", §8.3).

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
    if alg.memory != 1 or not all(V.is_concrete(x) for x in alg.tree_flatten()[0]):
        return False
    al, a, b, c, D = (np.asarray(x) for x in alg.tree_flatten()[0])
    return bool(np.all(a == 0) and np.all(b[..., 0] == D[..., 0, 0]) and np.all(c[..., 0] == -al))


def _no_shift(alg: MemoryAlgorithm) -> bool:
    return V.is_concrete(alg.a) and bool(np.all(np.asarray(alg.a) == 0))


def running_noise_sum(
    spectrum: Spectrum,
    algorithm: MemoryAlgorithm,
    batch_size: Union[Scalar, Float[ArrayLike, "T"]],
    tau: Tuple[Scalar, Scalar] = (1.0, -1.0),
    steps: Optional[Int[ArrayLike, "R"]] = None,
    method: str = "auto",
    chunk: Optional[int] = None,
) -> RunningNoiseSum:
    """Momentary :math:`U_\\Sigma(t)` along a schedule and the predicted divergence onset.

    At each evaluated step ``t`` the stationary sums of spec §5.3 are computed for the
    step-``t`` parameters and batch size ``b_t``:

    .. math::  U_\\Sigma(t) = \\frac{\\tau_1}{b_t}\\sum_k\\lambda_k^2\\,
               \\langle E_{11},(I-\\mathcal A_{\\lambda_k,t})^{-1}(v_tv_t^T)\\rangle .

    Divergence is predicted from the first step where ``U~_Sigma(t) >= 1`` (§7.2, §8.3); for
    Jacobi Heavy Ball ``U_Sigma(t) >~ tau1 alpha_eff(t) sum_k lambda_k / (2 b)`` grows
    linearly, so the onset is proportional to ``b``.

    Evaluation uses :mod:`jaxaccel.propagators` (imported lazily): ``heavy_ball_sums`` (any
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
        >>> from jaxaccel.schedules import jacobi_heavy_ball, running_noise_sum
        >>> s = ja.power_law_spectrum(1000, nu=2.0, zeta=0.5)
        >>> run = running_noise_sum(s, jacobi_heavy_ball(0.5, 0.0, 2.0, 600), batch_size=100)
        >>> 0 < int(run.onset) < 600, bool(run.U[int(run.onset) - 1] < 1 <= run.U[int(run.onset)])
        (True, True)
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"algorithm must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    if method not in ("auto", "heavy_ball", "memory1", "general"):
        raise ValueError(
            f"method must be 'auto', 'heavy_ball', 'memory1' or 'general', got {method!r}"
        )
    alg = algorithm.astype(spectrum.dtype)
    T = 1 if alg.is_stationary else alg.num_steps
    if alg.is_stationary:
        alg = MemoryAlgorithm.tree_unflatten(None, [x[None] for x in alg.tree_flatten()[0]])
    dtype = spectrum.dtype
    bs = V.as_float_array(batch_size, "batch_size", dtype)
    V.check_ndim(bs, "batch_size", (0, 1))
    V.check_finite(bs, "batch_size")
    V.check_positive(bs, "batch_size")
    if bs.ndim == 1 and bs.shape[0] < T:
        raise ValueError(f"batch_size schedule has {bs.shape[0]} entries, need >= {T}")
    tau_arr = V.as_float_array(tau, "tau", dtype)
    if tau_arr.shape != (2,):
        raise ValueError(f"tau must be a pair (tau1, tau2), got shape {tau_arr.shape}")
    V.check_finite(tau_arr, "tau")
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
    params = [x[sel] for x in alg.tree_flatten()[0]]
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
    # higher floor, imported lazily (by name: the package re-exports a function ``propagators``
    # that shadows the submodule attribute)
    from jaxaccel.propagators import heavy_ball_sums, memory1_sums, propagator_sums

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
            alg_t = MemoryAlgorithm.tree_unflatten(None, [alpha, a, b, c, D])
            out = propagator_sums(spectrum, alg_t, bt, tau_arr)
        return out.U, out.U_tilde, out.stable

    return jax.lax.map(one, (*params, b_sel), batch_size=batch)


class AdiabaticPrediction(NamedTuple):
    """Adiabatic prediction of the loss along a schedule (spec §7.2, eq. 249).

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
    horizon ``~1/delta_t`` grows (AM1, spec §7.2), ``A^app_t`` lags ``A_t = sum_{s<t}
    alpha_eff,s`` by the gradients still held in the buffer. Computed by one ``lax.scan``.

    Args:
        algorithm: a schedule (``T`` steps) or a stationary algorithm.
        steps: ``(R,)`` non-negative int steps (``<= T`` for a schedule).

    Returns:
        ``(R,)`` :math:`A^{\\rm app}_t`.

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel.schedules import applied_learning_rate
        >>> [round(float(x), 6) for x in applied_learning_rate(ja.heavy_ball(0.5, 0.5), [0, 1, 2])]
        [0.0, 0.5, 1.25]
    """
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"algorithm must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    idx = _check_steps(steps)
    alg = algorithm
    if alg.is_stationary:
        n = int(idx.max())  # the scan runs max(steps) steps
        leaves, aux = alg.tree_flatten()
        alg = MemoryAlgorithm.tree_unflatten(
            aux, [jnp.broadcast_to(x, (max(n, 1),) + x.shape) for x in leaves]
        )
    elif idx.max() > alg.num_steps:
        raise ValueError(f"steps must lie in [0, {alg.num_steps}], got max {idx.max()}")
    return _applied_lr(alg, jnp.asarray(idx))


@jax.jit
def _applied_lr(alg: MemoryAlgorithm, idx):
    alpha, _, b, c, D = alg.tree_flatten()[0]

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
    batch_size: Union[None, Scalar, Float[ArrayLike, "T"]] = None,
    tau: Tuple[Scalar, Scalar] = (1.0, -1.0),
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
        >>> from jaxaccel.schedules import adiabatic_loss
        >>> s = ja.power_law_spectrum(10**5, nu=2.0, zeta=0.5)
        >>> p = adiabatic_loss(s, ja.gd(1.0), [10**4])   # A_t = t
        >>> round(float(p.V[0] / p.V_power_law[0]), 2)
        1.0
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"algorithm must be a MemoryAlgorithm, got {type(algorithm).__name__}")
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
    if batch_size is None:
        U = jnp.zeros_like(V_t)
    else:
        last = 0 if alg.is_stationary else alg.num_steps - 1
        U = running_noise_sum(
            spectrum, algorithm, batch_size, tau, steps=np.minimum(idx, last)
        ).U_tilde
    loss = jnp.where(U < 1, V_t / (2.0 * (1.0 - U)), jnp.inf)
    return AdiabaticPrediction(jnp.asarray(idx), A, V_t, V_pl, U, loss, A_app, V_app)
