"""Signal and noise propagators of the SE dynamics and their sums (spec §4, §5.3, §6.4).

Per eigenvalue the second-moment blocks evolve, between noise injections, under the linear map
on symmetric ``(M+1) x (M+1)`` matrices (16)

.. math::  \\mathcal A_\\lambda(Z) = S_\\lambda Z S_\\lambda^T
           - \\frac{\\tau_2}{b}\\lambda^2 (\\bar w^T Z \\bar w)\\, v v^T .

On row-major ``vec`` it is the ``K^2 x K^2`` matrix
``kron(S, S) - (tau2/b) lambda^2 vec(v v^T) vec(wbar wbar^T)^T`` (:func:`transition_operator`).
The propagator sums of §5.3 are resolvent sums over the nodes (weighted by multiplicities for
the noise injections):

.. math::
    U_\\Sigma = \\frac{\\tau_1}{b}\\sum_k m_k\\lambda_k^2
        \\langle E_{11}, (I-\\mathcal A_{\\lambda_k})^{-1}(vv^T)\\rangle,\\qquad
    V_\\Sigma = \\sum_k \\lambda_k c_k^2
        \\langle E_{11}, (I-\\mathcal A_{\\lambda_k})^{-1}(E_{11})\\rangle,

and the tilde versions read out with ``wbar wbar^T`` instead of ``E_11``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel.algorithms import MemoryAlgorithm
from jaxaccel.moments import pairwise_sum
from jaxaccel.spectra import Spectrum


class PropagatorSums(NamedTuple):
    """Sums of the stationary propagators (spec §5.3).

    Attributes:
        U, U_tilde: noise sums ``U_Sigma``, ``U~_Sigma`` (``0`` for full batch).
        V, V_tilde: signal sums ``V_Sigma``, ``V~_Sigma``.
        stable: ``A_lambda`` strictly stable on every node; when ``False`` all sums are ``+inf``.
    """

    U: jax.Array
    U_tilde: jax.Array
    V: jax.Array
    V_tilde: jax.Array
    stable: jax.Array


def _noise(batch_size, tau, dtype):
    """``(tau1/b, tau2/b)``; zeros for full batch (``batch_size=None``)."""
    tau = V.as_float_array(tau, "tau", dtype)
    if tau.shape != (2,):
        raise ValueError(f"tau must be a pair (tau1, tau2), got shape {tau.shape}")
    V.check_finite(tau, "tau")
    if batch_size is None:
        return jnp.zeros((), dtype), jnp.zeros((), dtype)
    b = V.as_float_array(batch_size, "batch_size", dtype)
    V.check_ndim(b, "batch_size", 0)
    V.check_finite(b, "batch_size")
    V.check_positive(b, "batch_size")
    return tau[0] / b, tau[1] / b


def _stationary(algorithm):
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"algorithm must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    if not algorithm.is_stationary:
        raise ValueError("algorithm must be stationary (propagator sums are defined for fixed "
                         "parameters); evaluate a schedule step by step with algorithm.at(t)")
    return algorithm


def _check_spectrum(spectrum):
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")


def transition_operator(algorithm: MemoryAlgorithm, lam, t2b=0.0):
    """The matrix of ``A_lambda`` (16) on row-major ``vec``: shape ``lam.shape + (K^2, K^2)``.

    Args:
        algorithm: stationary :class:`MemoryAlgorithm` (``K = M + 1``).
        lam: eigenvalue(s).
        t2b: ``tau2 / b`` (0 for ``tau2 = 0`` or full batch).
    """
    _, v, w = algorithm.transition_parts()
    S = algorithm.transition_matrix(lam)
    K = S.shape[-1]
    kron = jnp.einsum("...ij,...kl->...ikjl", S, S).reshape(S.shape[:-2] + (K * K, K * K))
    vv = jnp.outer(v, v).reshape(-1)
    ww = jnp.outer(w, w).reshape(-1)
    lam = jnp.asarray(lam)[..., None, None]
    return kron - t2b * lam**2 * vv[:, None] * ww[None, :]


def _node_resolvents(algorithm, lam, t2b):
    """Per node: ``<X, (I - A)^{-1} Y>`` for X in (E11, wbar wbar^T), Y in (v v^T, E11), and
    the spectral radius of ``A``."""
    _, v, w = algorithm.transition_parts()
    K = v.shape[0]
    A = transition_operator(algorithm, lam, t2b)
    e11 = jnp.zeros((K, K), A.dtype).at[0, 0].set(1.0).reshape(-1)
    vv = jnp.outer(v, v).reshape(-1)
    ww = jnp.outer(w, w).reshape(-1)
    rhs = jnp.stack([vv, e11], axis=-1)  # (K^2, 2)
    I = jnp.eye(K * K, dtype=A.dtype)
    sol = jnp.linalg.solve(I - A, jnp.broadcast_to(rhs, A.shape[:-2] + rhs.shape))
    radius = jnp.max(jnp.abs(jnp.linalg.eigvals(A)), axis=-1)
    return sol[..., 0] @ e11, sol[..., 0] @ ww, sol[..., 1] @ e11, sol[..., 1] @ ww, radius


def _assemble(spectrum, t1b, uE, uW, vE, vW, stable):
    lam, c2, m = spectrum.eigenvalues, spectrum.c2, spectrum.weights
    U = t1b * pairwise_sum(m * lam**2 * uE)
    Ut = t1b * pairwise_sum(m * lam**2 * uW)
    Vs = pairwise_sum(lam * c2 * vE)
    Vt = pairwise_sum(lam * c2 * vW)
    inf = jnp.asarray(jnp.inf, lam.dtype)
    return PropagatorSums(*(jnp.where(stable, x, inf) for x in (U, Ut, Vs, Vt)), stable)


def propagator_sums(spectrum: Spectrum, algorithm: MemoryAlgorithm, batch_size,
                    tau=(1.0, -1.0), chunk: int = 65536) -> PropagatorSums:
    """``U_Sigma, U~_Sigma, V_Sigma, V~_Sigma`` for any memory ``M`` and any ``tau`` (§5.3).

    Solves ``(I - A_lambda) X = Y`` per node (chunked over nodes with ``lax.map``). Unstable
    algorithms (spectral radius of ``A_lambda >= 1`` on some node) give ``+inf`` and
    ``stable=False``.

    Args:
        spectrum: the problem.
        algorithm: stationary :class:`MemoryAlgorithm` (a schedule is rejected).
        batch_size: positive number, or ``None`` for full batch (then ``U = U~ = 0``).
        tau: ``(tau1, tau2)``.
        chunk: nodes per batched solve.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=1.5, zeta=0.5)
        >>> r = ja.propagator_sums(s, ja.gd(1.0), batch_size=10, tau=(1.0, 0.0))
        >>> lam = s.eigenvalues
        >>> bool(abs(r.U - (lam / (2 - lam)).sum() / 10) < 1e-12)   # plain SGD closed form
        True
    """
    _check_spectrum(spectrum)
    alg = _stationary(algorithm).astype(spectrum.dtype)
    t1b, t2b = _noise(batch_size, tau, spectrum.dtype)
    lam = spectrum.eigenvalues
    n = lam.shape[0]
    chunk = max(1, min(int(chunk), n))
    pad = (-n) % chunk
    lam_p = jnp.concatenate([lam, jnp.full((pad,), lam[0], lam.dtype)]).reshape(-1, chunk)
    out = jax.lax.map(lambda l: _node_resolvents(alg, l, t2b), lam_p)
    uE, uW, vE, vW, rad = (x.reshape(-1)[:n] for x in out)
    stable = jnp.all(rad < 1.0) & jnp.all(jnp.isfinite(rad))
    return _assemble(spectrum, t1b, uE, uW, vE, vW, stable)


def heavy_ball_sums(spectrum: Spectrum, alpha, beta, batch_size, tau=(1.0, -1.0)) -> PropagatorSums:
    """Closed forms of §5.3 for Heavy Ball (``a = 0``, so ``U~ = U`` and ``V~ = V``):

    .. math::
        U_\\Sigma = \\frac{\\tau_1}{b}\\sum_k \\frac{m_k\\,\\alpha(1+\\beta)\\lambda_k}{d_k},\\quad
        V_\\Sigma = \\sum_k \\lambda_k c_k^2\\,
            \\frac{2\\alpha\\beta\\lambda_k + (1-\\beta)(1-\\beta^2)}{\\alpha\\lambda_k d_k},\\quad
        d_k = 2(1-\\beta^2) - \\alpha\\lambda_k(1-\\beta) + \\tfrac{\\tau_2}{b}\\alpha\\lambda_k(1+\\beta).

    Stable iff ``|beta| < 1``, ``0 < alpha lambda_k < 2 (1 + beta)`` and ``d_k > 0`` on all nodes.
    """
    _check_spectrum(spectrum)
    dt = spectrum.dtype
    alpha = V.as_float_array(alpha, "alpha", dt)
    beta = V.as_float_array(beta, "beta", dt)
    V.check_finite(alpha, "alpha")
    V.check_finite(beta, "beta")
    t1b, t2b = _noise(batch_size, tau, dt)
    lam = spectrum.eigenvalues
    al = alpha * lam
    d = 2 * (1 - beta**2) - al * (1 - beta) + t2b * al * (1 + beta)
    stable = (jnp.abs(beta) < 1) & jnp.all(al > 0) & jnp.all(al < 2 * (1 + beta)) & jnp.all(d > 0)
    uE = alpha * (1 + beta) / (lam * d)
    vE = (2 * beta * al + (1 - beta) * (1 - beta**2)) / (al * d)
    return _assemble(spectrum, t1b, uE, uE, vE, vE, stable)


def memory1_sums(spectrum: Spectrum, delta, q0, q1, batch_size, tau1=1.0) -> PropagatorSums:
    """Closed forms (25) for memory-1 in triplet form ``(delta, q0, q1)``, ``tau2 = 0``, ``a = 0``:

    .. math::
        U_\\Sigma = \\frac{\\tau_1}{b}\\sum_k m_k\\lambda_k
            \\frac{(2-\\delta)\\delta\\alpha_{\\rm eff} + \\lambda_k q_0(q_0-q_1)}
                 {(\\delta+\\lambda_k q_0)(2(2-\\delta) - \\lambda_k(q_0-q_1))},

    .. math::
        V_\\Sigma = \\sum_k \\lambda_k c_k^2
            \\frac{(1+\\beta)\\delta^2 - \\lambda_k((1+\\beta^2)q_0 + 2\\beta q_1)}
                 {\\lambda_k\\delta\\alpha_{\\rm eff}(\\delta+\\lambda_k q_0)(2(2-\\delta)+\\lambda_k(q_1-q_0))},

    with ``beta = 1 - delta`` and ``alpha_eff = -(q0 + q1)/delta``. Stable iff the Theorem 6
    conditions (227) hold on every node.
    """
    _check_spectrum(spectrum)
    dt = spectrum.dtype
    delta, q0, q1 = (V.as_float_array(x, n, dt) for x, n in ((delta, "delta"), (q0, "q0"), (q1, "q1")))
    for x, n in ((delta, "delta"), (q0, "q0"), (q1, "q1")):
        V.check_finite(x, n)
    t1b, _ = _noise(batch_size, (tau1, 0.0), dt)
    lam = spectrum.eigenvalues
    beta = 1 - delta
    aeff = -(q0 + q1) / delta
    c = 2 * (2 - delta) - lam * (q0 - q1)
    e = delta + lam * q0
    stable = (delta > 0) & (delta < 2) & (q0 + q1 < 0) & jnp.all(e > 0) & jnp.all(c > 0)
    uE = ((2 - delta) * delta * aeff + lam * q0 * (q0 - q1)) / (lam * e * c)
    vE = ((1 + beta) * delta**2 - lam * ((1 + beta**2) * q0 + 2 * beta * q1)) / (
        lam * delta * aeff * e * c
    )
    return _assemble(spectrum, t1b, uE, uE, vE, vE, stable)
