"""Memory-1 algorithms in closed form: parametrisations, Theorem 6, critical scales.

Spec: ``sgd_memory.md`` §6 (and §2.5, §7.1). A stationary memory-1 algorithm is, for quadratic
problems, fully described by the triplet ``(delta, q0, q1)`` of its multistep form (8)

.. math::  P(\\mu) = (\\mu - 1)(\\mu - 1 + \\delta),\\qquad Q(\\mu) = q_0 + q_1\\mu,\\qquad
           \\chi_\\lambda(\\mu) = P(\\mu) - \\lambda Q(\\mu),

with ``beta = 1 - delta`` and ``alpha_eff = -(q0 + q1) / delta``. This module converts between
the triplet, the matrix form (3) (five scalars ``alpha, a, b, c, D``: the constructors
:func:`jaxaccel.memory1_triplet` and :func:`jaxaccel.am1_form` build those) and the
PyTorch-style decoupled form (250) ``(eta, eta', beta)``, and evaluates Theorem 6: the strict
stability conditions (227), the real-vs-circle structure of the eigenvalues of ``S_lambda`` and
the critical scales ``lambda_-``, ``lambda_+`` of the complex region.

All functions are pure ``jax.numpy`` code on broadcastable arrays (``jit``/``vmap``-friendly);
inputs are validated eagerly when they are concrete.
"""

from __future__ import annotations

from typing import NamedTuple, Union

import jax
import jax.numpy as jnp
from jaxtyping import Complex

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float
from jaxaccel.algorithms import MemoryAlgorithm, characteristic_polynomials

#: A real parameter of the memory-1 formulas: a float or an array; the arguments of one call
#: broadcast against each other (batch shape ``*B``).
Param = Union[float, Float[ArrayLike, "*#B"]]


class Memory1Triplet(NamedTuple):
    """Multistep triplet of a memory-1 algorithm (spec §6.1): ``P = (mu-1)(mu-1+delta)``,
    ``Q = q0 + q1 mu``. Fields broadcast against each other."""

    delta: jax.Array
    q0: jax.Array
    q1: jax.Array

    @property
    def beta(self):
        """Momentum ``beta = 1 - delta`` (the eigenvalue of ``D``)."""
        return 1.0 - self.delta

    @property
    def alpha_eff(self):
        """Effective learning rate (22): ``alpha_eff = -(q0 + q1) / delta``."""
        return -(self.q0 + self.q1) / self.delta


class TorchForm(NamedTuple):
    """Decoupled PyTorch-style form (250): ``v <- beta v + g;  w <- w - eta v - eta' g``."""

    eta: jax.Array
    eta_prime: jax.Array
    beta: jax.Array


class Memory1Conditions(NamedTuple):
    """Theorem 6.1, conditions (227), written as margins that must all be ``> 0``.

    Attributes:
        stable: bool, all four margins positive.
        memory: ``min(delta, 2 - delta)`` (``D = 1 - delta`` strictly stable).
        slow: ``-(q0 + q1) = delta alpha_eff`` (the root near ``mu = 1`` moves inwards).
        product: ``delta + lambda_max q0`` (product of the roots ``< 1`` at ``lambda_max``).
        minus_one: ``2(2 - delta) + lambda_max (q1 - q0)`` (``chi(-1) > 0`` at ``lambda_max``).
    """

    stable: jax.Array
    memory: jax.Array
    slow: jax.Array
    product: jax.Array
    minus_one: jax.Array


class Memory1Circle(NamedTuple):
    """Theorem 6.2: the non-real eigenvalues of ``S_lambda`` lie on ``|mu - center| = radius``.

    Attributes:
        center: ``mu_* = -q0 / q1``, the root of ``Q`` (``inf`` when ``q1 = 0``: the circle
            degenerates to the line ``Re mu = (1 + beta) / 2``).
        radius: ``r = sqrt((mu_* - 1)(mu_* - beta))``; ``nan`` when ``real_for_all``.
        real_for_all: bool, ``mu_* in [beta, 1]``: the eigenvalues are real for every real
            ``lambda`` (then ``r^2 <= 0``).
    """

    center: jax.Array
    radius: jax.Array
    real_for_all: jax.Array


