"""Accelerated parameter schedules: Jacobi Heavy Ball and AM1 (their definitions).

Theory: ``docs/theory/sgd_memory.md`` §7 (AM1, accelerated memory-1) and §8 (Jacobi-scheduled
Heavy Ball).

Each schedule comes in two forms:

* plain callables ``t -> parameter`` (a :class:`JacobiSchedule` or :class:`AM1Schedule` of
  functions built from ``jax.numpy``), usable as optax schedules (``count -> value``);
* a non-stationary :class:`~jaxaccel.MemoryAlgorithm` holding the parameters of
  steps ``t = 0 .. steps-1`` on a leading time axis, ready for :func:`jaxaccel.simulate`.

Hyper-parameters are traced values (``jax.vmap`` over ``theta`` or ``L`` works, ``steps`` is
static); they are validated eagerly when concrete. The noise monitors along a schedule
(running ``U_Sigma``, adiabatic loss) are in :mod:`jaxaccel.theory.monitors`.
"""

from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.algorithms.presets import am1_form, heavy_ball



# ----------------------------------------------------------------------------- validation
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

    def algorithm(self, t: Float[ArrayLike, "T"]) -> MemoryAlgorithm:
        """Heavy Ball with the parameters of steps ``t`` (leading axis ``T``): the callable
        form for ``simulate(..., method="piecewise")``.

        Example:
            >>> sch = jacobi_schedule(0.5, 0.0, 2.0)
            >>> sch.algorithm(jnp.arange(3.0)).num_steps
            3
        """
        t = jnp.asarray(t)
        return heavy_ball(self.alpha(t), self.beta(t))


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
        >>> from jaxaccel import jacobi_schedule
        >>> sch = jacobi_schedule(0.5, 0.0, 2.0)
        >>> float(sch.alpha(0)), float(sch.beta(0))   # (a+b+2)/(L(a+1)), 0
        (0.8333333333333334, 0.0)
    """
    a, b, L = V.finite_scalar(a, "a"), V.finite_scalar(b, "b"), V.finite_scalar(L, "L")
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
    """Heavy Ball with the Jacobi schedule for steps ``t = 0 .. steps-1`` (theory §8.1).

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
        >>> from jaxaccel import jacobi_heavy_ball
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
    """AM1 parameters as functions of the step ``t`` (theory §7.1-7.2).

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

    def algorithm(self, t: Float[ArrayLike, "T"]) -> MemoryAlgorithm:
        """AM1 in the matrix form (250) with the parameters of steps ``t`` (leading axis
        ``T``): the callable form for ``simulate(..., method="piecewise")``; equal to
        :func:`am1` on ``t = 0..steps-1``.

        Example:
            >>> sch = am1_schedule(0.5, 0.9, 1.0, 0.4, 0.5, 1.0)
            >>> sch.algorithm(jnp.arange(5.0)).num_steps
            5
        """
        t = jnp.asarray(t)
        return am1_form(self.eta(t), self.eta_prime(t), self.beta(t))


def _am1_checks(delta0, kappa, alpha0, theta, eta_kick, t0):
    delta0, kappa, alpha0 = V.finite_scalar(delta0, "delta0"), V.finite_scalar(kappa, "kappa"), V.finite_scalar(alpha0, "alpha0")
    theta, eta_kick, t0 = V.finite_scalar(theta, "theta"), V.finite_scalar(eta_kick, "eta_kick"), V.finite_scalar(t0, "t0")
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
    """AM1 power-law schedule (theory §7.2) as callables of the step ``t``.

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
        >>> from jaxaccel import am1_schedule
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
    """AM1 (accelerated memory-1) for steps ``t = 0 .. steps-1`` (theory §7.2, form (250)).

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
        >>> from jaxaccel import am1
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
        >>> from jaxaccel import am1_theta_max
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

    Theory §7.2 (from Theorem 7.2: ``alpha_eff delta^{1 - 1/nu} = O(1)``, so ``U_Sigma(t)`` stays
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
        >>> from jaxaccel import check_am1_exponents
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
