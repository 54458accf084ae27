"""Signal and noise propagators, their sums, and the renewal (Volterra) form of the loss.

Spec: ``sgd_memory.md`` §4 (eqs. 16-19, Algorithm B), §5.3 (sums) and §6.4 (eq. 25).

Per eigenvalue :math:`\\lambda` the second moments of a *single* noise injection evolve under
the linear map on symmetric :math:`(M+1)\\times(M+1)` matrices

.. math::  \\mathcal A_\\lambda(Z) = S_\\lambda Z S_\\lambda^T
           - \\frac{\\tau_2}{b}\\lambda^2(\\bar w^T Z\\bar w)\\,vv^T, \\tag{16}

and the loss is built from four scalar sequences (``n >= 1``; ``m_k`` are node weights)

.. math::
    V_n = \\sum_k \\lambda_k c_k^2\\langle E_{11},\\mathcal A^{n-1}_{\\lambda_k}E_{11}\\rangle,\\quad
    U_n = \\frac{\\tau_1}{b}\\sum_k m_k\\lambda_k^2
          \\langle E_{11},\\mathcal A^{n-1}_{\\lambda_k}(vv^T)\\rangle  \\tag{17-18}

(tildes: :math:`\\bar w\\bar w^T` on the left), through the renewal equations of §4.4

.. math::  \\tilde L_t = \\tfrac12\\tilde V_{t+1} + \\sum_{s<t}\\tilde U_{t-s}\\tilde L_s,\\qquad
           L_t = \\tfrac12 V_{t+1} + \\sum_{s<t} U_{t-s}\\tilde L_s .

Contents:

* sums :math:`U_\\Sigma,\\tilde U_\\Sigma,V_\\Sigma,\\tilde V_\\Sigma` (§5.3) for any ``M`` by a
  linear solve per eigenvalue (:func:`propagator_sums`), with the closed forms for Heavy Ball
  (:func:`heavy_ball_sums`) and memory-1 with ``tau2 = 0`` (:func:`memory1_sums`, eq. 25);
* propagators for ``n = 1..T+1`` by evolving two packets (Algorithm B,
  ``propagators(method="packets")``) or from an eigen-decomposition of
  :math:`\\mathcal A_\\lambda` summed in compressed form (``method="eigen"``), and at arbitrary
  times from the eigen-decomposition (:func:`propagators_at`);
* renewal solvers: direct ``O(T^2)`` and fast banded-FFT ``O(T log^2 T)``
  (:func:`renewal`), the loss curve from propagators (:func:`loss_curve`), and the
  non-stationary renewal for validation (:func:`renewal_nonstationary`).

Implementation notes. :math:`\\mathcal A_\\lambda` is represented on the ``P = K(K+1)/2``
upper-triangular coordinates of a symmetric matrix (``K = M + 1``). All solves use the shifted
map :math:`I-\\mathcal A_\\lambda = EZ + ZE^T - EZE^T + \\frac{\\tau_2}{b}\\lambda^2
(\\bar w^TZ\\bar w)vv^T` with :math:`E = I - S_\\lambda`, so that nothing cancels when
:math:`\\lambda\\to0` (the slow eigenvalue of :math:`\\mathcal A_\\lambda` is
:math:`1 - 2\\alpha_{\\rm eff}\\lambda`). Strict stability of :math:`\\mathcal A_\\lambda` (on
symmetric matrices) is decided per node: closed form for ``M = 0``, Jury's test on the cubic
characteristic polynomial for ``M = 1``, eigenvalues for ``M >= 2``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Int, Scalar
from jaxaccel.algorithms import MemoryAlgorithm
from jaxaccel.moments import RecordSpec, SimulationResult, pairwise_sum
from jaxaccel.spectra import Spectrum

# elements of the per-node temporaries processed at once (vmap inside lax.map chunks)
_CHUNK_ELEMENTS = 1 << 21
# eigenvector-matrix condition number above which a node is treated as (near-)defective
_KAPPA_MAX = 1e5


# =============================================================================== results
class PropagatorSums(NamedTuple):
    """Sums of the propagators over ``n >= 1`` (spec §5.3).

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


class Propagators(NamedTuple):
    """Propagator sequences (eqs. 17-18) at times ``n`` (``n >= 1``).

    Attributes:
        times: ``(R,)`` int, the ``n`` of each entry (``1..T+1`` from :func:`propagators`).
        U, U_tilde, V, V_tilde: ``(R,)`` values :math:`U_n,\\tilde U_n,V_n,\\tilde V_n`.
    """

    times: jax.Array
    U: jax.Array
    U_tilde: jax.Array
    V: jax.Array
    V_tilde: jax.Array


class RenewalResult(NamedTuple):
    """Solution of the renewal equations for ``t = 0..T``.

    Attributes:
        loss: ``(T+1,)`` :math:`L_t`.
        loss_at_gradient_point: ``(T+1,)`` :math:`\\tilde L_t`.
    """

    loss: np.ndarray
    loss_at_gradient_point: np.ndarray


# ============================================================================ validation
def _check_spectrum(spectrum):
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")


def _check_stationary(algorithm, name="algorithm") -> MemoryAlgorithm:
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"{name} must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    if not algorithm.is_stationary:
        raise ValueError(
            f"{name} must be stationary (scalar alpha); got a schedule of "
            f"{algorithm.num_steps} steps: the stationary propagators/sums are defined for "
            "fixed parameters (use renewal_nonstationary for schedules, or vmap over steps)"
        )
    for pname, x in zip(("alpha", "a", "b", "c", "D"), algorithm.tree_flatten()[0]):
        V.check_finite(x, f"{name}.{pname}")
    return algorithm


def _scalar(x, name, dtype):
    x = V.as_float_array(x, name, dtype)
    if x.ndim != 0:
        raise ValueError(f"{name} must be a scalar (vmap over values instead), got shape {x.shape}")
    V.check_finite(x, name)
    return x


def _noise(batch_size, tau, dtype):
    """``(1/b, tau1, tau2)`` as arrays; ``batch_size=None`` is full batch (``1/b = 0``)."""
    if batch_size is None:
        inv_b = jnp.zeros((), dtype)
    else:
        bs = _scalar(batch_size, "batch_size", dtype)
        V.check_positive(bs, "batch_size")
        inv_b = 1.0 / bs
    t = V.as_float_array(tau, "tau", dtype)
    if t.shape != (2,):
        raise ValueError(f"tau must be a pair (tau1, tau2), got shape {t.shape}")
    V.check_finite(t, "tau")
    return inv_b, t[0], t[1]


# ===================================================================== symmetric coordinates
@functools.lru_cache(maxsize=None)
def _sym(K: int):
    """Static data of the upper-triangular coordinates ``z_p = Z[i_p, j_p]`` (``i_p <= j_p``).

    Returns ``(F, rows, cols, mult)``: the basis ``F_p = e_i e_j^T + e_j e_i^T`` (``e_i e_i^T``
    on the diagonal), so ``Z = sum_p z_p F_p``, and ``mult_p = 2 - [i == j]``, so that
    ``<X, Z> = sum_p mult_p X[i_p, j_p] z_p`` for symmetric ``X``.
    """
    pairs = [(i, j) for i in range(K) for j in range(i, K)]
    rows = np.array([i for i, _ in pairs])
    cols = np.array([j for _, j in pairs])
    F = np.zeros((len(pairs), K, K))
    for p, (i, j) in enumerate(pairs):
        F[p, i, j] = F[p, j, i] = 1.0
    mult = np.where(rows == cols, 1.0, 2.0)
    return F, rows, cols, mult


