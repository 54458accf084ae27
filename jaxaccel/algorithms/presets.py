"""Constructors of the named memory-M methods as :class:`MemoryAlgorithm` (theory §2.2).

GD, Heavy Ball, Nesterov, PyTorch-style momentum, the general 5-parameter memory-1 method, the
decoupled (AM1) form (250) and the memory-1 triplet ``(delta, q0, q1)`` of §6.1.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import StepSize
from jaxaccel.algorithms.base import MemoryAlgorithm, shift_free



def _vec(x, name, dtype=None):
    x = V.as_float_array(x, name, dtype)
    V.check_ndim(x, name, (0, 1))
    V.check_finite(x, name)
    return x


# ----------------------------------------------------------------------------- constructors
def gd(alpha: StepSize) -> MemoryAlgorithm:
    """Plain (S)GD, ``w_{t+1} = w_t - alpha_t grad L(w_t)`` (memory ``M = 0``).

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.gd(0.5)
        >>> alg.memory, float(ja.effective_learning_rate(alg))
        (0, 0.5)
        >>> ja.gd([1.0, 0.5, 0.25]).num_steps          # a schedule: leading time axis
        3
    """
    alpha = _vec(alpha, "alpha")
    lead = alpha.shape
    z = jnp.zeros(lead + (0,), alpha.dtype)
    return shift_free(MemoryAlgorithm(alpha, z, z, z, jnp.zeros(lead + (0, 0), alpha.dtype)))


def memory1(alpha: StepSize, a: StepSize, b: StepSize, c: StepSize, D: StepSize) -> MemoryAlgorithm:
    """General memory-1 algorithm from its five scalars (theory §2.2); each may be a schedule.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.memory1(0.3, 0.2, 0.8, -0.3, 0.8)   # alpha, a, b, c, D
        >>> S = alg.transition_matrix(1.0)                 # S_lambda of eq. (7) at lambda = 1
        >>> [[round(float(x), 12) for x in row] for row in S]
        [[0.7, 0.74], [-0.3, 0.74]]
    """
    alpha = _vec(alpha, "alpha")
    vals = [_vec(x, n, alpha.dtype) for x, n in ((a, "a"), (b, "b"), (c, "c"), (D, "D"))]
    shapes = {n: x.shape for n, x in zip(("alpha", "a", "b", "c", "D"), [alpha] + vals)}
    lead = max(shapes.values(), key=len)
    if any(s not in ((), lead) for s in shapes.values()):
        raise ValueError(f"memory-1 parameters must be scalars or schedules of one length: {shapes}")
    alpha, a, b, c, D = [jnp.broadcast_to(x, lead) for x in [alpha] + vals]
    return MemoryAlgorithm(alpha, a[..., None], b[..., None], c[..., None], D[..., None, None])


def heavy_ball(alpha: StepSize, beta: StepSize) -> MemoryAlgorithm:
    """Heavy Ball (4): ``w_{t+1} = w_t - alpha grad L(w_t) + beta (w_t - w_{t-1})``.

    Matrix form: ``b = D = beta``, ``c = -alpha``, ``a = 0``.

    Example:
        >>> import jaxaccel as ja
        >>> round(float(ja.effective_learning_rate(ja.heavy_ball(0.4, 0.9))), 12)  # alpha/(1-beta)
        4.0
    """
    alpha, beta = _vec(alpha, "alpha"), _vec(beta, "beta")
    return shift_free(memory1(alpha, jnp.zeros_like(beta), beta, -alpha, beta))


def nesterov(alpha: StepSize, beta: StepSize) -> MemoryAlgorithm:
    """Nesterov (5): Heavy Ball with the gradient taken at ``w_t + beta u_t`` (``a = beta``).

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.nesterov(0.3, 0.8)
        >>> float(alg.a[0]), round(float(ja.effective_learning_rate(alg)), 12)
        (0.8, 1.5)
    """
    alpha, beta = _vec(alpha, "alpha"), _vec(beta, "beta")
    return memory1(alpha, beta, beta, -alpha, beta)


def torch_momentum(lr: StepSize, momentum: StepSize, nesterov: bool = False) -> MemoryAlgorithm:
    """PyTorch SGD-momentum ``v <- mu v + g; w <- w - lr v`` (``nesterov=False``).

    Matrix form ``alpha = lr, b = -lr mu, c = 1, D = mu`` (equivalent to HB with ``beta = mu``).
    With ``nesterov=True`` PyTorch steps ``w <- w - lr (g + mu v)``, i.e. the decoupled form (250)
    with ``eta = lr mu`` and ``eta' = lr`` (see :func:`am1_form`).

    Example:
        >>> import jaxaccel as ja, numpy as np
        >>> S1 = ja.torch_momentum(0.1, 0.9).transition_matrix(0.5)
        >>> bool(np.allclose(np.linalg.eigvals(S1), np.linalg.eigvals(
        ...     ja.heavy_ball(0.1, 0.9).transition_matrix(0.5))))   # same dynamics as HB
        True
    """
    lr, mu = _vec(lr, "lr"), _vec(momentum, "momentum")
    if nesterov:
        return am1_form(lr * mu, lr, mu)
    return shift_free(memory1(lr, jnp.zeros_like(mu), -lr * mu, jnp.ones_like(mu), mu))


def am1_form(eta: StepSize, eta_prime: StepSize, beta: StepSize) -> MemoryAlgorithm:
    """Decoupled momentum (250): ``v <- beta v + g;  w <- w - eta v - eta' g``.

    Matrix form ``alpha = eta + eta', b = -eta beta, c = 1, D = beta, a = 0`` (theory §7.1).

    Example:
        >>> import jaxaccel as ja
        >>> round(float(ja.effective_learning_rate(ja.am1_form(0.5, 0.1, 0.9))), 12)  # eta/(1-beta)+eta'
        5.1
    """
    eta, etap, beta = _vec(eta, "eta"), _vec(eta_prime, "eta_prime"), _vec(beta, "beta")
    return shift_free(
        memory1(eta + etap, jnp.zeros_like(beta), -eta * beta, jnp.ones_like(beta), beta)
    )


def memory1_triplet(delta: StepSize, q0: StepSize, q1: StepSize) -> MemoryAlgorithm:
    """Memory-1 from the triplet ``(delta, q0, q1)``: ``P = (mu-1)(mu-1+delta)``, ``Q = q0 + q1 mu``.

    Realisation with ``a = 0`` (theory §6.1): ``alpha = -q1, c = 1, D = beta = 1 - delta,
    b = q0 + q1 beta``.

    Example:
        >>> import jaxaccel as ja
        >>> P, Q = ja.characteristic_polynomials(ja.memory1_triplet(0.1, 0.5, -0.7))
        >>> [round(float(x), 12) + 0.0 for x in P], [round(float(x), 12) + 0.0 for x in Q]
        ([0.9, -1.9, 1.0], [0.5, -0.7])
    """
    delta, q0, q1 = _vec(delta, "delta"), _vec(q0, "q0"), _vec(q1, "q1")
    beta = 1.0 - delta
    return shift_free(
        memory1(-q1, jnp.zeros_like(beta), q0 + q1 * beta, jnp.ones_like(beta), beta)
    )