class CriticalScales(NamedTuple):
    """Scales of the complex-eigenvalue region ``lambda_- < lambda < lambda_+`` (spec §6.3).

    Attributes:
        lambda_minus, lambda_plus: exact positive roots of the discriminant
            ``disc(lambda) = q1^2 lambda^2 + (2(2 - delta) q1 + 4 q0) lambda + delta^2`` of
            ``chi_lambda``; ``nan`` when no ``lambda > 0`` gives complex eigenvalues
            (``lambda_plus = inf`` when ``q1 = 0``).
        lambda_minus_approx, lambda_plus_approx: small-``delta`` forms (245)-(246),
            ``delta / (4 alpha_eff)`` and ``4 delta alpha_eff / q1^2``.
    """

    lambda_minus: jax.Array
    lambda_plus: jax.Array
    lambda_minus_approx: jax.Array
    lambda_plus_approx: jax.Array


# ----------------------------------------------------------------------------- helpers
def _arr(x, name):
    x = V.as_float_array(x, name)
    V.check_finite(x, name)
    return x


def _check_nonzero(x, name, why):
    if V.is_concrete(x) and bool(jnp.any(x == 0)):
        raise ValueError(f"{name} must be non-zero ({why})")


# ----------------------------------------------------------------------------- conversions
def triplet(delta: Param, q0: Param, q1: Param) -> Memory1Triplet:
    """Validated :class:`Memory1Triplet` (finite arrays, broadcast to a common shape).

    The multistep triplet of spec §6.1: ``P = (mu - 1)(mu - 1 + delta)``, ``Q = q0 + q1 mu``.

    Example:
        >>> t = triplet(0.1, 0.5, -0.7)
        >>> round(float(t.alpha_eff), 12)   # -(q0 + q1) / delta
        2.0
    """
    d, a, b = _arr(delta, "delta"), _arr(q0, "q0"), _arr(q1, "q1")
    d, a, b = jnp.broadcast_arrays(d, a, b)
    return Memory1Triplet(d, a, b)


def triplet_from_effective(delta: Param, alpha_eff: Param, q0: Param) -> Memory1Triplet:
    """The triplet from ``(delta, alpha_eff, q0)``: ``q1 = -q0 - delta alpha_eff`` (spec §6.1).

    Example:
        >>> t = triplet_from_effective(0.01, 10.0, 0.5)
        >>> round(float(t.q1), 12)
        -0.6
    """
    d, ae, a = _arr(delta, "delta"), _arr(alpha_eff, "alpha_eff"), _arr(q0, "q0")
    d, ae, a = jnp.broadcast_arrays(d, ae, a)
    return Memory1Triplet(d, a, -a - d * ae)


def triplet_from_algorithm(algorithm: MemoryAlgorithm) -> Memory1Triplet:
    """The triplet of any stationary memory-1 algorithm (any shift ``a``).

    Read off the characteristic polynomials (eq. 36): ``P = mu^2 - (1 + D) mu + D`` gives
    ``delta = 1 - D``; ``Q = q0 + q1 mu`` with ``q1 = a c - alpha``, ``q0 = alpha D + b c - a c``.

    Example:
        >>> import jaxaccel as ja
        >>> t = triplet_from_algorithm(ja.heavy_ball(0.5, 0.9))   # HB: q0 = 0, q1 = -alpha
        >>> [round(float(x), 12) for x in t]
        [0.1, 0.0, -0.5]
    """
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"algorithm must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    if algorithm.memory != 1:
        raise ValueError(f"algorithm must have memory M = 1, got M = {algorithm.memory}")
    if not algorithm.is_stationary:
        raise ValueError("algorithm must be stationary (a schedule has one triplet per step)")
    P, Q = characteristic_polynomials(algorithm)
    return Memory1Triplet(1.0 - P[0], Q[0], Q[1])


def triplet_from_torch(eta: Param, eta_prime: Param, beta: Param) -> Memory1Triplet:
    """Triplet of the decoupled form (250) (spec §7.1).

    .. math::  q_1 = -(\\eta + \\eta'),\\qquad q_0 = \\beta\\eta',\\qquad \\delta = 1 - \\beta.

    Example:
        >>> t = triplet_from_torch(0.1, 0.5, 0.9)
        >>> [round(float(x), 12) for x in t]
        [0.1, 0.45, -0.6]
    """
    e, ep, b = _arr(eta, "eta"), _arr(eta_prime, "eta_prime"), _arr(beta, "beta")
    e, ep, b = jnp.broadcast_arrays(e, ep, b)
    return Memory1Triplet(1.0 - b, b * ep, -(e + ep))