def _shifted_matrix(lam, S0, v, w, eps):
    """Matrix ``B`` of ``I - A_lambda`` in the coordinates of :func:`_sym` (one node).

    ``B[q, p]`` is coordinate ``q`` of ``(I - A)(F_p) = E F_p + F_p E^T - E F_p E^T
    + eps lam^2 (w^T F_p w) v v^T`` with ``E = I - S0 - lam v w^T`` and ``eps = tau2 / b``.
    """
    K = v.shape[-1]
    F, rows, cols, mult = _sym(K)
    F = jnp.asarray(F, v.dtype)
    E = jnp.eye(K, dtype=v.dtype) - S0 - lam * (v[:, None] * w[None, :])
    EF = jnp.einsum("ik,pkj->pij", E, F)
    G = EF + jnp.swapaxes(EF, -1, -2) - jnp.einsum("pik,jk->pij", EF, E)
    wFw = mult * w[rows] * w[cols]
    vv = v[rows] * v[cols]
    return G[:, rows, cols].T + (eps * lam * lam) * vv[:, None] * wFw[None, :]


def _vectors(v, w):
    """Coordinates ``r_E11, r_vv`` of the right packets and the left functionals ``l_E11,
    l_ww`` (so that ``<E11, Z> = l_E11 . z`` and ``<wbar wbar^T, Z> = l_ww . z``)."""
    K = v.shape[-1]
    _, rows, cols, mult = _sym(K)
    e = jnp.zeros(rows.shape[0], v.dtype).at[0].set(1.0)
    return e, v[rows] * v[cols], e, mult * w[rows] * w[cols]


def _stable_from_shifted(B):
    """Strict stability of ``A = I - B``: every eigenvalue ``y`` of ``B`` has ``|1 - y| < 1``.

    ``P = 1``: ``0 < y < 2``. ``P = 3``: Jury's test on ``p(z) = det(z - A) = q(z - 1)`` with
    ``q(s) = det(s + B) = s^3 + t1 s^2 + t2 s + t3`` (the ``t`` are computed from ``B``, so
    nothing cancels for small eigenvalues). Larger ``P``: eigenvalues of ``B``.
    """
    P = B.shape[-1]
    if P == 1:
        y = B[..., 0, 0]
        return (y > 0) & (y < 2)
    if P == 3:
        b = lambda i, j: B[..., i, j]  # noqa: E731
        t1 = b(0, 0) + b(1, 1) + b(2, 2)
        t2 = (b(0, 0) * b(1, 1) - b(0, 1) * b(1, 0) + b(0, 0) * b(2, 2) - b(0, 2) * b(2, 0)
              + b(1, 1) * b(2, 2) - b(1, 2) * b(2, 1))
        t3 = jnp.linalg.det(B)
        u = t1 - t2 + t3  # = 1 + p(0) = 1 - det(A)
        c1 = t3 > 0  # p(1) > 0
        c2 = 8.0 - 4.0 * t1 + 2.0 * t2 - t3 > 0  # -p(-1) > 0
        c3 = (u > 0) & (u < 2)  # |p(0)| < 1
        c4 = u * (2.0 - u) > jnp.abs(u * (t1 - 2.0) - t3)  # |a0^2 - 1| > |a0 a2 - a1|
        return c1 & c2 & c3 & c4
    y = jnp.linalg.eigvals(B)
    return jnp.all(2.0 * y.real - (y.real * y.real + y.imag * y.imag) > 0, axis=-1)


def transition_operator(algorithm: MemoryAlgorithm, lam: Float[ArrayLike, "..."],
                        t2b: Scalar = 0.0) -> Float[jax.Array, "... K2 K2"]:
    """The matrix of :math:`\\mathcal A_\\lambda` (16) on row-major ``vec``: shape
    ``lam.shape + (K^2, K^2)``, ``kron(S, S) - t2b lam^2 vec(v v^T) vec(wbar wbar^T)^T``.

    (The kernels of this module use the ``K(K+1)/2`` symmetric coordinates instead; this full
    form is the textbook view, e.g. for inspection or a brute-force reference.)

    Args:
        algorithm: stationary :class:`~jaxaccel.algorithms.MemoryAlgorithm` (``K = M + 1``).
        lam: eigenvalue(s), any shape.
        t2b: ``tau2 / b`` (0 for ``tau2 = 0`` or full batch).

    Example:
        >>> import jaxaccel as ja
        >>> transition_operator(ja.gd(0.5), 1.0).tolist()   # (1 - alpha lam)^2
        [[0.25]]
    """
    alg = _check_stationary(algorithm)
    _, v, w = alg.transition_parts()
    S = alg.transition_matrix(lam)
    K = S.shape[-1]
    kron = jnp.einsum("...ij,...kl->...ikjl", S, S).reshape(S.shape[:-2] + (K * K, K * K))
    vv = jnp.outer(v, v).reshape(-1)
    ww = jnp.outer(w, w).reshape(-1)
    lam = jnp.asarray(lam, S.dtype)[..., None, None]
    return kron - t2b * lam**2 * vv[:, None] * ww[None, :]


