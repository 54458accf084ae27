"""The accelerated SGD methods of the literature as memory-1 :class:`MemoryAlgorithm` (theory §14).

Each rival keeps one auxiliary vector besides the weights, and on a quadratic loss its update is
linear, so it is an instance of form (3) with ``M = 1`` (theory §14.1 gives the change of
variables of each method, §14.2-§14.6 the updates and the parameter maps):

* :func:`dana`, :func:`dana_constant`, :func:`dana_decay` -- dimension-adapted Nesterov
  acceleration (Ferbach, Everett, Gidel, Paquette & Paquette 2025), theory §14.2;
* :func:`accsgd` (Algorithm 1 of Jain, Kakade, Kidambi, Netrapalli & Sidford 2018) and
  :func:`accsgd_torch` (its PyTorch parametrisation of Kidambi et al. 2018), theory §14.3;
* :func:`varre_flammarion` -- the accelerated SGD of Varre & Flammarion (2022), theory §14.4;
* :func:`flammarion_bach` -- the constant-parameter second-order family of Flammarion & Bach
  (2015), theory §14.5;
* :func:`schedule_free_sgd` -- schedule-free SGD (Defazio et al. 2024), theory §14.6: a
  *scheduled* memory-1 method with a gradient shift.

Every constructor is built from one function ``*_params(t, ...) -> (alpha, a, b, c, D)`` of the
step ``t`` (scalars, or arrays of steps); the optax transforms of :mod:`jaxaccel.algorithms.optim`
use the same functions, so the two views cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import StepSize
from jaxaccel.algorithms.base import MemoryAlgorithm, shift_free
from jaxaccel.algorithms.presets import memory1

__all__ = [
    "dana",
    "dana_constant",
    "dana_decay",
    "accsgd",
    "accsgd_torch",
    "varre_flammarion",
    "flammarion_bach",
    "schedule_free_sgd",
    "SCHEDULE_FREE_IS_MEMORY_M",
]

#: Schedule-free SGD is a memory-M method on quadratics (M = 1, with a gradient shift
#: ``a = 1 - beta`` and the averaging weight ``c_t = 1/(t+2)`` as a schedule): theory §14.6.
SCHEDULE_FREE_IS_MEMORY_M = True


def _scalar(x, name, nonneg=False, dtype=None):
    x = V.finite_array(x, name, dtype)
    V.check_ndim(x, name, (0, 1))
    if nonneg:
        V.check_positive(x, name, strict=False)
    return x


def _steps_axis(steps):
    steps = V.check_positive_int(steps, "steps")
    return jnp.arange(steps, dtype=jnp.result_type(float))


def _spectrum_quantity(value, spectrum, name, what):
    """``value`` if given, else ``what(spectrum)``; ``ValueError`` naming ``name`` if neither."""
    if value is not None:
        return value
    if spectrum is None:
        raise ValueError(f"{name} must be given (or pass spectrum= to take it from the problem)")
    for attr in ("eigenvalues", "weights"):
        if not hasattr(spectrum, attr):
            raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    return what(spectrum)


# ----------------------------------------------------------------------------- DANA (§14.2)
def dana_params(t, gamma2, gamma3, Delta, gamma1=1.0):
    """Form-(3) parameters of the stochastic momentum step of theory §14.2 at step(s) ``t``.

    ``y <- (1 - Delta) y + gamma1 g;  w <- w - gamma2 g - gamma3 y`` gives
    ``alpha = gamma2 + gamma3 gamma1, a = 0, b = -gamma3 (1 - Delta), c = gamma1,
    D = 1 - Delta``. The coefficients may be arrays broadcasting against ``t``.
    """
    del t
    beta = 1.0 - Delta
    one = jnp.ones_like(beta)
    return (gamma2 + gamma3 * gamma1, 0.0 * one, -gamma3 * beta, gamma1 * one, beta)


def _build(params, zero_shift):
    alpha, a, b, c, D = (jnp.asarray(x) for x in params)
    lead = jnp.broadcast_shapes(*(x.shape for x in (alpha, a, b, c, D)))
    alg = memory1(*(jnp.broadcast_to(x, lead) for x in (alpha, a, b, c, D)))
    return shift_free(alg) if zero_shift else alg


def dana(gamma2: StepSize, gamma3: StepSize, Delta: StepSize,
         gamma1: StepSize = 1.0) -> MemoryAlgorithm:
    """The stochastic momentum step of Ferbach et al. (2025), eq. of theory §14.2.

    ``y_{t+1} = (1 - Delta_t) y_t + gamma1_t g_t``, ``w_{t+1} = w_t - gamma2_t g_t -
    gamma3_t y_{t+1}`` with ``g_t`` the (mini-batch) gradient at ``w_t`` and ``y_0 = 0``. Each
    coefficient is a scalar or a schedule ``(T,)``; :func:`dana_constant` and
    :func:`dana_decay` are the two DANA schedules of the paper. This is the decoupled form
    (250) (``eta = gamma3 gamma1``, ``eta' = gamma2``, ``beta = 1 - Delta``).

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.dana(0.5, 0.01, 0.1)
        >>> round(float(ja.effective_learning_rate(alg)), 12)   # gamma2 + gamma3 gamma1 / Delta
        0.6
    """
    g2, g3 = _scalar(gamma2, "gamma2", True), _scalar(gamma3, "gamma3", True)
    dl, g1 = _scalar(Delta, "Delta"), _scalar(gamma1, "gamma1")
    return _build(dana_params(None, g2, g3, dl, g1), True)


def dana_constant_params(t, gamma2, gamma3, delta, dim):
    """Parameters of DANA-constant at step(s) ``t``: ``Delta_t = delta/(1+t)``,
    ``gamma3_t = gamma3/d`` (theory §14.2)."""
    return dana_params(t, gamma2, gamma3 / dim, delta / (1.0 + t))


def dana_decay_params(t, gamma2, gamma3, delta, exponent):
    """Parameters of DANA-decay at step(s) ``t``: ``Delta_t = delta/(1+t)``,
    ``gamma3_t = gamma3 (1+t)^(-exponent)`` (theory §14.2)."""
    return dana_params(t, gamma2, gamma3 * (1.0 + t) ** (-exponent), delta / (1.0 + t))


def _dana_checks(gamma2, gamma3, delta):
    g2 = V.finite_scalar(gamma2, "gamma2")
    g3 = V.finite_scalar(gamma3, "gamma3")
    dl = V.finite_scalar(delta, "delta")
    V.check_positive(g2, "gamma2", strict=False)
    V.check_positive(g3, "gamma3", strict=False)
    if V.is_concrete(dl) and not (0.0 < float(dl) <= 1.0):
        raise ValueError(f"delta must lie in (0, 1] (Delta_0 = delta), got {float(dl)!r}")
    return g2, g3, dl


def dana_constant(gamma2: StepSize, gamma3: StepSize, delta: StepSize, steps: int, *,
                  dim: Optional[float] = None, spectrum: Optional[Any] = None) -> MemoryAlgorithm:
    """DANA-constant (Ferbach et al. 2025; theory §14.2) for steps ``t = 0..steps-1``.

    :func:`dana` with ``Delta_t = delta / (1 + t)``, ``gamma1 = 1``, constant ``gamma2`` and
    ``gamma3_t = gamma3 / d``: the momentum learning rate is scaled by the model dimension
    ``d``, taken from ``dim`` or from ``spectrum`` (the sum of its multiplicities).

    Args:
        gamma2, gamma3: ``>= 0`` scalars.
        delta: in ``(0, 1]``.
        steps: schedule length.
        dim: the dimension ``d > 0`` (or ``spectrum=``).

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.dana_constant(0.5, 1.0, 1.0, steps=3, dim=100)
        >>> [round(float(x), 12) for x in alg.D[:, 0, 0]]       # 1 - Delta_t
        [0.0, 0.5, 0.666666666667]
    """
    g2, g3, dl = _dana_checks(gamma2, gamma3, delta)
    d = _spectrum_quantity(dim, spectrum, "dim", lambda s: jnp.sum(s.weights))
    d = V.finite_scalar(d, "dim")
    V.check_positive(d, "dim")
    return _build(dana_constant_params(_steps_axis(steps), g2, g3, dl, d), True)


def dana_decay(gamma2: StepSize, gamma3: StepSize, delta: StepSize, steps: int, *,
               exponent: Optional[float] = None, spectrum: Optional[Any] = None) -> MemoryAlgorithm:
    """DANA-decay (Ferbach et al. 2025; theory §14.2) for steps ``t = 0..steps-1``.

    :func:`dana` with ``Delta_t = delta/(1+t)``, ``gamma1 = 1``, constant ``gamma2`` and
    ``gamma3_t = gamma3 (1+t)^(-exponent)``. The paper's exponent is ``1/(2 alpha)`` for data
    eigenvalues ``j^(-2 alpha)``, i.e. ``1/nu`` in the notation of theory §1: taken from
    ``exponent`` or from ``spectrum.power_law.nu``. The effective learning rate then grows as
    ``gamma3 t^(1-1/nu) / delta`` -- the AM1 shape of theory §7.2 with ``kappa = 1`` and
    ``vartheta = 1 - 1/nu``.

    Example:
        >>> import jaxaccel as ja
        >>> spec = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> alg = ja.dana_decay(0.5, 1.0, 1.0, steps=4, spectrum=spec)
        >>> round(float(alg.b[3, 0]), 12)            # -gamma3 4^(-1/2) (1 - 1/4)
        -0.375
    """
    g2, g3, dl = _dana_checks(gamma2, gamma3, delta)

    def from_spec(s):
        if s.power_law is None:
            raise ValueError("spectrum has no power-law metadata: pass exponent= explicitly")
        return 1.0 / s.power_law.nu

    ex = V.finite_scalar(_spectrum_quantity(exponent, spectrum, "exponent", from_spec),
                         "exponent")
    V.check_positive(ex, "exponent", strict=False)
    return _build(dana_decay_params(_steps_axis(steps), g2, g3, dl, ex), True)


# ----------------------------------------------------------------------------- AccSGD (§14.3)
def accsgd_params(alpha, beta, gamma, delta):
    """Form-(3) parameters of Algorithm 1 of Jain et al. (2018) (theory §14.3): ``w`` the
    iterate, ``u = v - w``; ``alpha_(3) = delta, a = b = 1 - alpha, c = delta - gamma,
    D = alpha (1 - beta)``."""
    return (delta, 1.0 - alpha, 1.0 - alpha, delta - gamma, alpha * (1.0 - beta))


def accsgd(alpha: StepSize, beta: StepSize, gamma: StepSize, delta: StepSize) -> MemoryAlgorithm:
    """Accelerated SGD, Algorithm 1 of Jain, Kakade, Kidambi, Netrapalli & Sidford (2018).

    With ``v_0 = w_0`` (theory §14.3):

    .. math::
        \\bar v_t = \\alpha w_t + (1-\\alpha) v_t,\\quad
        w_{t+1} = \\bar v_t - \\delta\\,g_t,\\quad
        v_{t+1} = \\beta \\bar v_t + (1-\\beta) v_t - \\gamma\\,g_t,\\qquad g_t = \\nabla L_{B_t}(\\bar v_t).

    The loss is that of the iterate ``w_t``; the gradient is taken at ``\\bar v_t``, a shifted
    point (``a = 1 - alpha``). Scalars or schedules ``(T,)``.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.accsgd(0.9, 0.1, 2.0, 0.5)
        >>> round(float(ja.effective_learning_rate(alg)), 12)   # delta + (1-alpha)(gamma-delta)/(1-alpha(1-beta))
        1.289473684211
    """
    al, be = _scalar(alpha, "alpha"), _scalar(beta, "beta")
    ga, de = _scalar(gamma, "gamma", True), _scalar(delta, "delta", True)
    return _build(accsgd_params(al, be, ga, de), False)


def accsgd_torch_params(lr, kappa, xi, small_const):
    """Form-(3) parameters of the PyTorch AccSGD of Kidambi et al. (2018) (theory §14.3).

    With ``L = lr kappa / c0``, ``A = 1 - c0^2 xi / kappa``, ``B = 1 - A`` and
    ``z = c0 / (c0 + B)``: ``alpha = z lr + (1 - z) B L, a = 0, b = (1 - z) A,
    c = -z (B L - lr), D = z A`` (``w`` the stored parameters, ``u`` = buffer - parameters).
    """
    big = lr * kappa / small_const
    A = 1.0 - small_const**2 * xi / kappa
    B = 1.0 - A
    z = small_const / (small_const + B)
    return (z * lr + (1.0 - z) * B * big, 0.0 * A, (1.0 - z) * A, -z * (B * big - lr), z * A)


def accsgd_torch(lr: StepSize, kappa: float = 1000.0, xi: float = 10.0,
                 small_const: float = 0.7) -> MemoryAlgorithm:
    """AccSGD in the PyTorch parametrisation of Kidambi, Netrapalli, Jain & Kakade (2018).

    The same method as :func:`accsgd` written on the gradient point (theory §14.3): ``lr`` the
    short step, ``kappa`` the long-to-short step ratio (a condition-number proxy), ``xi`` the
    statistical advantage parameter, ``small_const`` in ``(0, 1]``. It equals
    ``accsgd(alpha=z, beta=B, gamma=B L, delta=lr)`` viewed at ``bar v`` (tested).

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.accsgd_torch(0.1)
        >>> alg.memory, bool(alg.zero_shift)
        (1, True)
    """
    lr = _scalar(lr, "lr", True)
    k = V.finite_scalar(kappa, "kappa")
    x = V.finite_scalar(xi, "xi")
    c0 = V.finite_scalar(small_const, "small_const")
    V.check_positive(k, "kappa")
    V.check_positive(x, "xi")
    if V.is_concrete(c0) and not (0.0 < float(c0) <= 1.0):
        raise ValueError(f"small_const must lie in (0, 1], got {float(c0)!r}")
    if V.is_concrete(k) and V.is_concrete(x) and V.is_concrete(c0):
        if not (0.0 < float(c0) ** 2 * float(x) / float(k) <= 1.0):
            raise ValueError("kappa, xi: small_const^2 xi / kappa must lie in (0, 1] "
                             f"(got {float(c0) ** 2 * float(x) / float(k)!r})")
    return _build(accsgd_torch_params(lr, k, x, c0), True)


# ----------------------------------------------------------------------------- Varre & Flammarion (§14.4)
def varre_flammarion_params(t, alpha, beta, offset=3.0):
    """Parameters of the accelerated SGD of Varre & Flammarion (2022) at step(s) ``t``
    (theory §14.4): momentum ``m_t = t/(t+offset)``; ``alpha_(3) = beta, a = b = 1,
    c = -(m_t beta + alpha), D = m_t``."""
    m = t / (t + offset)
    one = jnp.ones_like(m)
    return (beta * one, one, one, -(m * beta + alpha), m)


def varre_flammarion(alpha: StepSize, beta: StepSize, steps: int,
                     offset: float = 3.0) -> MemoryAlgorithm:
    """Accelerated SGD of Varre & Flammarion (2022) for steps ``t = 0..steps-1`` (theory §14.4).

    Nesterov's method with the momentum ``m_t = t/(t+3)`` and a second, small gradient step in
    the extrapolation: with ``nu_0 = theta_0`` and ``g_t`` the gradient at ``nu_t``,

    .. math::
        \\theta_{t+1} = \\nu_t - \\beta g_t,\\qquad
        \\nu_{t+1} = \\theta_{t+1} + m_t(\\theta_{t+1} - \\theta_t) - \\alpha g_t .

    ``beta`` is the short step (``~ 1/R^2``), ``alpha <= beta`` the extra step of the
    extrapolated sequence; ``alpha = 0`` is Nesterov's method with momentum ``t/(t+3)``.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.varre_flammarion(0.01, 0.5, steps=3)
        >>> [round(float(x), 12) for x in alg.D[:, 0, 0]]       # t/(t+3)
        [0.0, 0.25, 0.4]
    """
    al, be = V.finite_scalar(alpha, "alpha"), V.finite_scalar(beta, "beta")
    V.check_positive(al, "alpha", strict=False)
    V.check_positive(be, "beta")
    off = V.finite_scalar(offset, "offset")
    V.check_positive(off, "offset")
    return _build(varre_flammarion_params(_steps_axis(steps), al, be, off), False)


# ----------------------------------------------------------------------------- Flammarion & Bach (§14.5)
def flammarion_bach_params(alpha, beta, gamma):
    """Form-(3) parameters of the Flammarion & Bach (2015) recursion (theory §14.5):
    ``alpha_(3) = beta, a = -gamma, b = -beta (1 - alpha), c = 1, D = 1 - alpha``."""
    one = jnp.ones_like(jnp.asarray(alpha))
    return (beta * one, -gamma * one, -beta * (1.0 - alpha), one, 1.0 - alpha)


def flammarion_bach(alpha: StepSize, beta: StepSize, gamma: StepSize) -> MemoryAlgorithm:
    """The second-order family of Flammarion & Bach (2015), eq. of theory §14.5.

    .. math::
        \\theta_t = \\theta_{t-1} + (1-\\alpha)(\\theta_{t-1}-\\theta_{t-2})
        - \\beta\\,\\nabla f(\\theta_{t-1}) - \\gamma\\,[\\nabla f(\\theta_{t-1})-\\nabla f(\\theta_{t-2})],
        \\qquad \\theta_{-1} = \\theta_0 .

    ``gamma = 0`` is Heavy Ball, ``gamma = beta (1 - alpha)`` Nesterov's method, ``alpha = 0``
    the undamped accelerated / averaging limit the paper studies (not strictly stable: no
    stationary memory decay). Multistep form (8): ``P = (mu-1)(mu-1+alpha)``,
    ``Q = gamma - (beta+gamma) mu``.

    Example:
        >>> import jaxaccel as ja
        >>> P, Q = ja.characteristic_polynomials(ja.flammarion_bach(0.1, 0.5, 0.2))
        >>> [round(float(x), 12) + 0.0 for x in Q]
        [0.2, -0.7]
    """
    al, be, ga = _scalar(alpha, "alpha"), _scalar(beta, "beta", True), _scalar(gamma, "gamma")
    return _build(flammarion_bach_params(al, be, ga), False)


# ----------------------------------------------------------------------------- schedule-free (§14.6)
def schedule_free_params(t, lr, beta, weights_sum=None):
    """Parameters of schedule-free SGD at step(s) ``t`` (theory §14.6): averaging weight
    ``c_t = 1/(t+2)`` (or ``lr_t^2 / sum_{s<=t+1} lr_s^2`` with ``weights_sum``);
    ``alpha_(3) = c lr, a = 1 - beta, b = c, c_(3) = -lr (1 - c), D = 1 - c``."""
    if weights_sum is None:
        cw = 1.0 / (t + 2.0)
    else:
        cw = lr**2 / weights_sum
    one = jnp.ones_like(cw)
    return (cw * lr, (1.0 - beta) * one, cw, -lr * (1.0 - cw), 1.0 - cw)


def schedule_free_sgd(lr: StepSize, beta: StepSize, steps: int) -> MemoryAlgorithm:
    """Schedule-free SGD (Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky 2024), theory §14.6.

    With ``x_0 = z_0 = w_0`` and the gradient at the interpolation ``y_t``:

    .. math::
        y_t = (1-\\beta) z_t + \\beta x_t,\\quad z_{t+1} = z_t - \\gamma_t\\,\\nabla L_{B_t}(y_t),\\quad
        x_{t+1} = (1-c_{t+1}) x_t + c_{t+1} z_{t+1},

    ``c_{t+1} = gamma_t^2 / sum_{s<=t} gamma_s^2`` (``= 1/(t+2)`` here counting from ``t = 0``
    for a constant ``lr``). The loss is that of the average ``x_t``. It *is* a memory-1 method
    of form (3) (``w = x``, ``u = z - x``, shift ``a = 1 - beta``), but never a stationary one:
    the averaging weight decays like ``1/t`` (:data:`SCHEDULE_FREE_IS_MEMORY_M`).

    Args:
        lr: ``gamma >= 0``, scalar or schedule ``(steps,)`` (warm-up schedules enter the
            weights ``c``).
        beta: interpolation in ``[0, 1]``.
        steps: schedule length.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.schedule_free_sgd(1.0, 0.9, steps=3)
        >>> [round(float(x), 12) for x in alg.alpha]          # c_t lr
        [0.5, 0.333333333333, 0.25]
    """
    t = _steps_axis(steps)
    g = _scalar(lr, "lr", True)
    if g.ndim == 1 and g.shape[0] != t.shape[0]:
        raise ValueError(f"lr schedule must have length steps={t.shape[0]}, got {g.shape}")
    b = V.finite_scalar(beta, "beta")
    if V.is_concrete(b) and not (0.0 <= float(b) <= 1.0):
        raise ValueError(f"beta must lie in [0, 1], got {float(b)!r}")
    if g.ndim == 0:
        return _build(schedule_free_params(t, g, b), False)
    # weights gamma_s^2 over s = 0..t, with the initial average x_0 = z_0 counted as step -1
    # of weight gamma_0^2 (so that a constant lr gives c = 1/(t+2))
    g2 = g**2
    wsum = jnp.cumsum(g2) + g2[0]
    if V.is_concrete(wsum) and not bool(np.all(np.asarray(wsum) > 0)):
        raise ValueError("lr must not start at 0 (the averaging weights are undefined)")
    return _build(schedule_free_params(t, g, b, wsum), False)