def torch_from_triplet(delta: Param, q0: Param, q1: Param) -> TorchForm:
    """Decoupled form (250) of a triplet (spec §7.1).

    .. math::  \\beta = 1 - \\delta,\\qquad \\eta' = \\frac{q_0}{1-\\delta},\\qquad
               \\eta = \\delta\\Big(\\alpha_{\\rm eff} - \\frac{q_0}{1-\\delta}\\Big).

    Requires ``delta != 1`` (``beta = 0`` cannot carry ``q0``).

    Example:
        >>> f = torch_from_triplet(0.1, 0.45, -0.6)
        >>> [round(float(x), 12) for x in f]
        [0.1, 0.5, 0.9]
    """
    t = triplet(delta, q0, q1)
    beta = t.beta
    _check_nonzero(beta, "delta", "delta = 1 means beta = 0, which has no eta'")
    eta_p = t.q0 / beta
    return TorchForm(t.delta * (t.alpha_eff - eta_p), eta_p, beta)


# ----------------------------------------------------------------------------- Theorem 6
def memory1_conditions(delta: Param, q0: Param, q1: Param,
                       lambda_max: Param) -> Memory1Conditions:
    """Theorem 6.1: strict stability of ``S_lambda`` for all ``lambda in (0, lambda_max]``.

    .. math::  0 < \\delta < 2,\\quad q_0 + q_1 < 0,\\quad \\lambda_{\\max} q_0 > -\\delta,\\quad
               2(2-\\delta) + \\lambda_{\\max}(q_1 - q_0) > 0 .\\tag{227}

    "Strict stability" includes the memory ``D = 1 - delta`` (the ``lambda -> 0`` limit of the
    second root), as required by Theorems 4-5. Derivation: Jury test on the monic quadratic
    ``chi_lambda``, whose ``chi(1)``, ``chi(-1)`` and root product are affine in ``lambda``, so
    the worst case is at ``lambda -> 0`` or ``lambda = lambda_max``.

    Args:
        delta, q0, q1: triplet (broadcastable arrays).
        lambda_max: largest eigenvalue, ``> 0``.

    Returns:
        :class:`Memory1Conditions`.

    Example:
        >>> c = memory1_conditions(0.1, 0.0, -1.0, 1.0)   # HB alpha=1, beta=0.9
        >>> bool(c.stable)
        True
        >>> bool(memory1_conditions(0.1, 0.0, -4.0, 1.0).stable)   # alpha > 2(1+beta)
        False
    """
    t = triplet(delta, q0, q1)
    lm = _arr(lambda_max, "lambda_max")
    V.check_positive(lm, "lambda_max")
    d, a, b = t
    memory = jnp.minimum(d, 2.0 - d)
    slow = -(a + b)
    product = d + lm * a
    minus_one = 2.0 * (2.0 - d) + lm * (b - a)
    stable = (memory > 0) & (slow > 0) & (product > 0) & (minus_one > 0)
    return Memory1Conditions(stable, memory, slow, product, minus_one)


def memory1_eigenvalues(delta: Param, q0: Param, q1: Param, lam: Param,
                        shifted: bool = False) -> Complex[Array, "*B 2"]:
    """Both eigenvalues of ``S_lambda``: the roots of ``chi_lambda(mu)``, shape ``(..., 2)``
    (complex), Theorem 6.2 setting (spec §6.3).

    Computed in ``x = 1 - mu``: ``x^2 - (delta - lambda q1) x + lambda delta alpha_eff = 0``
    (spec §6.3), with the cancellation-free quadratic formula. With ``shifted=True`` the
    roots ``x = 1 - mu`` are returned, which keep full relative accuracy for tiny ``lambda``
    (``x_slow = alpha_eff lambda + O(lambda^2)``). The two roots come in no particular order
    (``jnp.abs(mu).max(-1)`` is the spectral radius).

    Args:
        delta, q0, q1: triplet (broadcastable).
        lam: eigenvalue(s) ``lambda`` (any real value).
        shifted: return ``1 - mu`` instead of ``mu``.

    Returns:
        complex array of shape ``broadcast(delta, q0, q1, lam).shape + (2,)``.

    Example:
        >>> mu = memory1_eigenvalues(0.5, 0.0, -1.0, 0.0)   # lambda = 0: roots 1 and beta
        >>> sorted(float(m.real) for m in mu)
        [0.5, 1.0]
    """
    t = triplet(delta, q0, q1)
    lam = _arr(lam, "lam")
    x1, x2 = _shifted_roots(t.delta - lam * t.q1, -lam * (t.q0 + t.q1))
    x = jnp.stack([x1, x2], axis=-1)
    return x if shifted else 1.0 - x


