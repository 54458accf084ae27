"""Characteristic polynomials, the multistep form and the effective learning rate.

Theory: ``docs/theory/sgd_memory.md`` §2.4 (``P``, ``Q`` of (29), (36)), §2.5 (multistep form,
Theorem 1) and §2.6 (effective learning rate (22)).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel._typing import ArrayLike, Float
from jaxaccel.algorithms.base import MemoryAlgorithm, shift_free


# ------------------------------------------------------------------- polynomials (Theorem 1)
def _charpoly(A):
    """Coefficients (ascending) of ``det(mu I - A)`` by Faddeev-LeVerrier; ``A``: (..., K, K)."""
    K = A.shape[-1]
    eye = jnp.eye(K, dtype=A.dtype)
    coeffs = [jnp.ones(A.shape[:-2], A.dtype)]  # c_K = 1 (descending accumulation)
    Mk = jnp.zeros_like(A)
    for k in range(1, K + 1):
        Mk = A @ Mk + coeffs[-1][..., None, None] * eye
        coeffs.append(-jnp.trace(A @ Mk, axis1=-2, axis2=-1) / k)
    return jnp.stack(coeffs[::-1], axis=-1)  # ascending: index m -> coefficient of mu^m


def characteristic_polynomials(alg: MemoryAlgorithm) -> Tuple[jax.Array, jax.Array]:
    """``(P, Q)`` with ``det(mu - S_lambda) = P(mu) - lambda Q(mu)`` (theory §2.4, eq. 36).

    Returns ascending coefficient arrays: ``P`` of length ``M+2`` (monic, ``P(1) = 0``) and ``Q``
    of length ``M+1``, so that the multistep form (8) has ``p_m = -P[m]`` (m <= M), ``q_m = Q[m]``.
    Since ``S_lambda = S0 + lambda v wbar^T`` is affine in ``lambda``, ``P = charpoly(S0)`` and
    ``Q = charpoly(S0) - charpoly(S0 + v wbar^T)``. A schedule gives a leading time axis.

    Example:
        >>> import jaxaccel as ja
        >>> P, Q = ja.characteristic_polynomials(ja.heavy_ball(0.4, 0.9))  # (mu-1)(mu-0.9), -0.4 mu
        >>> [round(float(x), 12) + 0.0 for x in P], [round(float(x), 12) + 0.0 for x in Q]
        ([0.9, -1.9, 1.0], [0.0, -0.4])
    """
    S0, v, wbar = alg.transition_parts()
    P = _charpoly(S0)
    Q = (P - _charpoly(S0 + v[..., :, None] * wbar[..., None, :]))[..., :-1]
    return P, Q


def from_multistep(P: Float[jax.Array, "*T M+2"], Q: Float[jax.Array, "*T M+1"]) -> MemoryAlgorithm:
    """Converse of Theorem 1: a realisation (3) with ``a = 0`` of the multistep pair ``(P, Q)``.

    ``D`` is the companion matrix of ``R = P / (mu - 1)`` (top-row form, for which
    ``adj(mu - D) e_1 = (mu^{M-1}, ..., 1)``), ``c = e_1``, ``alpha = -Q[M]`` and ``b_j`` is the
    coefficient of ``mu^{M-j}`` in ``Q + alpha R`` (theory §2.5).

    Args:
        P: ascending coefficients, length ``M+2``, monic with ``P(1) = 0``.
        Q: ascending coefficients, length ``<= M+1``.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.from_multistep([0.9, -1.9, 1.0], [0.0, -0.4])       # Heavy Ball (0.4, 0.9)
        >>> [[round(float(x), 12) + 0.0 for x in c] for c in ja.characteristic_polynomials(alg)]
        [[0.9, -1.9, 1.0], [0.0, -0.4]]
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if P.ndim != 1 or P.shape[0] < 2:
        raise ValueError(f"P must be 1-D with at least 2 coefficients, got shape {P.shape}")
    if not np.all(np.isfinite(P)) or not np.all(np.isfinite(Q)):
        raise ValueError("P and Q must be finite")
    M = P.shape[0] - 2
    if abs(P[-1] - 1.0) > 1e-12:
        raise ValueError(f"P must be monic (leading coefficient 1), got {P[-1]}")
    if abs(P.sum()) > 1e-10 * max(1.0, np.abs(P).sum()):
        raise ValueError(f"P must satisfy P(1) = 0, got P(1) = {P.sum()}")
    if Q.ndim != 1 or Q.shape[0] > M + 1:
        raise ValueError(f"Q must be 1-D of length <= M+1 = {M + 1}, got shape {Q.shape}")
    Q = np.concatenate([Q, np.zeros(M + 1 - Q.shape[0])])
    # synthetic division R = P / (mu - 1), ascending coefficients, degree M, monic
    desc = P[::-1]
    R_desc = np.zeros(M + 1)
    acc = 0.0
    for i in range(M + 1):
        acc = desc[i] + acc
        R_desc[i] = acc
    R = R_desc[::-1]
    return companion_realisation(R, Q)