def _chunk_size(n_nodes: int, per_node: int) -> int:
    return int(max(1, min(n_nodes, _CHUNK_ELEMENTS // max(per_node, 1))))


def _node_map(f, xs, n_nodes: int, per_node: int, chunk: Optional[int] = None):
    """``lax.map`` of a per-node function over node arrays, vmapped in chunks of ``chunk``
    nodes (default: sized so that the chunk's temporaries hold ~``_CHUNK_ELEMENTS`` numbers)."""
    size = _chunk_size(n_nodes, per_node) if chunk is None else max(1, min(int(chunk), n_nodes))
    return jax.lax.map(f, xs, batch_size=size)


# ================================================================================= sums
def _sums_kernel(lam, m, c2, parts, inv_b, tau1, tau2, chunk=None):
    S0, v, w = parts
    eps = tau2 * inv_b
    rE, rV, lE, lW = _vectors(v, w)
    rhs = jnp.stack([rE, rV], axis=-1)
    P = rE.shape[0]

    def node(x):
        lam_k, m_k, c2_k = x
        B = _shifted_matrix(lam_k, S0, v, w, eps)
        sol = jnp.linalg.solve(B, rhs)
        ok = _stable_from_shifted(B)
        xs, xn = sol[:, 0], sol[:, 1]
        sig = lam_k * c2_k
        noi = m_k * lam_k * lam_k
        return jnp.stack([noi * (lE @ xn), noi * (lW @ xn), sig * (lE @ xs), sig * (lW @ xs)]), ok

    terms, ok = _node_map(node, (lam, m, c2), lam.shape[0], 4 * P * P + 8 * P, chunk)
    return _finish_sums(terms, ok, tau1 * inv_b)


def _finish_sums(terms, ok, noise_scale):
    s = pairwise_sum(terms.T)
    stable = jnp.all(ok)
    scale = jnp.stack([noise_scale, noise_scale, jnp.ones_like(noise_scale), jnp.ones_like(noise_scale)])
    s = jnp.where(stable, s * scale, jnp.inf)
    return PropagatorSums(s[0], s[1], s[2], s[3], stable)


_sums_jit = jax.jit(_sums_kernel, static_argnames=("chunk",))


def propagator_sums(spectrum: Spectrum, algorithm: MemoryAlgorithm, batch_size: Scalar,
                    tau: Tuple[Scalar, Scalar] = (1.0, -1.0), chunk: Optional[int] = None) -> PropagatorSums:
    """Propagator sums for any memory ``M`` and any ``tau`` by a linear solve per eigenvalue.

    .. math::  U_\\Sigma = \\frac{\\tau_1}{b}\\sum_k m_k\\lambda_k^2\\big\\langle E_{11},
               (I-\\mathcal A_{\\lambda_k})^{-1}(vv^T)\\big\\rangle,\\qquad
               V_\\Sigma = \\sum_k\\lambda_kc_k^2\\big\\langle E_{11},
               (I-\\mathcal A_{\\lambda_k})^{-1}(E_{11})\\big\\rangle

    (spec §5.3; tildes: :math:`\\bar w\\bar w^T` on the left; ``m_k`` = ``spectrum.weights``).
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
    _check_spectrum(spectrum)
    alg = _check_stationary(algorithm).astype(spectrum.dtype)
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
        return _stable_from_shifted(_shifted_matrix(lam_k, *parts, eps))

    ok = _node_map(node, lam, lam.shape[0], 40)
    return _finish_sums(jnp.stack([u, u, vs, vs], axis=-1), ok, tau1 * inv_b)


_hb_jit = jax.jit(_hb_kernel)


def heavy_ball_sums(spectrum: Spectrum, alpha: Scalar, beta: Scalar, batch_size: Scalar,
                    tau: Tuple[Scalar, Scalar] = (1.0, -1.0)) -> PropagatorSums:
    """Closed-form sums for Heavy Ball (4) (``a = 0``, so tildes equal the plain sums), any tau.

    .. math::
        U_\\Sigma = \\frac{\\tau_1}{b}\\sum_k \\frac{m_k\\alpha(1+\\beta)\\lambda_k}{d_k},\\qquad
        V_\\Sigma = \\sum_k \\lambda_kc_k^2\\,\\frac{2\\alpha\\beta\\lambda_k+(1-\\beta)(1-\\beta^2)}
                    {\\alpha\\lambda_k\\,d_k},

    with :math:`d_k = 2(1-\\beta^2)-\\alpha\\lambda_k(1-\\beta)+\\frac{\\tau_2}{b}\\alpha
    \\lambda_k(1+\\beta)` (spec §5.3). ``beta = 0`` is plain SGD. Strict stability of
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
    _check_spectrum(spectrum)
    dtype = spectrum.dtype
    alpha = _scalar(alpha, "alpha", dtype)
    beta = _scalar(beta, "beta", dtype)
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
    _check_spectrum(spectrum)
    dtype = spectrum.dtype
    delta = _scalar(delta, "delta", dtype)
    q0 = _scalar(q0, "q0", dtype)
    q1 = _scalar(q1, "q1", dtype)
    t1 = _scalar(tau1, "tau1", dtype)
    inv_b, _, _ = _noise(batch_size, (1.0, 0.0), dtype)
    return _m1_jit(spectrum.eigenvalues, spectrum.weights, spectrum.c2, delta, q0, q1, inv_b, t1)


# ================================================================= Algorithm B: packets
def _apply_A(Z, lam, S0, v, w, eps):
    """``A_lambda(Z) = S Z S^T - eps lam^2 (w^T Z w) v v^T`` for a batch ``Z`` of ``(..., K, K)``
    with ``S = S0 + lam v w^T`` (eq. 16); ``lam`` has the batch shape."""
    lam = lam[..., None, None]
    wZ = jnp.einsum("j,...jk->...k", w, Z)
    SZ = jnp.einsum("ij,...jk->...ik", S0, Z) + lam * v[:, None] * wZ[..., None, :]
    SZw = jnp.einsum("...ij,j->...i", SZ, w)
    SZS = jnp.einsum("...ik,jk->...ij", SZ, S0) + lam * SZw[..., :, None] * v[None, :]
    g = jnp.einsum("...k,k->...", wZ, w)[..., None, None]
    return SZS - (eps * lam * lam * g) * (v[:, None] * v[None, :])


def _packets_chunk(lam, m, c2, S0, v, w, eps, noise_scale, length):
    """Algorithm B on one chunk of nodes: ``(length, 4)`` partial sums of ``U, U~, V, V~`` at
    ``n = 1..length``."""
    K = v.shape[0]
    n = lam.shape[0]
    Zs = jnp.zeros((n, K, K), lam.dtype).at[:, 0, 0].set(1.0)
    Zn = jnp.broadcast_to(v[:, None] * v[None, :], (n, K, K))
    sig = lam * c2
    noi = noise_scale * m * lam * lam

    def body(carry, _):
        Zs, Zn = carry
        gs = jnp.einsum("i,nij,j->n", w, Zs, w)
        gn = jnp.einsum("i,nij,j->n", w, Zn, w)
        out = jnp.stack([pairwise_sum(noi * Zn[:, 0, 0]), pairwise_sum(noi * gn),
                         pairwise_sum(sig * Zs[:, 0, 0]), pairwise_sum(sig * gs)])
        return (_apply_A(Zs, lam, S0, v, w, eps), _apply_A(Zn, lam, S0, v, w, eps)), out

    _, out = jax.lax.scan(body, (Zs, Zn), None, length=length)
    return out


@functools.partial(jax.jit, static_argnames=("length", "chunk"))
def _packets_kernel(lam, m, c2, parts, eps, noise_scale, *, length, chunk):
    S0, v, w = parts
    n = lam.shape[0]
    pad = (-n) % chunk
    arr = lambda x: jnp.pad(x, (0, pad)).reshape(-1, chunk)  # noqa: E731  (zero nodes are inert)
    out = jax.lax.map(lambda xs: _packets_chunk(*xs, S0, v, w, eps, noise_scale, length),
                      (arr(lam), arr(m), arr(c2)))
    return pairwise_sum(jnp.moveaxis(out, 0, -1))  # (length, 4)


def _prepare(spectrum, algorithm, batch_size, tau):
    _check_spectrum(spectrum)
    alg = _check_stationary(algorithm).astype(spectrum.dtype)
    inv_b, tau1, tau2 = _noise(batch_size, tau, spectrum.dtype)
    return alg, inv_b * tau2, inv_b * tau1


def _as_propagators(times, vals) -> Propagators:
    vals = jnp.asarray(vals)
    return Propagators(jnp.asarray(times), vals[:, 0], vals[:, 1], vals[:, 2], vals[:, 3])


def propagators(spectrum: Spectrum, algorithm: MemoryAlgorithm, steps: int,
                batch_size: Optional[Scalar] = None, tau: Tuple[Scalar, Scalar] = (1.0, -1.0), method: str = "auto", chunk: Optional[int] = None) -> Propagators:
    """Propagators :math:`U_n,\\tilde U_n,V_n,\\tilde V_n` (eqs. 17-18) for ``n = 1..steps+1``.

    ``steps + 1`` values are what the renewal equations need for the loss at ``t = 0..steps``.

    Methods:

    * ``"packets"`` (Algorithm B, spec §4.4): evolve the signal packet :math:`E_{11}` and the
      noise packet :math:`vv^T` of every node under :math:`\\mathcal A_\\lambda` and reduce over
      the nodes at each step; ``O(steps * N)``, nodes in ``lax.map`` chunks.
    * ``"eigen"``: eigen-decompose :math:`\\mathcal A_\\lambda` per node (as :func:`propagators_at`)
      and sum the exponentials :math:`\\mu^{n-1}` of all modes in compressed form: modes are
      grouped in clusters of nearby :math:`\\log\\mu`, each cluster is a Taylor series around its
      centre, valid until the cluster has decayed below :math:`e^{-69}` of its initial size;
      cost ``O(N) + O(steps * clusters)``. Near-defective nodes are stepped with packets.
      Agrees with ``"packets"`` to ~1e-12 relative (tested to 1e-10).
    * ``"auto"``: ``"packets"`` for ``steps < 4096`` and ``"eigen"`` beyond.

    Args:
        spectrum: the problem.
        algorithm: stationary algorithm (a schedule raises ``ValueError``).
        steps: non-negative int, ``T``.
        batch_size: positive scalar or ``None`` (full batch: ``U = U~ = 0``).
        tau: ``(tau1, tau2)``.
        method: ``"auto"``, ``"packets"`` or ``"eigen"``.
        chunk: nodes per vectorised chunk (default from a memory budget).

    Returns:
        :class:`Propagators` with ``times = 1..steps+1``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.Spectrum([0.5], [2.0])
        >>> p = propagators(s, ja.gd(1.0), steps=2)        # V_n = lam c2 (1 - alpha lam)^(2n-2)
        >>> [float(x) for x in p.V]
        [1.0, 0.25, 0.0625]
    """
    alg, eps, noise_scale = _prepare(spectrum, algorithm, batch_size, tau)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    steps = int(steps)
    if method not in ("auto", "packets", "eigen"):
        raise ValueError(f"method must be 'auto', 'packets' or 'eigen', got {method!r}")
    if method == "auto":
        method = "packets" if steps < 4096 else "eigen"
    n = spectrum.size
    K = alg.memory + 1
    if chunk is not None:
        chunk = V.check_positive_int(chunk, "chunk")
    times = np.arange(1, steps + 2)
    if method == "packets":
        c = chunk or _chunk_size(n, 8 * K * K)
        vals = _packets_kernel(spectrum.eigenvalues, spectrum.weights, spectrum.c2,
                               alg.transition_parts(), eps, noise_scale, length=steps + 1,
                               chunk=min(c, n))
        return _as_propagators(times, vals)
    return _as_propagators(times, _eigen_all_times(spectrum, alg, eps, noise_scale, steps + 1, chunk))


# ======================================================================= eigen route
def _log1m(y):
    """``log(1 - y)`` for complex ``y`` without cancellation at small ``|y|`` (real, imag)."""
    x, z = y.real, y.imag
    return 0.5 * jnp.log1p(x * (x - 2.0) + z * z), jnp.arctan2(-z, 1.0 - x)


def _pow(re, im, n1):
    """``mu^n1`` from ``log mu = re + i im`` (``mu^0 = 1`` also for ``mu = 0``)."""
    mag = jnp.where(n1 == 0, 1.0, jnp.exp(n1 * re))
    ph = n1 * im
    return mag * jnp.cos(ph), mag * jnp.sin(ph)


def _eigen_node(lam, m, c2, S0, v, w, eps, noise_scale):
    """Eigen-decomposition ``I - A = R diag(y) R^{-1}`` of one node.

    Returns ``y (P,)``, the weighted mode coefficients ``coef (4, P)`` (so that
    ``(U, U~, V, V~)_n = sum_j coef[:, j] (1 - y_j)^(n-1)`` for this node), the condition
    number ``kappa`` of ``R`` and ``B = I - A``.
    """
    B = _shifted_matrix(lam, S0, v, w, eps)
    y, R = jnp.linalg.eig(B)
    Rinv = jnp.linalg.inv(R)
    kappa = jnp.linalg.norm(R) * jnp.linalg.norm(Rinv)
    rE, rV, lE, lW = _vectors(v, w)
    cr = Rinv @ jnp.stack([rE, rV], axis=-1).astype(R.dtype)  # (P, 2)
    lr = jnp.stack([lE, lW]).astype(R.dtype) @ R  # (2, P)
    noi = noise_scale * m * lam * lam
    sig = lam * c2
    coef = jnp.stack([noi * lr[0] * cr[:, 1], noi * lr[1] * cr[:, 1],
                      sig * lr[0] * cr[:, 0], sig * lr[1] * cr[:, 0]])
    return y, coef, kappa, B


def _flagged(kappa, coef):
    """Nodes whose eigenvector basis is too ill-conditioned to be trusted (or not finite)."""
    finite = jnp.all(jnp.isfinite(coef.real) & jnp.isfinite(coef.imag), axis=(-2, -1))
    return ~(kappa <= _KAPPA_MAX) | ~finite


@jax.jit
def _at_chunks(lam, m, c2, valid, parts, eps, noise_scale, n1):
    """Sums over nodes of the eigen-expansion at times ``n1 + 1``; lam etc. are ``(chunks, C)``.

    Flagged nodes are left out (their coefficients are zeroed) and returned for the fallback.
    """
    S0, v, w = parts

    def chunk(xs):
        lam_c, m_c, c2_c, valid_c = xs
        y, coef, kappa, _ = jax.vmap(
            lambda a, b, c: _eigen_node(a, b, c, S0, v, w, eps, noise_scale))(lam_c, m_c, c2_c)
        bad = _flagged(kappa, coef) & valid_c
        keep = valid_c & ~bad
        coef = jnp.where(keep[:, None, None], coef, 0.0)
        y = jnp.where(keep[:, None], y, 0.0)
        re, im = _log1m(y)  # (C, P)
        pr, pi = _pow(re[..., None], im[..., None], n1)  # (C, P, R)
        vals = (jnp.einsum("cop,cpr->ro", coef.real, pr) - jnp.einsum("cop,cpr->ro", coef.imag, pi))
        return vals, bad

    vals, bad = jax.lax.map(chunk, (lam, m, c2, valid))
    return pairwise_sum(jnp.moveaxis(vals, 0, -1)), bad.reshape(-1)


def _shifted_power(B, n1, nbits):
    """``X`` with ``A^n1 = I - X`` (``A = I - B``) by binary powering kept in the shifted form
    (``(I - X)(I - Y) = I - (X + Y - XY)``), accurate when ``A^n1`` is close to ``I``."""
    P = B.shape[-1]

    def body(_, carry):
        X, Bk, k = carry
        bit = (k & 1) == 1
        X = jnp.where(bit, X + Bk - X @ Bk, X)
        return X, 2.0 * Bk - Bk @ Bk, k >> 1

    X, _, _ = jax.lax.fori_loop(0, nbits, body, (jnp.zeros((P, P), B.dtype), B, n1))
    return X


@functools.partial(jax.jit, static_argnames=("nbits",))
def _at_fallback(lam, m, c2, parts, eps, noise_scale, n1, *, nbits):
    """Propagators of a few (near-defective) nodes at times ``n1 + 1`` by shifted powering."""
    S0, v, w = parts
    rE, rV, lE, lW = _vectors(v, w)

    def node(lam_k, m_k, c2_k):
        B = _shifted_matrix(lam_k, S0, v, w, eps)
        noi = noise_scale * m_k * lam_k * lam_k
        sig = lam_k * c2_k

        def at(nn):
            X = _shifted_power(B, nn, nbits)
            xs, xn = rE - X @ rE, rV - X @ rV
            return jnp.stack([noi * (lE @ xn), noi * (lW @ xn), sig * (lE @ xs), sig * (lW @ xs)])

        return jax.vmap(at)(n1)

    return jnp.sum(jax.vmap(node)(lam, m, c2), axis=0)


def _pad_nodes(spectrum, chunk):
    n = spectrum.size
    pad = (-n) % chunk
    lam = jnp.concatenate([spectrum.eigenvalues, jnp.full((pad,), spectrum.eigenvalues[0])])
    z = jnp.zeros((pad,), spectrum.dtype)
    m = jnp.concatenate([spectrum.weights, z])
    c2 = jnp.concatenate([spectrum.c2, z])
    valid = jnp.arange(n + pad) < n
    r = lambda x: x.reshape(-1, chunk)  # noqa: E731
    return r(lam), r(m), r(c2), r(valid)


def propagators_at(spectrum: Spectrum, algorithm: MemoryAlgorithm, times: Int[ArrayLike, "R"],
                   batch_size: Optional[Scalar] = None, tau: Tuple[Scalar, Scalar] = (1.0, -1.0), chunk: Optional[int] = None) -> Propagators:
    """Propagators at arbitrary times ``n >= 1`` without stepping, ``O(N)`` per time.

    Per node, :math:`I-\\mathcal A_\\lambda = R\\,\\mathrm{diag}(y)\\,R^{-1}` on symmetric
    matrices, so that

    .. math::  \\langle X,\\mathcal A_\\lambda^{n-1}Y\\rangle = \\sum_j (x^TR)_j\\,(R^{-1}y)_j\\,
               (1-y_j)^{n-1},

    with :math:`(1-y)^{n-1} = \\exp((n-1)\\log(1-y))` and the logarithm taken without
    cancellation (the slow eigenvalue is :math:`1-2\\alpha_{\\rm eff}\\lambda`). Nodes whose
    eigenvector matrix has condition number above ``1e5`` (defective or nearly so, e.g. at the
    edges :math:`\\lambda_\\pm` of the complex region of memory-1) are evaluated instead by
    binary powering of :math:`\\mathcal A_\\lambda` kept in the shifted form ``I - X``.
    Agrees with stepping (:func:`propagators`) to ~``1e-16 n`` relative.

    This is a host-side driver (the fallback nodes are picked on the host), so it is not
    traceable by ``jax.jit``/``jax.vmap``; the per-node kernels are jitted with the
    hyper-parameters as traced arguments, so new values do not recompile.

    Args:
        spectrum: the problem.
        algorithm: stationary algorithm.
        times: 1-D integers ``>= 1`` (any order, e.g. 200 log-spaced values up to ``1e9``).
        batch_size: positive scalar or ``None``.
        tau: ``(tau1, tau2)``.
        chunk: nodes per vectorised chunk (default from a memory budget).

    Returns:
        :class:`Propagators` at ``times``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.Spectrum([0.5], [2.0])
        >>> p = propagators_at(s, ja.gd(1.0), [1, 3, 1_000])
        >>> [float(x) for x in p.V]                       # lam c2 (1 - alpha lam)^(2n-2)
        [1.0, 0.0625, 0.0]
    """
    alg, eps, noise_scale = _prepare(spectrum, algorithm, batch_size, tau)
    t = np.asarray(times)
    if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError("times must be a non-empty 1-D array of integers")
    if t.min() < 1:
        raise ValueError(f"times must be >= 1, got min {t.min()}")
    n1 = jnp.asarray(t - 1, dtype=jnp.int64)
    P = (alg.memory + 1) * (alg.memory + 2) // 2
    if chunk is None:
        chunk = _chunk_size(spectrum.size, 2 * P * (t.size + 8 * P))
    chunk = min(V.check_positive_int(chunk, "chunk"), spectrum.size)
    parts = alg.transition_parts()
    lam, m, c2, valid = _pad_nodes(spectrum, chunk)
    vals, bad = _at_chunks(lam, m, c2, valid, parts, eps, noise_scale,
                           n1.astype(spectrum.dtype))
    bad = np.flatnonzero(np.asarray(bad))
    if bad.size:
        nbits = max(1, int(t.max() - 1).bit_length())
        idx = jnp.asarray(bad)
        vals = vals + _at_fallback(lam.reshape(-1)[idx], m.reshape(-1)[idx],
                                   c2.reshape(-1)[idx], parts, eps, noise_scale, n1, nbits=nbits)
    return _as_propagators(t, vals)


# ------------------------------------------------- all times: compressed exponential sums
# Modes (one per node and eigenvalue of A) contribute coef * exp(-(n-1) s) with
# s = -log(mu). They are grouped in clusters of nearby s: log-spaced in Re s (ratio _RHO) and
# of width 2 _R Re(s_c) in Im s. A cluster is expanded around its centre,
# exp(-(n-1) s) = exp(-(n-1) s_c) sum_p (-(n-1) h)^p delta^p / p!,  delta = (s - s_c) / h,
# and used for n - 1 < _CUT / min Re s, after which every member is below exp(-_CUT) of its
# initial size. Then |(n-1) h| <= 2 and _TAYLOR terms give ~1e-19 truncation error.
_R = 0.02
_RHO = 1.0 + 2.0 * _R
_CUT = 69.0
_TAYLOR = 28
_TBLOCK = 2048


@jax.jit
def _eigen_chunks(lam, m, c2, valid, parts, eps, noise_scale):
    S0, v, w = parts

    def chunk(xs):
        lam_c, m_c, c2_c, valid_c = xs
        y, coef, kappa, _ = jax.vmap(
            lambda a, b, c: _eigen_node(a, b, c, S0, v, w, eps, noise_scale))(lam_c, m_c, c2_c)
        return y, coef, _flagged(kappa, coef) & valid_c

    return jax.lax.map(chunk, (lam, m, c2, valid))


@functools.partial(jax.jit, static_argnames=("tb", "real"))
def _cluster_block(x_c, th_c, h, M_re, M_im, nmax, n_start, *, tb, real):
    """Sum over clusters of ``Re[exp(-n1 s_c) sum_p (-n1 h)^p M_p]`` for ``n1`` in a block.

    Shapes: ``(C,)`` centres/scales/horizons, ``(C, _TAYLOR, O)`` moments; returns ``(tb, O)``.
    """
    n1 = (n_start + jnp.arange(tb)).astype(h.dtype)
    tau = -n1[None, :] * h[:, None]  # (C, tb), |tau| <= 2 where alive
    alive = n1[None, :] < nmax[:, None]
    tau = jnp.where(alive, tau, 0.0)
    acc_re = jnp.broadcast_to(M_re[:, -1, None, :], tau.shape + M_re.shape[-1:])
    acc_im = None if real else jnp.broadcast_to(M_im[:, -1, None, :], acc_re.shape)
    for p in range(_TAYLOR - 2, -1, -1):
        acc_re = acc_re * tau[..., None] + M_re[:, p, None, :]
        if not real:
            acc_im = acc_im * tau[..., None] + M_im[:, p, None, :]
    mag = jnp.where(alive, jnp.exp(-n1[None, :] * x_c[:, None]), 0.0)
    if real:
        val = acc_re * mag[..., None]
    else:
        ph = n1[None, :] * th_c[:, None]
        val = acc_re * (mag * jnp.cos(ph))[..., None] + acc_im * (mag * jnp.sin(ph))[..., None]
    return jnp.sum(val, axis=0)


def _bucket(c: int) -> int:
    return max(8, 1 << (int(c) - 1).bit_length())


def _eval_clusters(x_c, th_c, h, M, nmax, n_total, real):
    """Evaluate clusters (sorted by decreasing ``nmax``) at ``n1 = 0..n_total-1``."""
    n_out = M.shape[-1]
    out = np.zeros((n_total, n_out))
    if x_c.size == 0:
        return out
    for start in range(0, n_total, _TBLOCK):
        alive = int(np.searchsorted(-nmax, -start, side="left"))  # nmax > start
        if alive == 0:
            break
        C = _bucket(alive)
        sl = slice(0, alive)
        pad = lambda a: np.concatenate([a[sl], np.zeros((C - alive,) + a.shape[1:], a.dtype)])  # noqa: E731
        tb = min(_TBLOCK, n_total - start) if n_total - start < _TBLOCK else _TBLOCK
        tb_c = _TBLOCK if tb == _TBLOCK else _bucket(tb)
        res = _cluster_block(pad(x_c), pad(th_c), pad(h), pad(M.real), pad(M.imag), pad(nmax),
                             start, tb=tb_c, real=real)
        out[start:start + tb] = np.asarray(res)[:tb]
    return out


def _exp_sums(y, coef, n_total):
    """``sum_modes Re[coef * (1 - y)^(n-1)]`` for ``n = 1..n_total``; ``y (Nm,)``, ``coef (Nm, O)``."""
    n_out = coef.shape[-1]
    out = np.zeros((n_total, n_out))
    keep = np.any(coef != 0, axis=1)
    y, coef = y[keep], coef[keep]
    if y.size == 0:
        return out
    xr, zi = y.real, y.imag
    with np.errstate(divide="ignore", invalid="ignore"):
        x = -0.5 * np.log1p(xr * (xr - 2.0) + zi * zi)  # Re s, s = -log(1 - y)
    th = -np.arctan2(-zi, 1.0 - xr)  # Im s
    zero = np.isposinf(x)  # mu = 0: only n = 1
    out[0] += coef[zero].real.sum(axis=0)
    direct = ~zero & ~(x > 0)  # non-decaying (unstable / marginal) or NaN: exact evaluation
    if np.any(direct):
        s = x[direct] + 1j * th[direct]
        cd = coef[direct]
        for start in range(0, n_total, _TBLOCK):
            n1 = np.arange(start, min(n_total, start + _TBLOCK))
            with np.errstate(over="ignore", invalid="ignore"):
                pw = np.exp(-np.outer(n1, s))
            pw[n1 == 0] = 1.0
            out[start:start + n1.size] += (pw @ cd).real
    clus = ~zero & (x > 0)
    s = x[clus] + 1j * th[clus]
    cc = coef[clus]
    if s.size == 0:
        return out
    X0 = 1.5 / n_total  # everything slower than the horizon: one cluster around X0 / 2
    sup = (s.real <= X0) & (np.abs(s.imag) <= X0)
    lr = np.log(_RHO)
    ix = np.floor(np.log(s.real) / lr).astype(np.int64)
    xc = np.exp((ix + 0.5) * lr)
    it = np.round(s.imag / (2.0 * _R * xc)).astype(np.int64)
    realm = (s.imag == 0) & np.all(coef[clus].imag == 0, axis=1)
    ix = np.where(sup, np.iinfo(np.int64).min, ix)
    it = np.where(sup, 0, it)
    keys = np.stack([ix, it, realm.astype(np.int64)], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    n_cl = uniq.shape[0]
    is_sup = uniq[:, 0] == np.iinfo(np.int64).min
    x_lo = np.where(is_sup, 0.0, np.exp(uniq[:, 0] * lr))
    centre = np.where(is_sup, 0.5 * X0, np.exp((uniq[:, 0] + 0.5) * lr)) + 0j
    centre = centre + 1j * np.where(is_sup, 0.0, uniq[:, 1] * 2.0 * _R * centre.real)
    d = s - centre[inv]
    h = np.zeros(n_cl)
    np.maximum.at(h, inv, np.abs(d))
    h = np.where(h > 0, h, 1.0)
    with np.errstate(divide="ignore"):
        nmax = np.where(is_sup, n_total, np.minimum(n_total, np.floor(_CUT / x_lo) + 1.0))
    delta = d / h[inv]
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(n_cl))
    M = np.zeros((n_cl, _TAYLOR, n_out), complex)
    term = cc[order].astype(complex)
    dl = delta[order]
    for p in range(_TAYLOR):
        M[:, p, :] = np.add.reduceat(term, starts, axis=0)
        term = term * (dl / (p + 1))[:, None]
    real_cl = uniq[:, 2] == 1
    for flag in (True, False):
        sel = np.flatnonzero(real_cl == flag)
        sel = sel[np.argsort(-nmax[sel], kind="stable")]
        out += _eval_clusters(centre[sel].real, centre[sel].imag, h[sel], M[sel], nmax[sel],
                              n_total, real=flag)
    return out


def _eigen_all_times(spectrum, alg, eps, noise_scale, n_total, chunk):
    P = (alg.memory + 1) * (alg.memory + 2) // 2
    chunk = min(chunk or _chunk_size(spectrum.size, 16 * P * P), spectrum.size)
    parts = alg.transition_parts()
    lam, m, c2, valid = _pad_nodes(spectrum, chunk)
    y, coef, bad = _eigen_chunks(lam, m, c2, valid, parts, eps, noise_scale)
    y = np.asarray(y).reshape(-1, P)
    coef = np.asarray(coef).reshape(-1, 4, P)
    bad = np.asarray(bad).reshape(-1)
    good = np.asarray(valid).reshape(-1) & ~bad
    yg = y[good].reshape(-1)
    cg = np.moveaxis(coef[good], 1, 2).reshape(-1, 4)
    same = np.array_equal(cg[:, 0], cg[:, 1]) and np.array_equal(cg[:, 2], cg[:, 3])
    if same:  # a = 0: U~ = U, V~ = V; evaluate two outputs
        out = _exp_sums(yg, cg[:, [0, 2]], n_total)[:, [0, 0, 1, 1]]
    else:
        out = _exp_sums(yg, cg, n_total)
    if bad.any():  # near-defective nodes: stepped exactly
        idx = jnp.asarray(np.flatnonzero(bad))
        flat = lambda a: a.reshape(-1)[idx]  # noqa: E731
        nb = int(idx.shape[0])
        out = out + np.asarray(_packets_kernel(flat(lam), flat(m), flat(c2), parts, eps,
                                               noise_scale, length=n_total, chunk=nb))
    return out


# ========================================================================= renewal solvers
@jax.jit
def _renewal_direct_kernel(f_t, k_t, f, k):
    """``x_t = f_t[t] + sum_{s<t} k_t[t-s-1] x_s`` and ``y_t = f[t] + sum_{s<t} k[t-s-1] x_s``."""
    T1 = f.shape[0]
    z = jnp.zeros(T1, f.dtype)
    kr_t = jnp.concatenate([k_t[: T1 - 1][::-1], z])
    kr = jnp.concatenate([k[: T1 - 1][::-1], z])

    def body(t, carry):
        x, y = carry
        x = x.at[t].set(f_t[t] + jax.lax.dynamic_slice(kr_t, (T1 - 1 - t,), (T1,)) @ x)
        y = y.at[t].set(f[t] + jax.lax.dynamic_slice(kr, (T1 - 1 - t,), (T1,)) @ x)
        return x, y

    return jax.lax.fori_loop(0, T1, body, (z, z))


class _BandedConvolution:
    """Causal convolution ``y_t = f_t + sum_{s<t} k_{t-s} x_s`` (``k_n`` for ``n >= 1``),
    solved online (``x = y``) or for a given ``x``, in ``O(T log^2 T)``.

    Lags below the base block ``B`` are handled with dense ``B x B`` Toeplitz blocks (a
    precomputed inverse in the online solve). Lags in ``[2^j, 2^(j+1))``, ``2^j >= B``, are
    added by FFT convolutions of aligned source chunks of length ``2^j``, fired as soon as a
    chunk is complete. Each FFT sees a kernel band whose values vary by a bounded factor and a
    source chunk whose values vary by a bounded factor (except the first chunk), which keeps
    the FFT rounding error relative to the (non-negative) sums instead of relative to the
    largest value of the whole sequence.
    """

    def __init__(self, k, T1, base=256):
        from scipy.linalg import solve_triangular  # jax depends on scipy

        self.T1, self.B = T1, base
        n = max(2 * T1, 4 * base)
        kk = np.zeros(n + 1)
        kk[1: min(n, len(k)) + 1] = k[: n]
        self.kk = kk
        B = base
        i, j = np.meshgrid(np.arange(B), np.arange(B), indexing="ij")
        self.Kin = np.where(i > j, kk[np.clip(i - j, 0, n)], 0.0)
        self.Kprev = np.where(i < j, kk[np.clip(B + i - j, 0, n)], 0.0)
        self.Rin = solve_triangular(np.eye(B) - self.Kin, np.eye(B), lower=True, unit_diagonal=True)
        self.bands = {}

    def _band(self, L):
        if L not in self.bands:
            self.bands[L] = np.fft.rfft(self.kk[L: 2 * L], 2 * L)
        return self.bands[L]

    def run(self, f, x=None):
        T1, B = self.T1, self.B
        solve = x is None
        xs = np.zeros(T1) if solve else np.asarray(x, dtype=np.float64)
        y = np.zeros(T1)
        acc = np.zeros(T1 + 2 * T1)
        for a in range(0, T1, B):
            b = min(a + B, T1)
            nb = b - a
            rhs = f[a:b] + acc[a:b]
            if a > 0:
                rhs = rhs + (self.Kprev @ xs[a - B: a])[:nb]
            if solve:
                xs[a:b] = self.Rin[:nb, :nb] @ rhs
                y[a:b] = xs[a:b]
            else:
                y[a:b] = rhs + self.Kin[:nb, :nb] @ xs[a:b]
            if b >= T1 or not np.all(np.isfinite(xs[a:b])):
                if b < T1:  # diverged to inf/nan: the rest is not defined
                    y[b:] = np.nan
                    if solve:
                        xs[b:] = np.nan
                    break
                continue
            L = B
            while b % L == 0:
                conv = np.fft.irfft(np.fft.rfft(xs[b - L: b], 2 * L) * self._band(L), 2 * L)
                acc[b: b + 2 * L - 1] += conv[: 2 * L - 1]
                L *= 2
        return y


def renewal(props: Propagators, method: str = "auto") -> RenewalResult:
    """Solve the renewal (Volterra) equations of spec §4.4 for ``t = 0..T``.

    .. math::  \\tilde L_t = \\tfrac12\\tilde V_{t+1} + \\sum_{s=0}^{t-1}\\tilde U_{t-s}\\tilde L_s,
               \\qquad L_t = \\tfrac12 V_{t+1} + \\sum_{s=0}^{t-1} U_{t-s}\\tilde L_s .

    Methods: ``"direct"`` (``O(T^2)``, jitted ``fori_loop`` of dot products), ``"fft"``
    (banded FFT online convolution, ``O(T log^2 T)``, NumPy; agrees with ``"direct"`` to
    ~1e-13 relative on non-negative propagators, tested to 1e-10), ``"auto"`` (direct for
    ``T < 4096``). In a diverging run the FFT path keeps this accuracy up to the divergence
    threshold (``1e10 L_0``); far beyond it (``~1e100 L_0``) its relative accuracy degrades.

    Args:
        props: :class:`Propagators` at ``times = 1..T+1`` (e.g. from :func:`propagators`).
        method: ``"auto"``, ``"direct"`` or ``"fft"``.

    Returns:
        :class:`RenewalResult` (NumPy arrays of length ``T + 1``; a divergent run gives
        ``inf``/``nan`` after the blow-up). Host-side (NumPy) solver: not traceable by
        ``jax.jit``/``jax.vmap``; :func:`loss_curve` flags divergence with its step.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(200, nu=1.5, zeta=0.5)
        >>> alg = ja.heavy_ball(0.5, 0.5)
        >>> r = renewal(propagators(s, alg, 50, batch_size=5))
        >>> sim = ja.simulate(s, alg, 50, batch_size=5)
        >>> bool(np.allclose(r.loss, sim.loss, rtol=1e-12, atol=0))
        True
    """
    if not isinstance(props, Propagators):
        raise ValueError(f"props must be Propagators, got {type(props).__name__}")
    times = np.asarray(props.times)
    T1 = times.shape[0]
    if T1 == 0 or not np.array_equal(times, np.arange(1, T1 + 1)):
        raise ValueError("props.times must be 1..T+1 (consecutive, from propagators())")
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"method must be 'auto', 'direct' or 'fft', got {method!r}")
    if method == "auto":
        method = "direct" if T1 < 4096 else "fft"
    U, Ut, Vv, Vt = (np.asarray(x, dtype=np.float64) for x in props[1:])
    if method == "direct":
        lt, l = _renewal_direct_kernel(jnp.asarray(0.5 * Vt), jnp.asarray(Ut),
                                       jnp.asarray(0.5 * Vv), jnp.asarray(U))
        return RenewalResult(np.asarray(l), np.asarray(lt))
    bc = _BandedConvolution(Ut, T1)
    with np.errstate(over="ignore", invalid="ignore"):
        lt = bc.run(0.5 * Vt)
        if np.array_equal(U, Ut) and np.array_equal(Vv, Vt):
            return RenewalResult(lt.copy(), lt)
        l = _BandedConvolution(U, T1).run(0.5 * Vv, lt)
    return RenewalResult(l, lt)


def loss_curve(spectrum: Spectrum, algorithm: MemoryAlgorithm, steps: int,
               batch_size: Optional[Scalar] = None, tau: Tuple[Scalar, Scalar] = (1.0, -1.0),
               record: RecordSpec = "all", *, propagator_method: str = "auto",
               renewal_method: str = "auto", divergence_threshold: float = 1e10) -> SimulationResult:
    """Loss curve of a stationary algorithm from its propagators and the renewal equations.

    The same quantity as :func:`jaxaccel.simulate` (Algorithm A), computed as
    :func:`propagators` + :func:`renewal` (spec §4.4). With ``propagator_method="eigen"`` and
    ``renewal_method="fft"`` the cost is ``O(N) + O(T (clusters + log^2 T))`` instead of
    ``O(N T)``, which pays off for long horizons (see ``benchmarks/bench_propagators.py``).

    Args:
        spectrum: the problem.
        algorithm: stationary algorithm.
        steps: horizon ``T`` (positive int).
        batch_size: positive scalar or ``None``.
        tau: ``(tau1, tau2)``.
        record: steps to return, as in :func:`~jaxaccel.moments.simulate`.
        propagator_method: see :func:`propagators`.
        renewal_method: see :func:`renewal`.
        divergence_threshold: as in :func:`~jaxaccel.moments.simulate`: flagged when ``L_t``
            or ``L~_t`` is not finite or exceeds ``divergence_threshold * L_0``.

    Returns:
        :class:`~jaxaccel.moments.SimulationResult` (``state`` is ``None``).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(300, nu=1.5, zeta=0.5)
        >>> r = loss_curve(s, ja.nesterov(0.3, 0.6), 100, batch_size=5, record=[10, 100])
        >>> sim = ja.simulate(s, ja.nesterov(0.3, 0.6), 100, batch_size=5, record=[10, 100])
        >>> bool(np.allclose(r.loss, sim.loss, rtol=1e-12, atol=0))
        True
    """
    from jaxaccel.moments import _result, record_steps

    steps = V.check_positive_int(steps, "steps")
    if not (np.isfinite(divergence_threshold) and divergence_threshold > 0):
        raise ValueError("divergence_threshold must be finite and > 0")
    rec = record_steps(record, steps)
    props = propagators(spectrum, algorithm, steps, batch_size, tau, method=propagator_method)
    res = renewal(props, method=renewal_method)
    L, Lt = res.loss, res.loss_at_gradient_point
    thr = divergence_threshold * max(float(spectrum.initial_loss), np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(L) & np.isfinite(Lt)) | (np.maximum(L, Lt) > thr)
    div_at = int(np.argmax(bad)) if bad.any() else -1
    after = (rec > div_at) if div_at >= 0 else np.zeros(rec.shape, bool)
    loss = np.where(after | ~np.isfinite(L[rec]), np.inf, L[rec])
    lossg = np.where(after | ~np.isfinite(Lt[rec]), np.inf, Lt[rec])
    return _result(rec, jnp.asarray(loss), jnp.asarray(lossg), jnp.asarray(div_at >= 0),
                   jnp.asarray(div_at, jnp.int32), None)


# ================================================================ non-stationary renewal
@functools.partial(jax.jit, static_argnames=("steps",))
def _nonstationary_kernel(lam, m, c2, parts, w_read, eps, noise_scale, *, steps):
    """Two-time propagators ``V(t,0), V~(t,0)`` and ``U(t,s), U~(t,s)`` (spec §4.4 (80)-(84))
    with one noise packet per injection time: ``O(T^2 N)`` (validation only)."""
    S0s, vs, ws = parts  # (steps, ...) per-step parameters
    K = vs.shape[-1]
    n, T1 = lam.shape[0], steps + 1
    sig = lam * c2
    noi = m * lam * lam
    Zs0 = jnp.zeros((n, K, K), lam.dtype).at[:, 0, 0].set(1.0)
    buf0 = jnp.zeros((T1, n, K, K), lam.dtype)

    def body(carry, xs):
        Zs, buf = carry
        t, S0, v, w, wr, e, ns = xs
        Vt0 = pairwise_sum(sig * Zs[:, 0, 0])
        Vtt = pairwise_sum(sig * jnp.einsum("i,nij,j->n", wr, Zs, wr))
        Us = pairwise_sum(noi * buf[:, :, 0, 0])  # (T1,) over injection times s
        Uts = pairwise_sum(noi * jnp.einsum("i,snij,j->sn", wr, buf, wr))
        Zs = _apply_A(Zs, lam, S0, v, w, e)
        buf = _apply_A(buf, jnp.broadcast_to(lam, (T1, n)), S0, v, w, e)
        buf = buf.at[jnp.minimum(t, T1 - 1)].set(ns * jnp.broadcast_to(v[:, None] * v[None, :], (n, K, K)))
        return (Zs, buf), (Vt0, Vtt, Us, Uts)

    ts = jnp.arange(T1)
    idx = jnp.minimum(ts, steps - 1)
    xs = (ts, S0s[idx], vs[idx], ws[idx], w_read, eps[idx], noise_scale[idx])
    _, out = jax.lax.scan(body, (Zs0, buf0), xs)
    return out


def renewal_nonstationary(spectrum: Spectrum, algorithm: MemoryAlgorithm, steps: int,
                          batch_size: Union[None, Scalar, Float[ArrayLike, "T"]] = None,
                          tau: Tuple[Scalar, Scalar] = (1.0, -1.0)) -> RenewalResult:
    """Loss of a (possibly time-dependent) algorithm by the non-stationary renewal equations.

    .. math::  \\tilde L_t = \\tfrac12\\tilde V(t,0) + \\sum_{s<t}\\tilde U(t,s)\\tilde L_s,
               \\qquad L_t = \\tfrac12 V(t,0) + \\sum_{s<t}U(t,s)\\tilde L_s,

    with :math:`U(t,s) = \\frac{\\tau_1}{b_s}\\sum_k m_k\\lambda_k^2\\langle E_{11},
    \\mathcal A_{\\lambda_k,t-1}\\cdots\\mathcal A_{\\lambda_k,s+1}(v_sv_s^T)\\rangle` and
    :math:`V(t,0) = \\sum_k\\lambda_kc_k^2\\langle E_{11},\\mathcal A_{\\lambda_k,t-1}\\cdots
    \\mathcal A_{\\lambda_k,0}E_{11}\\rangle` (tildes: :math:`\\bar w_t\\bar w_t^T` on the left;
    spec §4.4, (80)-(84)). One noise packet per injection time: ``O(T^2 N)`` time and
    ``O(T N)`` memory, meant for validating small problems. The read-out vector at the final
    step ``T`` is that of step ``T - 1`` (as in :func:`~jaxaccel.moments.simulate`).

    Args:
        spectrum: the problem.
        algorithm: stationary algorithm or schedule covering ``steps`` steps.
        steps: positive int ``T``.
        batch_size: ``None``, a positive scalar or a ``(T,)`` array.
        tau: ``(tau1, tau2)``.

    Returns:
        :class:`RenewalResult` for ``t = 0..T``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(50, nu=1.5, zeta=0.5)
        >>> alg = ja.heavy_ball(np.linspace(0.2, 0.6, 30), 0.5)
        >>> r = renewal_nonstationary(s, alg, 30, batch_size=4)
        >>> sim = ja.simulate(s, alg, 30, batch_size=4)
        >>> bool(np.allclose(r.loss, sim.loss, rtol=1e-12, atol=0))
        True
    """
    from jaxaccel.moments import _batch_factor

    _check_spectrum(spectrum)
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"algorithm must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    steps = V.check_positive_int(steps, "steps")
    dtype = spectrum.dtype
    alg = algorithm.astype(dtype)
    for pname, x in zip(("alpha", "a", "b", "c", "D"), alg.tree_flatten()[0]):
        V.check_finite(x, f"algorithm.{pname}")
    if alg.is_stationary:
        alg = MemoryAlgorithm.tree_unflatten(
            alg.zero_shift, [jnp.broadcast_to(x, (steps,) + x.shape) for x in alg.tree_flatten()[0]])
    elif alg.num_steps < steps:
        raise ValueError(f"algorithm schedule has {alg.num_steps} steps, need >= steps={steps}")
    alg = alg.truncate(steps)
    inv_b, _ = _batch_factor(batch_size, steps, dtype)
    inv_b = jnp.broadcast_to(inv_b, (steps,))
    t = V.as_float_array(tau, "tau", dtype)
    if t.shape != (2,):
        raise ValueError(f"tau must be a pair (tau1, tau2), got shape {t.shape}")
    V.check_finite(t, "tau")
    parts = alg.transition_parts()
    w_read = jnp.concatenate([parts[2], parts[2][-1:]], axis=0)  # (T+1, K)
    Vt0, Vtt, Us, Uts = (np.asarray(x) for x in _nonstationary_kernel(
        spectrum.eigenvalues, spectrum.weights, spectrum.c2, parts, w_read, t[1] * inv_b,
        t[0] * inv_b, steps=steps))
    T1 = steps + 1
    Lt = np.zeros(T1)
    L = np.zeros(T1)
    for k in range(T1):  # rows t of the lower-triangular Volterra system
        Lt[k] = 0.5 * Vtt[k] + Uts[k, :k] @ Lt[:k]
        L[k] = 0.5 * Vt0[k] + Us[k, :k] @ Lt[:k]
    return RenewalResult(L, Lt)