def _shifted_roots(B, C):
    """Roots of ``x^2 - B x + C`` (real ``B, C``), as complex arrays, without cancellation."""
    B, C = jnp.broadcast_arrays(B, C)
    disc = B * B - 4.0 * C
    real = disc >= 0
    sq = jnp.sqrt(jnp.where(real, disc, 0.0))
    sgn = jnp.where(B >= 0, 1.0, -1.0)
    big = 0.5 * (B + sgn * sq)
    safe = jnp.where(big == 0, 1.0, big)
    small = jnp.where(big == 0, 0.0, C / safe)
    im = 0.5 * jnp.sqrt(jnp.where(real, 0.0, -disc))
    cdt = jnp.result_type(B.dtype, jnp.complex64)
    x1 = jnp.where(real, big.astype(cdt), (0.5 * B + 1j * im).astype(cdt))
    x2 = jnp.where(real, small.astype(cdt), (0.5 * B - 1j * im).astype(cdt))
    return x1, x2


def memory1_circle(delta: Param, q0: Param, q1: Param) -> Memory1Circle:
    """Theorem 6.2: centre ``mu_* = -q0/q1`` and radius ``r`` of the eigenvalue circle.

    With ``mu = mu_* + z``: ``lambda = P/Q = (z + (2 mu_* - 1 - beta) + r^2 / z) / q1``, so
    ``Im lambda = 0`` forces ``z`` real or ``|z|^2 = r^2 = (mu_* - 1)(mu_* - beta)``
    (Joukowsky map). If ``mu_* in [beta, 1]`` then ``r^2 <= 0`` and every eigenvalue is real.

    Example:
        >>> c = memory1_circle(0.5, 0.0, -1.0)   # HB: mu_* = 0, r = sqrt(beta)
        >>> float(c.center), round(float(c.radius) ** 2, 12), bool(c.real_for_all)
        (0.0, 0.5, False)
    """
    d, a, b = triplet(delta, q0, q1)
    beta = 1.0 - d
    line = b == 0
    safe_b = jnp.where(line, 1.0, b)
    mu_s = jnp.where(line, jnp.inf, -a / safe_b)
    r2 = (mu_s - 1.0) * (mu_s - beta)
    real_for_all = jnp.where(line, a == 0, r2 <= 0)
    radius = jnp.where(line, jnp.inf, jnp.where(r2 > 0, jnp.sqrt(jnp.where(r2 > 0, r2, 1.0)), jnp.nan))
    return Memory1Circle(mu_s, radius, real_for_all)


def memory1_critical_scales(delta: Param, q0: Param, q1: Param) -> CriticalScales:
    """Exact and small-``delta`` scales of the complex-eigenvalue region (spec §6.3, 245-246).

    The eigenvalues are complex iff ``disc(lambda) = (1 + beta + lambda q1)^2 - 4(beta - lambda
    q0) < 0``, a quadratic in ``lambda`` with value ``delta^2`` at 0; its positive roots are
    ``lambda_- < lambda_+`` (product ``delta^2 / q1^2``).

    Example:
        >>> s = memory1_critical_scales(1e-4, 0.5, -0.5 - 1e-4 * 100.0)   # alpha_eff = 100
        >>> round(float(s.lambda_minus / s.lambda_minus_approx), 2)
        1.0
    """
    d, a, b = triplet(delta, q0, q1)
    Bc = 2.0 * (2.0 - d) * b + 4.0 * a
    q2 = b * b
    gap = Bc * Bc - 4.0 * q2 * d * d
    has = (Bc < 0) & (gap > 0)
    sq = jnp.sqrt(jnp.where(has, gap, 0.0))
    quad = q2 > 0
    safe_q2 = jnp.where(quad, q2, 1.0)
    lam_plus_q = (-Bc + sq) / (2.0 * safe_q2)
    lam_minus_q = d * d / (safe_q2 * jnp.where(has, lam_plus_q, 1.0))
    # q1 = 0: disc = delta^2 + 4 q0 lambda is linear
    lin = (~quad) & (a < 0)
    lam_minus_l = d * d / (-4.0 * jnp.where(lin, a, -1.0))
    lam_minus = jnp.where(quad, jnp.where(has, lam_minus_q, jnp.nan), jnp.where(lin, lam_minus_l, jnp.nan))
    lam_plus = jnp.where(quad, jnp.where(has, lam_plus_q, jnp.nan), jnp.where(lin, jnp.inf, jnp.nan))
    ae = -(a + b) / d
    return CriticalScales(lam_minus, lam_plus, d / (4.0 * ae), 4.0 * d * ae / q2)
