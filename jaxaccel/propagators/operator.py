"""The transition map of one eigenvalue's second moments and the shared propagator machinery.

Theory: ``docs/theory/sgd_memory.md`` §4.1. Per eigenvalue :math:`\\lambda` the second moments
of a *single* noise injection evolve under the linear map on symmetric
:math:`(M+1)\\times(M+1)` matrices

.. math::  \\mathcal A_\\lambda(Z) = S_\\lambda Z S_\\lambda^T
           - \\frac{\\tau_2}{b}\\lambda^2(\\bar w^T Z\\bar w)\\,vv^T. \\tag{16}

:math:`\\mathcal A_\\lambda` is represented on the ``P = K(K+1)/2`` upper-triangular
coordinates of a symmetric matrix (``K = M + 1``). All solves use the shifted map
:math:`I-\\mathcal A_\\lambda = EZ + ZE^T - EZE^T + \\frac{\\tau_2}{b}\\lambda^2
(\\bar w^TZ\\bar w)vv^T` with :math:`E = I - S_\\lambda`, so that nothing cancels when
:math:`\\lambda\\to0` (the slow eigenvalue of :math:`\\mathcal A_\\lambda` is
:math:`1 - 2\\alpha_{\\rm eff}\\lambda`). Strict stability of :math:`\\mathcal A_\\lambda`
(on symmetric matrices) is decided per node: closed form for ``M = 0``, Jury's test on the
cubic characteristic polynomial for ``M = 1``, eigenvalues for ``M >= 2``.

Besides the public :func:`transition_operator`, the names of this module without a leading
underscore are the internal interface of :mod:`jaxaccel.propagators` (and of the stability
theory, which uses :func:`shifted_matrix`).
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.noise import as_noise_model
from jaxaccel.spectra.spectrum import check_spectrum

__all__ = ["transition_operator"]

# elements of the per-node temporaries processed at once (vmap inside lax.map chunks)
CHUNK_ELEMENTS = 1 << 21


# ============================================================================ validation
def check_stationary(algorithm, name="algorithm") -> MemoryAlgorithm:
    """A stationary, finite :class:`MemoryAlgorithm` (the propagators are defined for fixed
    parameters)."""
    return check_algorithm(
        algorithm, name, stationary=True,
        why=(" (scalar alpha); got a schedule: the stationary propagators/sums are defined for "
             "fixed parameters (use renewal_nonstationary for schedules, or vmap over steps)"))


def prepare(spectrum, algorithm, batch_size, tau):
    """``(algorithm in the spectrum's dtype, tau2 / b, tau1 / b)`` after validation."""
    check_spectrum(spectrum)
    alg = check_stationary(algorithm).astype(spectrum.dtype)
    noise = as_noise_model(batch_size, tau)
    inv_b, t = noise.inverse_batch(spectrum.dtype), noise.tau(spectrum.dtype)
    return alg, inv_b * t[1], inv_b * t[0]


# ===================================================================== symmetric coordinates
@functools.lru_cache(maxsize=None)
def sym_coords(K: int):
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


def shifted_matrix(lam, S0, v, w, eps):
    """Matrix ``B`` of ``I - A_lambda`` in the coordinates of :func:`sym_coords` (one node).

    ``B[q, p]`` is coordinate ``q`` of ``(I - A)(F_p) = E F_p + F_p E^T - E F_p E^T
    + eps lam^2 (w^T F_p w) v v^T`` with ``E = I - S0 - lam v w^T`` and ``eps = tau2 / b``.
    """
    K = v.shape[-1]
    F, rows, cols, mult = sym_coords(K)
    F = jnp.asarray(F, v.dtype)
    E = jnp.eye(K, dtype=v.dtype) - S0 - lam * (v[:, None] * w[None, :])
    EF = jnp.einsum("ik,pkj->pij", E, F)
    G = EF + jnp.swapaxes(EF, -1, -2) - jnp.einsum("pik,jk->pij", EF, E)
    wFw = mult * w[rows] * w[cols]
    vv = v[rows] * v[cols]
    return G[:, rows, cols].T + (eps * lam * lam) * vv[:, None] * wFw[None, :]


def packet_vectors(v, w):
    """Coordinates ``r_E11, r_vv`` of the right packets and the left functionals ``l_E11,
    l_ww`` (so that ``<E11, Z> = l_E11 . z`` and ``<wbar wbar^T, Z> = l_ww . z``)."""
    K = v.shape[-1]
    _, rows, cols, mult = sym_coords(K)
    e = jnp.zeros(rows.shape[0], v.dtype).at[0].set(1.0)
    return e, v[rows] * v[cols], e, mult * w[rows] * w[cols]


def stable_from_shifted(B):
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
    alg = check_stationary(algorithm)
    _, v, w = alg.transition_parts()
    S = alg.transition_matrix(lam)
    K = S.shape[-1]
    kron = jnp.einsum("...ij,...kl->...ikjl", S, S).reshape(S.shape[:-2] + (K * K, K * K))
    vv = jnp.outer(v, v).reshape(-1)
    ww = jnp.outer(w, w).reshape(-1)
    lam = jnp.asarray(lam, S.dtype)[..., None, None]
    return kron - t2b * lam**2 * vv[:, None] * ww[None, :]


def chunk_size(n_nodes: int, per_node: int) -> int:
    return int(max(1, min(n_nodes, CHUNK_ELEMENTS // max(per_node, 1))))


def node_map(f, xs, n_nodes: int, per_node: int, chunk: Optional[int] = None):
    """``lax.map`` of a per-node function over node arrays, vmapped in chunks of ``chunk``
    nodes (default: sized so that the chunk's temporaries hold ~``CHUNK_ELEMENTS`` numbers)."""
    size = chunk_size(n_nodes, per_node) if chunk is None else max(1, min(int(chunk), n_nodes))
    return jax.lax.map(f, xs, batch_size=size)


# ======================================================================= the map (16)

def apply_A(Z, lam, S0, v, w, eps):
    """``A_lambda(Z) = S Z S^T - eps lam^2 (w^T Z w) v v^T`` for a batch ``Z`` of ``(..., K, K)``
    with ``S = S0 + lam v w^T`` (eq. 16); ``lam`` has the batch shape."""
    lam = lam[..., None, None]
    wZ = jnp.einsum("j,...jk->...k", w, Z)
    SZ = jnp.einsum("ij,...jk->...ik", S0, Z) + lam * v[:, None] * wZ[..., None, :]
    SZw = jnp.einsum("...ij,j->...i", SZ, w)
    SZS = jnp.einsum("...ik,jk->...ij", SZ, S0) + lam * SZw[..., :, None] * v[None, :]
    g = jnp.einsum("...k,k->...", wZ, w)[..., None, None]
    return SZS - (eps * lam * lam * g) * (v[:, None] * v[None, :])


