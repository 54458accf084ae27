"""Memory-1 parametrisations: the triplet ``(delta, q0, q1)``, the matrix form, the PyTorch form.

Theory: ``docs/theory/sgd_memory.md`` §6.1 (and §2.5, §7.1). A stationary memory-1 algorithm is,
for quadratic problems, fully described by the triplet ``(delta, q0, q1)`` of its multistep
form (8)

.. math::  P(\\mu) = (\\mu - 1)(\\mu - 1 + \\delta),\\qquad Q(\\mu) = q_0 + q_1\\mu,\\qquad
           \\chi_\\lambda(\\mu) = P(\\mu) - \\lambda Q(\\mu),

with ``beta = 1 - delta`` and ``alpha_eff = -(q0 + q1) / delta``. This module converts between
the triplet, the matrix form (3) (five scalars ``alpha, a, b, c, D``: the constructors
:func:`jaxaccel.memory1_triplet` and :func:`jaxaccel.am1_form` build those) and the
PyTorch-style decoupled form (250) ``(eta, eta', beta)``. Theorem 6 (strict stability, circle,
critical scales) is in :mod:`jaxaccel.theory.memory1`.

All functions are pure ``jax.numpy`` code on broadcastable arrays (``jit``/``vmap``-friendly);
inputs are validated eagerly when they are concrete.
"""

from __future__ import annotations

from typing import NamedTuple, Union

import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.algorithms.polynomials import characteristic_polynomials



#: A real parameter of the memory-1 formulas: a float or an array; the arguments of one call
#: broadcast against each other (batch shape ``*B``).
Param = Union[float, Float[ArrayLike, "*#B"]]


class Memory1Triplet(NamedTuple):
    """Multistep triplet of a memory-1 algorithm (theory §6.1): ``P = (mu-1)(mu-1+delta)``,
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



def _check_nonzero(x, name, why):
    if V.is_concrete(x) and bool(jnp.any(x == 0)):
        raise ValueError(f"{name} must be non-zero ({why})")


# ----------------------------------------------------------------------------- conversions
def triplet(delta: Param, q0: Param, q1: Param) -> Memory1Triplet:
    """Validated :class:`Memory1Triplet` (finite arrays, broadcast to a common shape).

    The multistep triplet of theory §6.1: ``P = (mu - 1)(mu - 1 + delta)``, ``Q = q0 + q1 mu``.

    Example:
        >>> t = triplet(0.1, 0.5, -0.7)
        >>> round(float(t.alpha_eff), 12)   # -(q0 + q1) / delta
        2.0
    """
    d, a, b = V.finite_array(delta, "delta"), V.finite_array(q0, "q0"), V.finite_array(q1, "q1")
    d, a, b = jnp.broadcast_arrays(d, a, b)
    return Memory1Triplet(d, a, b)


def triplet_from_effective(delta: Param, alpha_eff: Param, q0: Param) -> Memory1Triplet:
    """The triplet from ``(delta, alpha_eff, q0)``: ``q1 = -q0 - delta alpha_eff`` (theory §6.1).

    Example:
        >>> t = triplet_from_effective(0.01, 10.0, 0.5)
        >>> round(float(t.q1), 12)
        -0.6
    """
    d, ae, a = V.finite_array(delta, "delta"), V.finite_array(alpha_eff, "alpha_eff"), V.finite_array(q0, "q0")
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
    check_algorithm(algorithm, finite=False)
    if algorithm.memory != 1:
        raise ValueError(f"algorithm must have memory M = 1, got M = {algorithm.memory}")
    if not algorithm.is_stationary:
        raise ValueError("algorithm must be stationary (a schedule has one triplet per step)")
    P, Q = characteristic_polynomials(algorithm)
    return Memory1Triplet(1.0 - P[0], Q[0], Q[1])


def triplet_from_torch(eta: Param, eta_prime: Param, beta: Param) -> Memory1Triplet:
    """Triplet of the decoupled form (250) (theory §7.1).

    .. math::  q_1 = -(\\eta + \\eta'),\\qquad q_0 = \\beta\\eta',\\qquad \\delta = 1 - \\beta.

    Example:
        >>> t = triplet_from_torch(0.1, 0.5, 0.9)
        >>> [round(float(x), 12) for x in t]
        [0.1, 0.45, -0.6]
    """
    e, ep, b = V.finite_array(eta, "eta"), V.finite_array(eta_prime, "eta_prime"), V.finite_array(beta, "beta")
    e, ep, b = jnp.broadcast_arrays(e, ep, b)
    return Memory1Triplet(1.0 - b, b * ep, -(e + ep))


def torch_from_triplet(delta: Param, q0: Param, q1: Param) -> TorchForm:
    """Decoupled form (250) of a triplet (theory §7.1).

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
