"""Sums of the signal and noise propagators over all times (theory §5.3 and §6.4).

:math:`U_\\Sigma,\\tilde U_\\Sigma,V_\\Sigma,\\tilde V_\\Sigma` for any memory ``M`` by a
linear solve per eigenvalue (:func:`propagator_sums`), with the closed forms for Heavy Ball
(:func:`heavy_ball_sums`) and memory-1 with ``tau2 = 0`` (:func:`memory1_sums`, eq. 25). They
decide noisy stability (``U~_Sigma < 1``, Theorems 3 and 8) and enter the loss constants.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple, Union

import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.moments.engine import pairwise_sum
from jaxaccel.noise import NoiseModel, as_noise_model
from jaxaccel.propagators.operator import (check_stationary, node_map, packet_vectors,
                                           shifted_matrix, stable_from_shifted)
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum


def _noise(batch_size, tau, dtype):
    """``(1/b, tau1, tau2)`` as arrays; ``batch_size=None`` is full batch (``1/b = 0``)."""
    noise = as_noise_model(batch_size, tau)
    t = noise.tau(dtype)
    return noise.inverse_batch(dtype), t[0], t[1]



# =============================================================================== results
class PropagatorSums(NamedTuple):
    """Sums of the propagators over ``n >= 1`` (theory §5.3).

    Attributes:
        U: :math:`U_\\Sigma = \\sum_n U_n` (noise, ends at a loss-evaluation time).
        U_tilde: :math:`\\tilde U_\\Sigma` (noise, ends at a gradient-evaluation point).
        V: :math:`V_\\Sigma` (signal).
        V_tilde: :math:`\\tilde V_\\Sigma`.
        stable: bool, :math:`\\mathcal A_\\lambda` strictly stable (spectral radius < 1 on
            symmetric matrices) on every node; otherwise all four sums are ``+inf``.
    """

    U: jax.Array
    U_tilde: jax.Array
    V: jax.Array
    V_tilde: jax.Array
    stable: jax.Array


def _sums_kernel(lam, m, c2, parts, inv_b, tau1, tau2, chunk=None):
    S0, v, w = parts
    eps = tau2 * inv_b
    rE, rV, lE, lW = packet_vectors(v, w)
    rhs = jnp.stack([rE, rV], axis=-1)
    P = rE.shape[0]

    def node(x):
        lam_k, m_k, c2_k = x
        B = shifted_matrix(lam_k, S0, v, w, eps)
        sol = jnp.linalg.solve(B, rhs)
        ok = stable_from_shifted(B)
        xs, xn = sol[:, 0], sol[:, 1]
        sig = lam_k * c2_k
        noi = m_k * lam_k * lam_k
        return jnp.stack([noi * (lE @ xn), noi * (lW @ xn), sig * (lE @ xs), sig * (lW @ xs)]), ok

    terms, ok = node_map(node, (lam, m, c2), lam.shape[0], 4 * P * P + 8 * P, chunk)
    return _finish_sums(terms, ok, tau1 * inv_b)


def _finish_sums(terms, ok, noise_scale):
    s = pairwise_sum(terms.T)
    stable = jnp.all(ok)
    scale = jnp.stack([noise_scale, noise_scale, jnp.ones_like(noise_scale), jnp.ones_like(noise_scale)])
    s = jnp.where(stable, s * scale, jnp.inf)
    return PropagatorSums(s[0], s[1], s[2], s[3], stable)


_sums_jit = jax.jit(_sums_kernel, static_argnames=("chunk",))


def propagator_sums(spectrum: Spectrum, algorithm: MemoryAlgorithm,
                    batch_size: Union[None, Scalar, NoiseModel],
                    tau: Optional[Tuple[Scalar, Scalar]] = None,
                    chunk: Optional[int] = None) -> PropagatorSums:
    """Propagator sums for any memory ``M`` and any ``tau`` by a linear solve per eigenvalue.

    .. math::  U_\\Sigma = \\frac{\\tau_1}{b}\\sum_k m_k\\lambda_k^2\\big\\langle E_{11},
               (I-\\mathcal A_{\\lambda_k})^{-1}(vv^T)\\big\\rangle,\\qquad
               V_\\Sigma = \\sum_k\\lambda_kc_k^2\\big\\langle E_{11},
               (I-\\mathcal A_{\\lambda_k})^{-1}(E_{11})\\big\\rangle

    (theory §5.3; tildes: :math:`\\bar w\\bar w^T` on the left; ``m_k`` = ``spectrum.weights``).
    Each node solves a ``P x P`` system (``P = (M+1)(M+2)/2``) for :math:`I-\\mathcal A_\\lambda`
    written without cancellation at small ``lambda``. Nodes are processed in ``vmap`` chunks
    under ``lax.map``; the function is pure and ``jit``/``vmap``-friendly in the algorithm
    parameters, ``batch_size`` and ``tau``.

    Args:
        spectrum: the problem, ``N`` nodes.
        algorithm: a *stationary* :class:`~jaxaccel.algorithms.MemoryAlgorithm` (a schedule
            raises ``ValueError``).
        batch_size: positive scalar, or ``None`` (full batch: ``U = U~ = 0``).
        tau: ``(tau1, tau2)`` of the SE noise model (15).
        chunk: nodes per vectorised batch (default: sized from a memory budget).

    Returns:
        :class:`PropagatorSums`; all sums are ``+inf`` and ``stable`` is ``False`` when
        :math:`\\mathcal A_\\lambda` has spectral radius ``>= 1`` on some node.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.Spectrum([1.0, 0.1], [1.0, 1.0])
        >>> r = propagator_sums(s, ja.gd(0.5), batch_size=4, tau=(1.0, 0.0))
        >>> # plain SGD: U = tau1/b sum_k alpha lam_k / (2 - alpha lam_k)
        >>> round(float(r.U), 12) == round(0.25 * (0.5 / 1.5 + 0.05 / 1.95), 12)
        True
    """
    check_spectrum(spectrum)
    alg = check_stationary(algorithm).astype(spectrum.dtype)
    inv_b, tau1, tau2 = _noise(batch_size, tau, spectrum.dtype)
    if chunk is not None:
        chunk = V.check_positive_int(chunk, "chunk")
    return _sums_jit(spectrum.eigenvalues, spectrum.weights, spectrum.c2,
                     alg.transition_parts(), inv_b, tau1, tau2, chunk=chunk)


def _hb_parts(alpha, beta):
    one = jnp.ones((1,), alpha.dtype)
    S0 = jnp.stack([jnp.concatenate([one, beta[None]]),
                    jnp.concatenate([0.0 * one, beta[None]])])
    v = jnp.stack([-alpha, -alpha])
    w = jnp.concatenate([one, 0.0 * one])
    return S0, v, w


def _hb_kernel(lam, m, c2, alpha, beta, inv_b, tau1, tau2):
    eps = tau2 * inv_b
    parts = _hb_parts(alpha, beta)
    al = alpha * lam
    den = 2.0 * (1.0 - beta * beta) - al * (1.0 - beta) + eps * al * (1.0 + beta)
    u = m * al * (1.0 + beta) / den
    vs = c2 * (2.0 * beta * al + (1.0 - beta) * (1.0 - beta * beta)) / (alpha * den)

    def node(lam_k):
        return stable_from_shifted(shifted_matrix(lam_k, *parts, eps))

    ok = node_map(node, lam, lam.shape[0], 40)
    return _finish_sums(jnp.stack([u, u, vs, vs], axis=-1), ok, tau1 * inv_b)


_hb_jit = jax.jit(_hb_kernel)


def heavy_ball_sums(spectrum: Spectrum, alpha: Scalar, beta: Scalar,
                    batch_size: Union[None, Scalar, NoiseModel],
                    tau: Optional[Tuple[Scalar, Scalar]] = None) -> PropagatorSums:
    """Closed-form sums for Heavy Ball (4) (``a = 0``, so tildes equal the plain sums), any tau.

    .. math::
        U_\\Sigma = \\frac{\\tau_1}{b}\\sum_k \\frac{m_k\\alpha(1+\\beta)\\lambda_k}{d_k},\\qquad
        V_\\Sigma = \\sum_k \\lambda_kc_k^2\\,\\frac{2\\alpha\\beta\\lambda_k+(1-\\beta)(1-\\beta^2)}
                    {\\alpha\\lambda_k\\,d_k},

    with :math:`d_k = 2(1-\\beta^2)-\\alpha\\lambda_k(1-\\beta)+\\frac{\\tau_2}{b}\\alpha
    \\lambda_k(1+\\beta)` (theory §5.3). ``beta = 0`` is plain SGD. Strict stability of
    :math:`\\mathcal A_\\lambda` on every node is checked exactly (Jury test).

    Args:
        spectrum: the problem.
        alpha, beta: scalars (traced values are fine; ``vmap`` sweeps them).
        batch_size: positive scalar or ``None`` (full batch).
        tau: ``(tau1, tau2)``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=1.5, zeta=0.5)
        >>> a = heavy_ball_sums(s, 0.3, 0.6, batch_size=8)
        >>> b = propagator_sums(s, ja.heavy_ball(0.3, 0.6), batch_size=8)
        >>> bool(abs(a.U - b.U) < 1e-12 * b.U), bool(abs(a.V - b.V) < 1e-12 * b.V)
        (True, True)
    """
    check_spectrum(spectrum)
    dtype = spectrum.dtype
    alpha = V.finite_scalar(alpha, "alpha", dtype)
    beta = V.finite_scalar(beta, "beta", dtype)
    inv_b, tau1, tau2 = _noise(batch_size, tau, dtype)
    return _hb_jit(spectrum.eigenvalues, spectrum.weights, spectrum.c2, alpha, beta,
                   inv_b, tau1, tau2)


def _m1_kernel(lam, m, c2, delta, q0, q1, inv_b, tau1):
    beta = 1.0 - delta
    da = -(q0 + q1)  # delta * alpha_eff
    qd = q0 - q1  # = 2 q0 + delta alpha_eff
    lq0 = lam * q0
    minus = 2.0 * (2.0 - delta) - lam * qd  # chi(-1) > 0
    u = m * lam * ((2.0 - delta) * da + lam * q0 * qd) / ((delta + lq0) * minus)
    vs = c2 * ((1.0 + beta) * delta * delta - lam * ((1.0 + beta * beta) * q0 + 2.0 * beta * q1)) / (
        da * (delta + lq0) * minus)
    # Schur-Cohn for chi(mu) = mu^2 - (1 + beta + lam q1) mu + (beta - lam q0), per node
    ok = (lam * da > 0) & (minus > 0) & (jnp.abs(beta - lq0) < 1.0)
    return _finish_sums(jnp.stack([u, u, vs, vs], axis=-1), ok, tau1 * inv_b)


_m1_jit = jax.jit(_m1_kernel)


def memory1_sums(spectrum: Spectrum, delta: Scalar, q0: Scalar, q1: Scalar, batch_size: Scalar,
                 tau1: Scalar = 1.0) -> PropagatorSums:
    """Closed-form sums (eq. 25 and §6.4) for memory-1 ``(delta, q0, q1)``, ``a = 0``, ``tau2 = 0``.

    .. math::
        U_\\Sigma = \\frac{\\tau_1}{b}\\sum_k m_k\\lambda_k\\,
            \\frac{(2-\\delta)\\delta\\alpha_{\\rm eff}+\\lambda_kq_0(q_0-q_1)}
                 {(\\delta+\\lambda_kq_0)\\,(2(2-\\delta)-\\lambda_k(q_0-q_1))},

    .. math::
        V_\\Sigma = \\sum_k\\lambda_kc_k^2\\,
            \\frac{(1+\\beta)\\delta^2-\\lambda_k((1+\\beta^2)q_0+2\\beta q_1)}
                 {\\lambda_k\\delta\\alpha_{\\rm eff}(\\delta+\\lambda_kq_0)
                  (2(2-\\delta)+\\lambda_k(q_1-q_0))},

    with :math:`\\beta = 1-\\delta`, :math:`\\delta\\alpha_{\\rm eff} = -(q_0+q_1)`; tildes equal
    the plain sums. Stability: :math:`S_\\lambda` (hence :math:`\\mathcal A_\\lambda =
    S_\\lambda\\otimes S_\\lambda`) strictly stable on every node (Schur-Cohn on
    :math:`\\chi_\\lambda`, as in (227)).

    Args:
        spectrum: the problem.
        delta, q0, q1: scalars (``vmap`` sweeps them).
        batch_size: positive scalar or ``None`` (full batch).
        tau1: the ``tau1`` of the SE model (``tau2 = 0``).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> a = memory1_sums(s, 0.1, 0.5, -0.6, batch_size=10)
        >>> b = propagator_sums(s, ja.memory1_triplet(0.1, 0.5, -0.6), 10, tau=(1.0, 0.0))
        >>> bool(abs(a.U - b.U) < 1e-12 * b.U), bool(abs(a.V - b.V) < 1e-12 * b.V)
        (True, True)
    """
    check_spectrum(spectrum)
    dtype = spectrum.dtype
    delta = V.finite_scalar(delta, "delta", dtype)
    q0 = V.finite_scalar(q0, "q0", dtype)
    q1 = V.finite_scalar(q1, "q1", dtype)
    t1 = V.finite_scalar(tau1, "tau1", dtype)
    inv_b, _, _ = _noise(batch_size, None, dtype)
    return _m1_jit(spectrum.eigenvalues, spectrum.weights, spectrum.c2, delta, q0, q1, inv_b, t1)