def companion_realisation(R: Float[ArrayLike, "M+1"], Q: Float[ArrayLike, "M+1"]) -> MemoryAlgorithm:
    """The ``a = 0`` realisation of Theorem 1 (theory §2.5) from ``R = P/(mu - 1)`` and ``Q``
    (ascending coefficients, ``R`` monic of degree ``M``, ``Q`` of length ``M + 1``); traceable
    (``jit``/``vmap``/``grad``), the core of :func:`from_multistep`.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.companion_realisation([-0.9, 1.0], [0.0, -0.4])      # Heavy Ball (0.4, 0.9)
        >>> round(float(ja.effective_learning_rate(alg)), 12)
        4.0
    """
    R = jnp.asarray(R, jnp.result_type(float))
    Q = jnp.asarray(Q, R.dtype)
    M = R.shape[-1] - 1
    alpha = -Q[M]
    rem = Q + alpha * R  # degree <= M-1
    D = jnp.zeros((M, M), R.dtype)
    if M > 0:
        D = D.at[0, :].set(-R[M - 1 :: -1][:M])  # -(r_{M-1}, ..., r_0)
        D = D.at[1:, :-1].set(jnp.eye(M - 1, dtype=R.dtype))
    b = jnp.stack([rem[M - j] for j in range(1, M + 1)]) if M > 0 else jnp.zeros((0,), R.dtype)
    c = jnp.zeros((M,), R.dtype)
    if M > 0:
        c = c.at[0].set(1.0)
    return shift_free(MemoryAlgorithm(alpha, jnp.zeros((M,), R.dtype), b, c, D))


def memory2(s: Float[ArrayLike, ""], p: Float[ArrayLike, ""], q0: Float[ArrayLike, ""],
            q1: Float[ArrayLike, ""], q2: Float[ArrayLike, ""]) -> MemoryAlgorithm:
    """The memory-2 method (``a = 0``) with ``P = (mu - 1)(mu^2 - s mu + p)`` and
    ``Q = q0 + q1 mu + q2 mu^2`` (theory §16, via Theorem 1 of §2.5); traceable.

    ``mu^2 - s mu + p`` is the characteristic polynomial of ``D`` (memory eigenvalues with sum
    ``s`` and product ``p``); ``alpha_eff = -(q0 + q1 + q2) / (1 - s + p)``.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.memory2(1.5, 0.56, 0.2, 0.1, -0.4)
        >>> round(float(ja.effective_learning_rate(alg)), 12)    # 0.1 / 0.06
        1.666666666667
    """
    one = jnp.ones_like(jnp.asarray(s, jnp.result_type(float)))
    return companion_realisation(jnp.stack([p * one, -s * one, one]),
                                 jnp.stack([q0 * one, q1 * one, q2 * one]))


def effective_learning_rate(alg: MemoryAlgorithm) -> Float[jax.Array, "*T"]:
    """:math:`\\alpha_{\\rm eff} = \\alpha - b^T (1 - D)^{-1} c = -Q(1)/P'(1)` (eq. 22).

    Independent of the shift ``a``. For a schedule, the momentary value at each step.

    Example:
        >>> import jaxaccel as ja
        >>> round(float(ja.effective_learning_rate(ja.memory1_triplet(0.02, 0.5, -0.7))), 12)
        10.0
    """
    M = alg.memory
    if M == 0:
        return alg.alpha
    eye = jnp.eye(M, dtype=alg.dtype)
    x = jnp.linalg.solve(eye - alg.D, alg.c[..., None])[..., 0]
    return alg.alpha - jnp.sum(alg.b * x, axis=-1)
