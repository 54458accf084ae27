"""Stability of stationary memory-M SGD: strict and noisy stability, maps, Theorem 7, phases.

Spec: ``sgd_memory.md`` §5 (Theorems 3, 4, 5, 8) and §6 (Theorems 6, 7).

*Strict stability* (no noise): the iteration matrix :math:`S_\\lambda` of (7), and with
``tau2 != 0`` the second-moment map

.. math::  \\mathcal A_\\lambda(Z) = S_\\lambda Z S_\\lambda^T
           - \\frac{\\tau_2}{b}\\lambda^2(\\bar w^TZ\\bar w)\\,vv^T \\tag{16}

must be strictly stable for *every* :math:`\\lambda\\in(0,\\lambda_{\\max}]` (the whole interval,
since power-law spectra accumulate at 0), and the memory ``D`` must be strictly stable.
:func:`strict_stability` decides this exactly for ``S_lambda`` by root locus (a root of
:math:`\\chi_\\lambda=P-\\lambda Q` can only leave the unit disk through the unit circle, at the
real values :math:`\\lambda=P(e^{i\\theta})/Q(e^{i\\theta})`, found as roots of a polynomial of
degree ``M`` in ``cos theta``), and measures the margin on a dense log + linear
:math:`\\lambda` grid refined by golden-section search. Spectral radii are closed form for
``M <= 1`` (quadratic for ``S``, cubic for ``A``) and use eigenvalues for ``M >= 2``.

*Noisy stability* (Theorems 3, 8): :math:`U_\\Sigma<1` (``a = 0``), resp.
:math:`\\tilde U_\\Sigma<1` with a gradient shift, with the sums of
:mod:`jaxaccel.propagators`.

:func:`stability_map` evaluates margin, radius, ``U_Sigma``, ``alpha_eff`` and the predicted
loss constant ``C_L`` on a grid of algorithm parameters (``vmap`` inside chunks, ``lax.map``
over chunks, under a memory budget); :func:`region_analysis` / :func:`theorem7_paths` give the
§6.5 region analysis; :func:`phase_diagram` the (nu, zeta) phases of §1 / §5.4.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Callable, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms import (
    MemoryAlgorithm,
    am1_form,
    characteristic_polynomials,
    effective_learning_rate,
    gd,
    heavy_ball,
    memory1_triplet,
    nesterov,
)
from jaxaccel.grid import validate_grid
from jaxaccel.memory1_theory import _shifted_roots, memory1_conditions, triplet_from_effective
from jaxaccel.propagators import _shifted_matrix, heavy_ball_sums, memory1_sums, propagator_sums
from jaxaccel.spectra import PowerLaw, Spectrum

_MARGIN_FLOOR = 1e-8  # the normalised decay is sampled on [1e-8 lambda_max, lambda_max]


# ============================================================================ spectral radii
def _one_minus_abs(x):
    """``1 - |1 - x|`` for complex ``x``, accurate when ``x`` is small."""
    return (2.0 * x.real - (x.real * x.real + x.imag * x.imag)) / (1.0 + jnp.abs(1.0 - x))


def _cubic_real_root(c2, c1, c0):
    """The real root of largest modulus of ``y^3 + c2 y^2 + c1 y + c0`` (real coefficients).

    Closed form (Cardano when one root is real, the trigonometric form when three are),
    followed by two guarded Newton steps.
    """
    a3 = c2 / 3.0
    p = c1 - c2 * a3
    q = 2.0 * a3 * a3 * a3 - a3 * c1 + c0
    disc = (0.5 * q) ** 2 + (p / 3.0) ** 3
    s = jnp.sqrt(jnp.maximum(disc, 0.0))
    A = -jnp.where(q >= 0, 1.0, -1.0) * jnp.cbrt(0.5 * jnp.abs(q) + s)
    Bc = jnp.where(A == 0, 0.0, -p / (3.0 * jnp.where(A == 0, 1.0, A)))
    t_one = A + Bc
    r = jnp.sqrt(jnp.maximum(-p / 3.0, 0.0))
    safe_r = jnp.where(r == 0, 1.0, r)
    cphi = jnp.cos(jnp.arccos(jnp.clip(-0.5 * q / (safe_r * safe_r * safe_r), -1.0, 1.0)) / 3.0)
    sphi = jnp.sqrt(jnp.maximum(1.0 - cphi * cphi, 0.0))
    t_hi = 2.0 * r * cphi  # largest of the three
    t_lo = 2.0 * r * (-0.5 * cphi - 0.8660254037844386 * sphi)  # smallest
    y_hi, y_lo = t_hi - a3, t_lo - a3
    y1 = jnp.where(disc > 0, t_one - a3, jnp.where(jnp.abs(y_hi) >= jnp.abs(y_lo), y_hi, y_lo))
    for _ in range(2):
        f = ((y1 + c2) * y1 + c1) * y1 + c0
        d = (3.0 * y1 + 2.0 * c2) * y1 + c1
        y_new = y1 - jnp.where(d == 0, 0.0, f / jnp.where(d == 0, 1.0, d))
        f_new = ((y_new + c2) * y_new + c1) * y_new + c0
        y1 = jnp.where(jnp.abs(f_new) <= jnp.abs(f), y_new, y1)
    return y1


def _cubic_min_decay(c2, c1, c0):
    """``min_i (1 - |1 - y_i|)`` over the roots ``y_i`` of ``y^3 + c2 y^2 + c1 y + c0``.

    One real root in closed form, then the deflated quadratic ``y^2 + e1 y + e0`` (its
    constant from the root product when that is better conditioned); real arithmetic only.
    """
    y1 = _cubic_real_root(c2, c1, c0)
    e1 = c2 + y1
    use_prod = jnp.abs(y1) > 1e-3 * (1.0 + jnp.abs(c2))
    e0 = jnp.where(use_prod, -c0 / jnp.where(use_prod, y1, 1.0), c1 + y1 * e1)
    disc = e1 * e1 - 4.0 * e0
    real = disc >= 0
    sq = jnp.sqrt(jnp.abs(disc))
    big = -0.5 * (e1 + jnp.where(e1 >= 0, 1.0, -1.0) * sq)
    small = jnp.where(big == 0, 0.0, e0 / jnp.where(big == 0, 1.0, big))
    dec_real = lambda y: jnp.where(y <= 1.0, y, 2.0 - y)  # noqa: E731  1 - |1 - y|
    re, im = -0.5 * e1, 0.5 * sq
    dec_cplx = (2.0 * re - re * re - im * im) / (1.0 + jnp.sqrt((1.0 - re) ** 2 + im * im))
    dq = jnp.where(real, jnp.minimum(dec_real(big), dec_real(small)), dec_cplx)
    return jnp.minimum(dec_real(y1), dq)


class _Kernel(NamedTuple):
    """Per-algorithm data needed to evaluate the decays at any ``lambda`` (a pytree)."""

    S0: jax.Array
    v: jax.Array
    wbar: jax.Array
    delta: jax.Array  # M = 1: 1 - D
    q1: jax.Array  # M = 1: a c - alpha
    kappa: jax.Array  # M = 1: alpha delta - b c  (= delta alpha_eff)


def _kernel(alg: MemoryAlgorithm) -> _Kernel:
    S0, v, wbar = alg.transition_parts()
    if alg.memory == 1:
        al, a, b, c, D = alg.alpha, alg.a[0], alg.b[0], alg.c[0], alg.D[0, 0]
        delta = 1.0 - D
        return _Kernel(S0, v, wbar, delta, a * c - al, al * delta - b * c)
    z = jnp.zeros((), alg.dtype)
    return _Kernel(S0, v, wbar, z, z, z)


def _decays(kern: _Kernel, M: int, lam, eps, with_A: bool):
    """``(1 - rho(S_lambda), 1 - rho(A_lambda)^{1/2})`` at each ``lam`` (same shape).

    Without ``A`` (no noise or ``tau2 = 0``: ``rho(A) = rho(S)^2``) the second equals the first.
    """
    lam = jnp.asarray(lam)
    K = M + 1
    if M == 0:
        al = -kern.v[0]
        x = al * lam
        gS = jnp.where(x <= 1.0, x, 2.0 - x)
    elif M == 1:
        x1, x2 = _shifted_roots(kern.delta - lam * kern.q1, lam * kern.kappa)
        gS = jnp.minimum(_one_minus_abs(x1), _one_minus_abs(x2))
    else:
        E = jnp.eye(K, dtype=lam.dtype) - kern.S0 - lam[..., None, None] * (
            kern.v[:, None] * kern.wbar[None, :])
        gS = jnp.min(_one_minus_abs(jnp.linalg.eigvals(E)), axis=-1)
    if not with_A:
        return gS, gS
    if M == 0:
        al = -kern.v[0]
        y = al * lam * (2.0 - al * lam) + eps * (lam * al) ** 2
        g_full = jnp.where(y <= 1.0, y, 2.0 - y)  # 1 - |1 - y|, real
    elif M == 1:
        g_full = _cubic_min_decay(*_memory1_propagator_charpoly(kern, lam, eps))
    else:
        shifted = jax.vmap(lambda x: _shifted_matrix(x, kern.S0, kern.v, kern.wbar, eps))
        B = shifted(lam.reshape(-1)).reshape(lam.shape + (K * (K + 1) // 2,) * 2)
        g_full = jnp.min(_one_minus_abs(jnp.linalg.eigvals(B)), axis=-1)
    # 1 - sqrt(|nu|) = (1 - |nu|) / (1 + sqrt(|nu|))
    gA = g_full / (1.0 + jnp.sqrt(jnp.maximum(1.0 - g_full, 0.0)))
    return gS, gA


def _memory1_propagator_charpoly(kern: _Kernel, lam, eps):
    """Coefficients ``(c2, c1, c0)`` of ``det(y - (I - A_lambda)) = y^3 + c2 y^2 + c1 y + c0``
    for memory 1, from the explicit 3 x 3 matrix of ``I - A_lambda`` in the coordinates
    ``(Z_00, Z_01, Z_11)``; diagonal entries use ``E = I - S_lambda`` (no cancellation)."""
    v0, v1 = kern.v[0], kern.v[1]
    w0, w1 = kern.wbar[0], kern.wbar[1]
    s00 = kern.S0[0, 0] + lam * v0 * w0
    s01 = kern.S0[0, 1] + lam * v0 * w1
    s10 = kern.S0[1, 0] + lam * v1 * w0
    s11 = kern.S0[1, 1] + lam * v1 * w1
    e00 = -lam * v0 * w0  # 1 - s00 (S0[0, 0] = 1)
    e11 = kern.delta - lam * v1 * w1  # 1 - s11
    r = eps * lam * lam
    a0, a1, a2 = r * v0 * v0, r * v0 * v1, r * v1 * v1
    u0, u1, u2 = w0 * w0, 2.0 * w0 * w1, w1 * w1
    b00 = e00 * (2.0 - e00) + a0 * u0
    b01 = -2.0 * s00 * s01 + a0 * u1
    b02 = -s01 * s01 + a0 * u2
    b10 = -s00 * s10 + a1 * u0
    b11 = e00 + e11 - e00 * e11 - s01 * s10 + a1 * u1
    b12 = -s01 * s11 + a1 * u2
    b20 = -s10 * s10 + a2 * u0
    b21 = -2.0 * s10 * s11 + a2 * u1
    b22 = e11 * (2.0 - e11) + a2 * u2
    tr = b00 + b11 + b22
    m2 = b00 * b11 - b01 * b10 + b00 * b22 - b02 * b20 + b11 * b22 - b12 * b21
    det = (b00 * (b11 * b22 - b12 * b21) - b01 * (b10 * b22 - b12 * b20)
           + b02 * (b10 * b21 - b11 * b20))
    return -tr, m2, -det


def _with_A(batch_size, tau) -> bool:
    """Whether the second-moment map must be checked beyond ``S`` (decided eagerly)."""
    if batch_size is None:
        return False
    t2 = tau[1] if isinstance(tau, (tuple, list)) else jnp.asarray(tau)[1]
    return not (V.is_concrete(t2) and float(t2) == 0.0)


def _stationary_alg(algorithm, name="algorithm") -> MemoryAlgorithm:
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"{name} must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    if not algorithm.is_stationary:
        raise ValueError(f"{name} must be stationary (stability is defined per parameter set)")
    # drop the static zero-shift flag: the kernels here use the general rank-one form (7), so
    # shift-free and shifted algorithms of the same M share one compiled program
    return MemoryAlgorithm.tree_unflatten(False, algorithm.tree_flatten()[0])


def spectral_radius(algorithm: MemoryAlgorithm, lam: Float[ArrayLike, "..."]) -> Float[jax.Array, "..."]:
    """:math:`\\rho(S_\\lambda)`, the spectral radius of the iteration matrix (7).

    Closed form for ``M <= 1`` (the roots of ``x^2 - (delta - lambda q1) x + lambda delta
    alpha_eff`` in ``x = 1 - mu``), eigenvalues for ``M >= 2``.

    Args:
        algorithm: stationary :class:`~jaxaccel.algorithms.MemoryAlgorithm`.
        lam: array of eigenvalues ``lambda`` (any shape).

    Returns:
        array of the shape of ``lam``.

    Example:
        >>> import jaxaccel as ja
        >>> round(float(spectral_radius(ja.heavy_ball(1.0, 0.81), 2.0)), 12)  # complex: sqrt(beta)
        0.9
    """
    alg = _stationary_alg(algorithm)
    lam = V.as_float_array(lam, "lam", alg.dtype)
    V.check_finite(lam, "lam")
    return _radius_jit(alg, lam, jnp.zeros((), alg.dtype), with_A=False)


def propagator_radius(algorithm: MemoryAlgorithm, lam: Float[ArrayLike, "..."], batch_size: Scalar,
                      tau: Tuple[Scalar, Scalar] = (1.0, -1.0)) -> Float[jax.Array, "..."]:
    """:math:`\\rho(\\mathcal A_\\lambda)`, spectral radius of the map (16) on symmetric matrices.

    Equals ``rho(S_lambda)^2`` when ``tau2 = 0``. Closed form (cubic) for ``M = 1``.

    Args:
        algorithm: stationary algorithm.
        lam: array of eigenvalues.
        batch_size: positive batch size ``b``.
        tau: ``(tau1, tau2)``.

    Returns:
        the radius for every ``lam`` (same shape).

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.heavy_ball(1.0, 0.5)
        >>> r0 = float(propagator_radius(alg, 0.3, 4.0, (1.0, 0.0)))
        >>> round(r0 - float(spectral_radius(alg, 0.3)) ** 2, 12)
        0.0
    """
    alg = _stationary_alg(algorithm)
    lam = V.as_float_array(lam, "lam", alg.dtype)
    V.check_finite(lam, "lam")
    inv_b, t = _noise_args(batch_size, tau, alg.dtype)
    if inv_b is None:
        raise ValueError("batch_size must be a positive number (the map (16) needs b)")
    return _radius_jit(alg, lam, t[1] * inv_b, with_A=True)


@functools.partial(jax.jit, static_argnames=("with_A",))
def _radius_jit(alg, lam, eps, *, with_A):
    gS, gA = _decays(_kernel(alg), alg.memory, lam, eps, with_A)
    return (1.0 - gA) ** 2 if with_A else 1.0 - gS


def _noise_args(batch_size, tau, dtype):
    t = V.as_float_array(tau, "tau", dtype)
    if t.shape != (2,):
        raise ValueError(f"tau must be a pair (tau1, tau2), got shape {t.shape}")
    V.check_finite(t, "tau")
    if batch_size is None:
        return None, t
    b = V.as_float_array(batch_size, "batch_size", dtype)
    if b.ndim != 0:
        raise ValueError(f"batch_size must be a scalar, got shape {b.shape}")
    V.check_finite(b, "batch_size")
    V.check_positive(b, "batch_size")
    return 1.0 / b, t


# ============================================================================ root locus
def _chebyshev_u(M):
    """Static ``(M+1, M+1)`` power coefficients (ascending) of ``U_0 .. U_M``."""
    U = np.zeros((M + 1, M + 1))
    U[0, 0] = 1.0
    if M >= 1:
        U[1, 1] = 2.0
    for n in range(1, M):
        U[n + 1, 1:] = 2.0 * U[n, :-1]
        U[n + 1] -= U[n - 1]
    return U


def _polyval(c, x):
    """Ascending coefficients ``c`` (last axis) at ``x`` (Horner)."""
    out = jnp.zeros_like(x) + c[..., -1]
    for k in range(c.shape[-1] - 2, -1, -1):
        out = out * x + c[..., k]
    return out


def _crossings(P, Q, M: int):
    """``lambda`` values at which a root of ``chi_lambda = P - lambda Q`` lies on the unit circle.

    On ``z = e^{i theta}``: ``Im(P(z) conj Q(z)) = sin(theta) R(cos theta)`` with
    ``R = sum_k (h_k - h_{-k}) U_{k-1}``, ``h`` the cross-correlation of the coefficients.
    Returns ``(M + 1,)`` values (``theta = pi`` first, then the roots of ``R`` in ``(-1, 1)``),
    ``nan`` where absent. ``theta = 0`` gives ``lambda = 0`` and is omitted.
    """
    dtype = P.dtype
    Qm1 = _polyval(Q, -jnp.ones((), dtype))
    Pm1 = _polyval(P, -jnp.ones((), dtype))
    lam_pi = jnp.where(Qm1 != 0, Pm1 / jnp.where(Qm1 != 0, Qm1, 1.0), jnp.nan)
    if M == 0:
        return lam_pi[None]
    # cross-correlation h_k = sum_{m - n = k} p_m q_n (static loops: M is small)
    def h(k):
        terms = [P[m] * Q[m - k] for m in range(M + 2) if 0 <= m - k <= M]
        return sum(terms) if terms else jnp.zeros((), dtype)

    d = jnp.stack([h(k) - h(-k) for k in range(1, M + 2)])
    R = jnp.asarray(_chebyshev_u(M).T, dtype) @ d  # ascending power coefficients, degree <= M
    scale = jnp.max(jnp.abs(R))
    if M == 1:
        ok = jnp.abs(R[1]) > 1e-14 * scale
        xs = jnp.where(ok, -R[0] / jnp.where(ok, R[1], 1.0), jnp.nan)[None]
    elif M == 2:
        ok = jnp.abs(R[2]) > 1e-14 * scale
        r1, r2 = _shifted_roots(-R[1] / jnp.where(ok, R[2], 1.0), R[0] / jnp.where(ok, R[2], 1.0))
        lin = jnp.where(jnp.abs(R[1]) > 0, -R[0] / jnp.where(jnp.abs(R[1]) > 0, R[1], 1.0), jnp.nan)
        xs = jnp.stack([jnp.where(ok, r1, lin + 0j), jnp.where(ok, r2, jnp.nan + 0j)])
        xs = jnp.where(jnp.abs(xs.imag) <= 1e-9 * (1.0 + jnp.abs(xs.real)), xs.real, jnp.nan)
    else:
        xs = jnp.roots(R[::-1], strip_zeros=False)
        xs = jnp.where(jnp.abs(xs.imag) <= 1e-9 * (1.0 + jnp.abs(xs.real)), xs.real, jnp.nan)
        xs = xs.astype(dtype)
    # Newton polish on R (guarded) and keep (-1, 1)
    dR = R[1:] * jnp.arange(1, M + 1, dtype=dtype)
    for _ in range(2):
        fx, dfx = _polyval(R, xs), _polyval(dR, xs)
        xn = xs - jnp.where(dfx != 0, fx / jnp.where(dfx != 0, dfx, 1.0), 0.0)
        xs = jnp.where(jnp.abs(_polyval(R, xn)) <= jnp.abs(fx), xn, xs)
    inside = (xs > -1.0) & (xs < 1.0)
    xs_c = jnp.clip(jnp.where(inside, xs, 0.0), -1.0, 1.0)
    z = xs_c + 1j * jnp.sqrt(1.0 - xs_c * xs_c)
    Pz, Qz = _polyval(P.astype(z.dtype), z), _polyval(Q.astype(z.dtype), z)
    q2 = (Qz * jnp.conj(Qz)).real
    lam_x = jnp.where(inside & (q2 > 0), (Pz * jnp.conj(Qz)).real / jnp.where(q2 > 0, q2, 1.0), jnp.nan)
    return jnp.concatenate([lam_pi[None], lam_x])


# ============================================================================ strict stability
class StrictStability(NamedTuple):
    """Strict (noiseless, or second-moment with ``tau2 != 0``) stability over the interval.

    With :math:`r(\\lambda)=\\max(\\rho(S_\\lambda),\\rho(\\mathcal A_\\lambda)^{1/2})` (the
    ``A`` term only with a finite batch and ``tau2 != 0``; otherwise ``rho(A) = rho(S)^2``):

    Attributes:
        stable: bool, ``margin > 0``.
        margin: :math:`\\min\\{1-\\rho(D),\\ \\alpha_{\\rm eff}\\lambda_{\\max},\\
            \\min_{\\lambda\\in(0,\\lambda_{\\max}]}(1-r(\\lambda))\\lambda_{\\max}/\\lambda\\}`,
            the smallest normalised decay per step. Since ``1 - r(lambda) ~ alpha_eff lambda``
            as ``lambda -> 0`` (Theorem 4), the normalisation keeps it away from 0 for stable
            algorithms; for GD it is ``min(alpha lambda_max, 2 - alpha lambda_max)``. It is
            ``<= 0`` exactly when some ``lambda in (0, lambda_max]`` is not strictly stable
            (for ``S`` decided by root locus; ``A`` by the refined dense grid).
        radius: ``max r(lambda)`` over the hull ``[lambda_lo, lambda_max]`` of the spectrum.
        radius_S: ``max rho(S_lambda)`` over the hull.
        radius_A: ``max rho(A_lambda)`` over the hull (``radius_S**2`` without ``A``).
        lambda_worst: where the normalised decay is smallest (``0.0`` for the ``lambda -> 0``
            limit, ``nan`` when the memory ``D`` is not stable).
        crossings: ``(M + 1,)`` eigenvalues ``lambda`` at which a root of ``chi_lambda`` is on
            the unit circle (the stability boundaries of ``S``), ``nan`` padded.
        memory_radius: ``rho(D)``.
        alpha_eff: effective learning rate (22).
    """

    stable: jax.Array
    margin: jax.Array
    radius: jax.Array
    radius_S: jax.Array
    radius_A: jax.Array
    lambda_worst: jax.Array
    crossings: jax.Array
    memory_radius: jax.Array
    alpha_eff: jax.Array


_GOLD = (math.sqrt(5.0) - 1.0) / 2.0


def _polys(alg: MemoryAlgorithm, kern: _Kernel):
    """``(P, Q, alpha_eff, rho(D))``; closed forms for ``M <= 1`` (cheap to compile)."""
    M = alg.memory
    if M == 0:
        one = jnp.ones((), alg.dtype)
        return jnp.stack([-one, one]), -alg.alpha[None], alg.alpha, jnp.zeros((), alg.dtype)
    if M == 1:
        D = alg.D[0, 0]
        q1 = kern.q1
        q0 = -kern.kappa - q1  # q0 + q1 = -(alpha delta - b c)
        P = jnp.stack([D, -(1.0 + D), jnp.ones_like(D)])
        safe = jnp.where(kern.delta == 0, 1.0, kern.delta)
        aeff = jnp.where(kern.delta == 0, jnp.nan, kern.kappa / safe)
        return P, jnp.stack([q0, q1]), aeff, jnp.abs(D)
    P, Q = characteristic_polynomials(alg)
    rho_D = jnp.max(jnp.abs(jnp.linalg.eigvals(alg.D)))
    return P, Q, effective_learning_rate(alg), rho_D


def _strict_core(alg: MemoryAlgorithm, lam_lo, lam_max, eps, *, with_A: bool, n_log: int,
                 n_lin: int, refine: int) -> StrictStability:
    """Pure, vmappable core of :func:`strict_stability` (``alg`` stationary)."""
    M = alg.memory
    dtype = alg.dtype
    kern = _kernel(alg)
    floor = _MARGIN_FLOOR * lam_max

    def g(lam):
        gS, gA = _decays(kern, M, lam, eps, with_A)
        return gS, jnp.minimum(gS, gA), gA

    P, Q, aeff, rho_D = _polys(alg, kern)
    d_ok = rho_D < 1.0
    aeff_term = jnp.where(d_ok & jnp.isfinite(aeff), aeff * lam_max, -jnp.inf)
    # root locus of S: the lambda at which a root crosses the unit circle
    cross = _crossings(P, Q, M)
    cross_in = jnp.isfinite(cross) & (cross > 0) & (cross <= lam_max)
    # evaluation points: dense log + linear grid, crossings and the midpoints of the bands
    lo_log = jnp.minimum(lam_lo, floor)
    u = jnp.linspace(0.0, 1.0, n_log, dtype=dtype)
    grid_log = lo_log * (lam_max / lo_log) ** u
    grid_lin = lam_max * jnp.arange(1, n_lin + 1, dtype=dtype) / n_lin
    cs = jnp.where(cross_in, cross, lam_max)
    nxt = jnp.min(jnp.where(cs[None, :] > cs[:, None], cs[None, :], lam_max), axis=1)
    pts = jnp.concatenate([grid_log, grid_lin, cs, 0.5 * (cs + nxt), lam_lo[None]])
    gS, gmin, gA = g(pts)
    m = jnp.where(pts >= floor, gmin * lam_max / pts, jnp.inf)
    in_hull = (pts >= lam_lo) & (pts <= lam_max)
    rS = jnp.where(in_hull, 1.0 - gS, -jnp.inf)
    rA = jnp.where(in_hull, 1.0 - gA, -jnp.inf)

    def bracket(vals):
        """Neighbours of the minimum of ``vals`` on the log or on the linear grid."""
        il = jnp.argmin(vals[:n_log])
        ii = jnp.argmin(vals[n_log:n_log + n_lin])
        in_log = vals[il] <= vals[n_log + ii]
        lo = jnp.where(in_log, grid_log[jnp.maximum(il - 1, 0)], grid_lin[jnp.maximum(ii - 1, 0)])
        hi = jnp.where(in_log, grid_log[jnp.minimum(il + 1, n_log - 1)],
                       grid_lin[jnp.minimum(ii + 1, n_lin - 1)])
        lo = jnp.where(~in_log & (ii == 0), 0.5 * grid_lin[0], lo)
        return lo, hi

    # golden-section refinement of min normalised decay (bracket 1) and max radius over the
    # hull (bracket 2), both in one loop: a single evaluation of g on 4 points per iteration
    a1, b1 = bracket(m)
    a2, b2 = bracket(-jnp.maximum(rS, rA))
    a2, b2 = jnp.maximum(a2, lam_lo), jnp.minimum(b2, lam_max)
    big = jnp.asarray(jnp.inf, dtype)
    best0 = (jnp.min(m), pts[jnp.argmin(m)], jnp.max(rS), jnp.max(rA))

    def body(_, st):
        (a1, b1, a2, b2), (mb, xb, rsb, rab) = st
        xs = jnp.stack([b1 - _GOLD * (b1 - a1), a1 + _GOLD * (b1 - a1),
                        b2 - _GOLD * (b2 - a2), a2 + _GOLD * (b2 - a2)])
        s_, mn, a_ = g(xs)
        mm = jnp.where(xs[:2] >= floor, mn[:2] * lam_max / xs[:2], big)
        left1 = mm[0] <= mm[1]
        r2 = 1.0 - mn[2:]
        left2 = r2[0] >= r2[1]
        k = jnp.argmin(mm)
        better = mm[k] < mb
        st_new = ((jnp.where(left1, a1, xs[0]), jnp.where(left1, xs[1], b1),
                   jnp.where(left2, a2, xs[2]), jnp.where(left2, xs[3], b2)),
                  (jnp.where(better, mm[k], mb), jnp.where(better, xs[k], xb),
                   jnp.maximum(rsb, jnp.max(1.0 - s_[2:])), jnp.maximum(rab, jnp.max(1.0 - a_[2:]))))
        return st_new

    _, (m_best, x_best, radius_S, radius_Ah) = jax.lax.fori_loop(
        0, refine, body, ((a1, b1, a2, b2), best0))
    use_aeff = aeff_term < m_best
    margin = jnp.where(use_aeff, aeff_term, m_best)
    lam_worst = jnp.where(use_aeff, 0.0, x_best)
    margin = jnp.where(jnp.any(cross_in), jnp.minimum(margin, 0.0), margin)
    margin = jnp.minimum(margin, 1.0 - rho_D)
    lam_worst = jnp.where(d_ok, lam_worst, jnp.nan)
    return StrictStability(
        stable=margin > 0,
        margin=margin,
        radius=jnp.maximum(radius_S, radius_Ah),
        radius_S=radius_S,
        radius_A=radius_Ah**2,
        lambda_worst=lam_worst,
        crossings=jnp.where(jnp.isfinite(cross) & (cross > 0), cross, jnp.nan),
        memory_radius=rho_D,
        alpha_eff=aeff,
    )


def _interval(spectrum, dtype):
    """``(lambda_lo, lambda_max)`` from a Spectrum, a scalar ``lambda_max`` or a pair."""
    if isinstance(spectrum, Spectrum):
        lam = spectrum.eigenvalues
        V.check_finite(lam, "spectrum.eigenvalues")
        V.check_positive(lam, "spectrum.eigenvalues")
        return jnp.min(lam).astype(dtype), jnp.max(lam).astype(dtype)
    arr = V.as_float_array(spectrum, "spectrum", dtype)
    V.check_finite(arr, "spectrum")
    V.check_positive(arr, "spectrum")
    if arr.ndim == 0:
        return _MARGIN_FLOOR * arr, arr
    if arr.shape != (2,):
        raise ValueError(
            "spectrum must be a Spectrum, a scalar lambda_max or a pair (lambda_lo, lambda_max),"
            f" got shape {arr.shape}"
        )
    if V.is_concrete(arr) and not float(arr[0]) <= float(arr[1]):
        raise ValueError(f"spectrum interval must satisfy lambda_lo <= lambda_max, got {arr}")
    return arr[0], arr[1]


def strict_stability(
    algorithm: MemoryAlgorithm,
    spectrum: Union[Spectrum, float, tuple],
    batch_size: Optional[Scalar] = None,
    tau: Tuple[Scalar, Scalar] = (1.0, -1.0),
    *,
    grid_size: int = 256,
    refine_steps: int = 40,
) -> StrictStability:
    """Strict stability of ``S_lambda`` (and of ``A_lambda`` when ``tau2 != 0``) on the interval.

    Theorem 4/6 setting (spec §5, §6.2): the algorithm is strictly stable when the memory
    ``D`` is, ``alpha_eff > 0`` and every :math:`\\lambda\\in(0,\\lambda_{\\max}]` gives a
    strictly stable map. The decision for ``S`` is exact (root locus: the crossings of the unit
    circle, :math:`\\lambda=P(e^{i\\theta})/Q(e^{i\\theta})\\in\\mathbb R`); the margin and radii
    are measured on ``grid_size`` log-spaced plus ``grid_size / 2`` linear points, the crossings
    and their midpoints, refined by golden-section search. For memory 1 the result agrees
    with the closed-form conditions (227) of :func:`jaxaccel.memory1_theory.memory1_conditions`.

    Args:
        algorithm: stationary :class:`~jaxaccel.algorithms.MemoryAlgorithm` (any ``M``).
        spectrum: a :class:`~jaxaccel.spectra.Spectrum` (interval ``(0, lambda_max]``, radius
            hull ``[lambda_min, lambda_max]``), a scalar ``lambda_max`` or a pair
            ``(lambda_lo, lambda_max)``.
        batch_size: ``None`` (noiseless: ``S`` only) or a positive batch size; with
            ``tau2 != 0`` the map (16) is checked as well.
        tau: ``(tau1, tau2)``.
        grid_size: log-grid points (static; the linear grid has half as many).
        refine_steps: golden-section iterations.

    Returns:
        :class:`StrictStability` (scalars; use ``jax.vmap`` over algorithm parameters).

    Example:
        >>> import jaxaccel as ja
        >>> r = strict_stability(ja.gd(1.5), 1.0)     # margin = min(a l, 2 - a l)
        >>> bool(r.stable), round(float(r.margin), 10)
        (True, 0.5)
        >>> bool(strict_stability(ja.heavy_ball(4.0, 0.9), 1.0).stable)   # 4 > 2(1 + beta)
        False
    """
    alg = _stationary_alg(algorithm)
    for name, x in zip(("alpha", "a", "b", "c", "D"), alg.tree_flatten()[0]):
        V.check_finite(x, f"algorithm.{name}")
    lam_lo, lam_max = _interval(spectrum, alg.dtype)
    inv_b, t = _noise_args(batch_size, tau, alg.dtype)
    n = V.check_positive_int(grid_size, "grid_size")
    refine = V.check_positive_int(refine_steps, "refine_steps")
    with_A = _with_A(batch_size, tau)
    eps = t[1] * inv_b if with_A else jnp.zeros((), alg.dtype)
    return _strict_jit(alg, lam_lo, lam_max, eps, with_A=with_A, n_log=n,
                       n_lin=max(2, n // 2), refine=refine)


_strict_jit = jax.jit(_strict_core, static_argnames=("with_A", "n_log", "n_lin", "refine"))


# ============================================================================ noisy stability
class NoisyStability(NamedTuple):
    """Noisy stability (Theorems 3 and 8, spec §5.2).

    Attributes:
        stable: bool: strictly stable, ``A_lambda`` stable on every node, ``U~_Sigma < 1``
            and ``U_Sigma < inf`` (for ``a = 0``, ``U~ = U`` and this is ``U_Sigma < 1``).
        U: :math:`U_\\Sigma` (``+inf`` when not stable on some node).
        U_tilde: :math:`\\tilde U_\\Sigma`, the quantity compared with 1.
        strict: :class:`StrictStability` of the algorithm on the spectrum's interval.
    """

    stable: jax.Array
    U: jax.Array
    U_tilde: jax.Array
    strict: StrictStability


def noisy_stability(spectrum: Spectrum, algorithm: MemoryAlgorithm, batch_size: Scalar,
                    tau: Tuple[Scalar, Scalar] = (1.0, -1.0)) -> NoisyStability:
    """Noisy stability: :math:`\\tilde U_\\Sigma<1` (``U_Sigma < 1`` when ``a = 0``).

    .. math::  U_\\Sigma=\\frac{\\tau_1}{b}\\sum_k\\lambda_k^2\\big\\langle E_{11},
               (I-\\mathcal A_{\\lambda_k})^{-1}(vv^T)\\big\\rangle

    (spec §5.3; tilde: ``wbar wbar^T`` on the left), computed by
    :func:`jaxaccel.propagators.propagator_sums`, together with :func:`strict_stability`.
    Theorem 3/8: below 1 the loss stays bounded (and converges when the signal does), above 1
    it diverges.

    Args:
        spectrum: the problem (node weights count multiplicities in the noise sums).
        algorithm: stationary algorithm.
        batch_size: positive batch size.
        tau: ``(tau1, tau2)``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> r = noisy_stability(s, ja.heavy_ball(0.5, 0.5), batch_size=10)
        >>> bool(r.stable), bool(r.U < 1)
        (True, True)
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    strict = strict_stability(algorithm, spectrum, batch_size, tau)
    sums = propagator_sums(spectrum, algorithm, batch_size, tau)
    ok = strict.stable & sums.stable & (sums.U_tilde < 1.0) & jnp.isfinite(sums.U)
    return NoisyStability(ok, sums.U, sums.U_tilde, strict)


# ============================================================================ loss constant
class LossPrediction(NamedTuple):
    """Predicted late-time loss ``L_t ~ constant * t ** -exponent`` (spec §5.2-5.4).

    Attributes:
        constant: ``C_L`` (``+inf`` when not noisily stable, ``nan`` at the phase boundary or
            without power-law metadata).
        exponent: ``zeta`` (signal phase) or ``2 - 1/nu`` (noise phase).
        phase: ``"signal"``, ``"noise"``, ``"boundary"`` or ``"unknown"``.
    """

    constant: jax.Array
    exponent: float
    phase: str


def _phase_of(pl: Optional[PowerLaw]):
    if pl is None:
        return "unknown", float("nan")
    xi_u = 2.0 - 1.0 / pl.nu
    if pl.zeta < xi_u:
        return "signal", float(pl.zeta)
    if pl.zeta > xi_u:
        return "noise", float(xi_u)
    return "boundary", float(xi_u)


def _loss_constant(pl: Optional[PowerLaw], aeff, U, U_tilde, V_tilde, inv_b, tau1):
    """``C_L`` of eqs. (20)/(181) (signal) or (21)/(182) with (221) (noise); see LossPrediction."""
    phase, _ = _phase_of(pl)
    if phase in ("unknown", "boundary"):
        return jnp.full(jnp.shape(aeff), jnp.nan)
    shift = 1.0 + U - U_tilde  # 1 for a = 0
    if phase == "signal":
        C_V = pl.Q * math.gamma(pl.zeta + 1.0) * (2.0 * aeff) ** (-pl.zeta)
        return C_V * shift / (2.0 * (1.0 - U_tilde))
    C_U = (tau1 * inv_b * pl.Lambda ** (1.0 / pl.nu) * math.gamma(2.0 - 1.0 / pl.nu)
           / (4.0 * pl.nu) * (2.0 * aeff) ** (1.0 / pl.nu))
    return C_U * V_tilde * shift / (2.0 * (1.0 - U_tilde) ** 2)


def predicted_loss(spectrum: Spectrum, algorithm: MemoryAlgorithm, batch_size: Scalar,
                   tau: Tuple[Scalar, Scalar] = (1.0, -1.0)) -> LossPrediction:
    """Late-time loss constant ``C_L`` and exponent of a noisily stable algorithm.

    Signal phase (``zeta < 2 - 1/nu``), eqs. (20), (181), (211):

    .. math::  L_t\\simeq\\frac{Q\\Gamma(\\zeta+1)(2\\alpha_{\\rm eff})^{-\\zeta}
               (1+U_\\Sigma-\\tilde U_\\Sigma)}{2(1-\\tilde U_\\Sigma)}\\,t^{-\\zeta};

    noise phase (``zeta > 2 - 1/nu``), eqs. (21), (182), (221):

    .. math::  L_t\\simeq\\frac{C_U\\tilde V_\\Sigma(1+U_\\Sigma-\\tilde U_\\Sigma)}
               {2(1-\\tilde U_\\Sigma)^2}\\,t^{-(2-1/\\nu)},\\quad
               C_U=\\frac{\\tau_1\\Lambda^{1/\\nu}\\Gamma(2-1/\\nu)}{4b\\nu}(2\\alpha_{\\rm eff})^{1/\\nu}.

    For ``a = 0``, ``U~ = U`` and the signal constant is ``Q Gamma(zeta+1)(2 alpha_eff)^-zeta
    / (2 (1 - U_Sigma))``. Needs the spectrum's :class:`~jaxaccel.spectra.PowerLaw` metadata.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> p = predicted_loss(s, ja.heavy_ball(0.5, 0.5), batch_size=10)
        >>> p.phase, p.exponent
        ('signal', 0.5)
    """
    ns = noisy_stability(spectrum, algorithm, batch_size, tau)
    sums = propagator_sums(spectrum, algorithm, batch_size, tau)
    inv_b, t = _noise_args(batch_size, tau, spectrum.dtype)
    C = _loss_constant(spectrum.power_law, ns.strict.alpha_eff, sums.U, sums.U_tilde,
                       sums.V_tilde, inv_b, t[0])
    phase, xi = _phase_of(spectrum.power_law)
    return LossPrediction(jnp.where(ns.stable, C, jnp.inf), xi, phase)


# ============================================================================ stability maps
class StabilityMap(NamedTuple):
    """Stability quantities on a parameter grid; every array has shape ``grid_shape``.

    Attributes:
        family: name of the family (``"callable"`` for a user function).
        axes: ordered ``{name: values}``; array axis ``i`` runs over the ``i``-th entry.
        fixed: parameters held fixed (scalars).
        margin: :attr:`StrictStability.margin` (``> 0``: strictly stable on ``(0, lambda_max]``).
        radius: :attr:`StrictStability.radius` (max over the spectrum's hull).
        U, U_tilde: noise sums ``U_Sigma``, ``U~_Sigma`` (``+inf`` where unstable on a node).
        alpha_eff: effective learning rate (22).
        C_L: predicted loss constant (:func:`predicted_loss`), ``+inf`` where not stable.
        stable: bool, strictly and noisily stable.
        strictly_stable: bool, ``margin > 0``.
        loss_exponent: exponent of ``C_L``'s phase (``L_t ~ C_L t^-loss_exponent``).
        phase: ``"signal"``, ``"noise"``, ``"boundary"`` or ``"unknown"``.
    """

    family: str
    axes: Dict[str, np.ndarray]
    fixed: Dict[str, float]
    margin: jax.Array
    radius: jax.Array
    U: jax.Array
    U_tilde: jax.Array
    alpha_eff: jax.Array
    C_L: jax.Array
    stable: jax.Array
    strictly_stable: jax.Array
    loss_exponent: float
    phase: str


_NOISE_AXES = ("batch_size", "tau1", "tau2")
_PAD_MIN, _PAD_MAX = 16, 256  # grids of <= _PAD_MAX points are padded to a power of two
_MEMORY1_NAMES = ("delta", "q0", "q1", "alpha_eff")


def _memory1_params(p):
    """``(delta, q0, q1)`` from exactly three of ``delta, q0, q1, alpha_eff``."""
    if "alpha_eff" not in p:
        return p["delta"], p["q0"], p["q1"]
    if "delta" not in p:  # delta = -(q0 + q1) / alpha_eff
        return -(p["q0"] + p["q1"]) / p["alpha_eff"], p["q0"], p["q1"]
    if "q1" not in p:
        return tuple(triplet_from_effective(p["delta"], p["alpha_eff"], p["q0"]))
    # q0 = -q1 - delta alpha_eff
    return p["delta"], -p["q1"] - p["delta"] * p["alpha_eff"], p["q1"]


def _family(family):
    """``(name, allowed names, build(params) -> alg, sums(spectrum, params, alg, b, tau, tau2_zero))``."""
    def generic(spec, p, alg, b, t, t2zero):
        return propagator_sums(spec, alg, b, t)

    def mem1_sums(spec, d, q0, q1, alg, b, t, t2zero):
        if t2zero:
            return memory1_sums(spec, d, q0, q1, b, t[0])
        return propagator_sums(spec, alg, b, t)

    if callable(family) and not isinstance(family, str):
        try:
            sig = inspect.signature(family).parameters
        except (TypeError, ValueError):
            raise ValueError("family must be a named family or a function params -> MemoryAlgorithm")
        names = {k for k, v in sig.items() if v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)}
        required = {k for k in names if sig[k].default is inspect.Parameter.empty}

        def build(p):
            alg = family(**p)
            if not isinstance(alg, MemoryAlgorithm):
                raise ValueError("family must return a MemoryAlgorithm")
            return alg

        return "callable", names, required, build, generic
    if family == "gd":
        return ("gd", {"alpha"}, {"alpha"}, lambda p: gd(p["alpha"]), "hb")
    if family == "heavy_ball":
        return ("heavy_ball", {"alpha", "beta"}, {"alpha", "beta"},
                lambda p: heavy_ball(p["alpha"], p["beta"]), "hb")
    if family == "nesterov":
        return ("nesterov", {"alpha", "beta"}, {"alpha", "beta"},
                lambda p: nesterov(p["alpha"], p["beta"]), generic)
    if family == "memory1":
        return ("memory1", set(_MEMORY1_NAMES), None,
                lambda p: memory1_triplet(*_memory1_params(p)),
                lambda s, p, a, b, t, z: mem1_sums(s, *_memory1_params(p), a, b, t, z))
    if family == "am1":
        def am1_sums(s, p, a, b, t, z):
            beta = p["beta"]
            return mem1_sums(s, 1.0 - beta, beta * p["eta_prime"], -(p["eta"] + p["eta_prime"]),
                             a, b, t, z)

        return ("am1", {"eta", "eta_prime", "beta"}, {"eta", "eta_prime", "beta"},
                lambda p: am1_form(p["eta"], p["eta_prime"], p["beta"]), am1_sums)
    raise ValueError(
        f"family must be 'gd', 'heavy_ball', 'nesterov', 'memory1', 'am1' or a function "
        f"params -> MemoryAlgorithm, got {family!r}"
    )


def _check_names(fname, allowed, required, given):
    unknown = sorted(set(given) - set(allowed) - set(_NOISE_AXES))
    if unknown:
        raise ValueError(
            f"grid/fixed parameter(s) {unknown} are not parameters of family {fname!r} "
            f"(parameters {sorted(allowed)}, or {list(_NOISE_AXES)})"
        )
    algo = set(given) - set(_NOISE_AXES)
    if fname == "memory1":
        if len(algo) != 3:
            raise ValueError(
                "grid/fixed must give exactly three of ('delta', 'q0', 'q1', 'alpha_eff') for "
                f"family 'memory1', got {sorted(algo)}"
            )
        return
    missing = sorted(set(required) - algo)
    if missing:
        raise ValueError(f"grid/fixed is missing parameter(s) {missing} of family {fname!r}")


def _chunk(n_points, n_nodes, memory, n_eval, budget):
    """Grid points per ``vmap`` chunk so that the per-point temporaries fit ``budget`` bytes."""
    P = (memory + 1) * (memory + 2) // 2
    per_node = 12 + 3 * P * P  # sums: closed forms ~12 arrays; the general solve ~P^2 each
    per_point = 8 * (per_node * n_nodes + 40 * n_eval)
    return int(max(1, min(n_points, budget // per_point)))


def _hb_grid_sums(lam, m, c2, alpha, beta, inv_b, tau1, tau2, *, need_V: bool, rows: int):
    """Heavy Ball sums (spec §5.3) for ``G`` grid points at once: ``(U, V)``, each ``(G,)``.

    The map's fast path (no per-node stability test: :func:`_strict_core` already decides
    strict stability of ``S`` and ``A`` on the whole interval, which contains every node).
    With ``d_k = 2(1 - beta^2) - alpha lambda_k (1 - beta) + (tau2/b) alpha lambda_k (1 + beta)
    = c0 - c1 lambda_k``:

    .. math::  U_\\Sigma = \\frac{\\tau_1}{b}\\alpha(1+\\beta)\\sum_k \\frac{m_k\\lambda_k}{d_k},
               \\qquad V_\\Sigma = \\sum_k c_k^2\\,\\frac{2\\beta\\alpha\\lambda_k
               + (1-\\beta)(1-\\beta^2)}{\\alpha\\, d_k}.

    Layout: ``lax.map`` over the grid points, ``rows`` at a time; each point reduces along the
    contiguous node axis (a ``(rows, N)`` fused reduction, ``rows x N`` bounded by the
    memory budget). Equal to :func:`jaxaccel.propagators.heavy_ball_sums` on strictly stable
    points (tested).
    """
    c0 = 2.0 * (1.0 - beta * beta)
    c1 = alpha * ((1.0 - beta) - tau2 * inv_b * (1.0 + beta))
    e0 = (1.0 - beta) * (1.0 - beta * beta)
    e1 = 2.0 * beta * alpha
    ml = m * lam

    def one(x):
        c0_, c1_, e0_, e1_ = x
        r = 1.0 / (c0_ - c1_ * lam)
        u = jnp.sum(ml * r)
        v = jnp.sum(c2 * (e1_ * lam + e0_) * r) if need_V else jnp.zeros_like(u)
        return u, v

    u, v = jax.lax.map(one, (c0, c1, e0, e1), batch_size=rows)
    return tau1 * inv_b * alpha * (1.0 + beta) * u, v / alpha


@functools.lru_cache(maxsize=32)
def _map_program(family, names, fixed_names, with_A, t2_zero, n_log, n_lin, refine, chunk,
                 rows, pl):
    """The jitted map program for one static configuration (cached: no recompilation when only
    values change)."""
    _, _, _, build, sums_fn = _family(family)
    need_V = _phase_of(pl)[0] == "noise"

    def params(fixed_vals, b0, tau0, vals):
        p = dict(zip(fixed_names, fixed_vals))
        p.update(dict(zip(names, vals)))
        b = p.pop("batch_size", b0 + 0.0 * vals[0])
        t1 = p.pop("tau1", tau0[0] + 0.0 * vals[0])
        t2 = p.pop("tau2", tau0[1] + 0.0 * vals[0])
        return p, b, t1, t2

    def point(spec, fixed_vals, b0, tau0, vals):
        p, b, t1, t2 = params(fixed_vals, b0, tau0, vals)
        alg = build(p)
        lam_lo, lam_max = jnp.min(spec.eigenvalues), jnp.max(spec.eigenvalues)
        strict = _strict_core(alg, lam_lo, lam_max, t2 / b, with_A=with_A, n_log=n_log,
                              n_lin=n_lin, refine=refine)
        if sums_fn == "hb":
            return strict
        sums = sums_fn(spec, p, alg, b, (t1, t2), t2_zero)
        return strict, sums

    def finish(strict, U, Ut, V, Vt, node_ok, b, t1):
        ok = strict.stable & node_ok & (Ut < 1.0) & jnp.isfinite(U)
        C = _loss_constant(pl, strict.alpha_eff, U, Ut, Vt, 1.0 / b, t1)
        return (strict.margin, strict.radius, U, Ut, strict.alpha_eff, jnp.where(ok, C, jnp.inf),
                ok, strict.stable)

    @jax.jit
    def run(spec, fixed_vals, b0, tau0, cols):
        out = jax.lax.map(lambda v: point(spec, fixed_vals, b0, tau0, v), cols, batch_size=chunk)
        p, b, t1, t2 = params(fixed_vals, b0, tau0, cols)
        if sums_fn == "hb":
            strict = out
            alpha = p["alpha"]
            beta = p.get("beta", jnp.zeros_like(alpha))
            U, V = _hb_grid_sums(spec.eigenvalues, spec.weights, spec.c2, alpha, beta, 1.0 / b,
                                 t1, t2, need_V=need_V, rows=rows)
            U = jnp.where(strict.stable, U, jnp.inf)
            V = jnp.where(strict.stable, V, jnp.inf) if need_V else jnp.full_like(U, jnp.nan)
            return finish(strict, U, U, V, V, strict.stable, b, t1)
        strict, sums = out
        return finish(strict, sums.U, sums.U_tilde, sums.V, sums.V_tilde, sums.stable, b, t1)

    return run


def stability_map(
    spectrum: Spectrum,
    family: Union[str, Callable[..., MemoryAlgorithm]],
    grid: Dict[str, Float[ArrayLike, "n"]],
    batch_size: Scalar = 1.0,
    tau: Tuple[Scalar, Scalar] = (1.0, -1.0),
    *,
    fixed: Optional[Dict[str, float]] = None,
    memory_budget: float = 2**28,
    grid_size: int = 128,
    refine_steps: int = 30,
) -> StabilityMap:
    """Strict-stability margin, radius, ``U_Sigma``, ``alpha_eff`` and ``C_L`` on a parameter grid.

    For every point of the Cartesian product of the ``grid`` axes: :func:`strict_stability`
    on ``(0, lambda_max]`` (spec §5, §6.2), the noise sums of spec §5.3 (closed forms
    ``heavy_ball_sums`` for ``"gd"``/``"heavy_ball"`` with any ``tau``, eq. (25)
    ``memory1_sums`` for ``"memory1"``/``"am1"`` when ``tau2 = 0``, the general
    ``propagator_sums`` otherwise), and the loss constant of :func:`predicted_loss`
    (signal phase: :math:`Q\\Gamma(\\zeta+1)(2\\alpha_{\\rm eff})^{-\\zeta}/(2(1-U_\\Sigma))`).
    One jitted program: ``vmap`` inside chunks, ``lax.map`` over chunks, the chunk sized so
    that the ``chunk x N`` temporaries stay within ``memory_budget``.

    Args:
        spectrum: the problem (``N`` nodes, positive eigenvalues; power-law metadata for
            ``C_L``).
        family: ``"gd"`` (``alpha``), ``"heavy_ball"`` / ``"nesterov"`` (``alpha, beta``),
            ``"memory1"`` (exactly three of ``delta, q0, q1, alpha_eff``), ``"am1"``
            (``eta, eta_prime, beta``: form 250), or a function ``f(**params) ->
            MemoryAlgorithm`` built from ``jax.numpy`` operations.
        grid: ``{name: 1-D values}``, non-empty finite axes; the names ``batch_size``,
            ``tau1``, ``tau2`` sweep the noise model instead.
        batch_size: positive batch size (unless it is a grid axis).
        tau: ``(tau1, tau2)`` (unless they are grid axes).
        fixed: ``{name: scalar}`` parameters held fixed (not axes).
        memory_budget: bytes for the simultaneous temporaries of one chunk.
        grid_size, refine_steps: ``lambda`` grid and refinement of :func:`strict_stability`.

    Returns:
        :class:`StabilityMap`.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> m = stability_map(s, "heavy_ball", {"alpha": [0.5, 5.0], "beta": [0.0, 0.9]},
        ...                   batch_size=10)
        >>> m.margin.shape, m.stable.tolist()
        ((2, 2), [[True, True], [False, False]])
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    lam = spectrum.eigenvalues
    V.check_finite(lam, "spectrum.eigenvalues")
    V.check_positive(lam, "spectrum.eigenvalues")
    fname, allowed, required, build, sums_fn = _family(family)
    axes = validate_grid(grid, set(allowed) | set(_NOISE_AXES))
    fixed = {} if fixed is None else dict(fixed)
    if not isinstance(fixed, dict):
        raise ValueError("fixed must be a dict {name: scalar}")
    for k, v in fixed.items():
        a = np.asarray(v, dtype=np.float64)
        if a.ndim != 0 or not np.isfinite(a):
            raise ValueError(f"fixed[{k!r}] must be a finite scalar, got {v!r}")
        if k in axes:
            raise ValueError(f"{k!r} is both a grid axis and a fixed parameter")
        fixed[k] = float(a)
    _check_names(fname, allowed, required or set(), list(axes) + list(fixed))
    if "batch_size" in axes and np.any(axes["batch_size"] <= 0):
        raise ValueError("grid axis 'batch_size' must be > 0")
    if "batch_size" not in axes and "batch_size" not in fixed:
        bs = V.as_float_array(batch_size, "batch_size")
        if bs.ndim != 0:
            raise ValueError(f"batch_size must be a positive scalar, got shape {bs.shape}")
        V.check_finite(bs, "batch_size")
        V.check_positive(bs, "batch_size")
    tau_arr = V.as_float_array(tau, "tau")
    if tau_arr.shape != (2,):
        raise ValueError(f"tau must be a pair (tau1, tau2), got shape {tau_arr.shape}")
    V.check_finite(tau_arr, "tau")
    if not (np.isfinite(memory_budget) and memory_budget > 0):
        raise ValueError("memory_budget must be a positive number of bytes")
    n_log = V.check_positive_int(grid_size, "grid_size")
    refine = V.check_positive_int(refine_steps, "refine_steps")
    t2_val = fixed.get("tau2", float(tau_arr[1]))
    t2_zero = "tau2" not in axes and t2_val == 0.0
    with_A = not t2_zero
    names = list(axes)
    shape = tuple(v.size for v in axes.values())
    flat = [m.ravel() for m in np.meshgrid(*axes.values(), indexing="ij")]
    n_grid = flat[0].size
    # small grids are padded (repeating the first point) to a power of two, so that sweeps of
    # different small sizes share one compiled program; the padding is cut off below
    n_pts = n_grid if n_grid > _PAD_MAX else max(_PAD_MIN, 1 << (n_grid - 1).bit_length())
    dtype = spectrum.dtype
    probe = {k: jnp.asarray(v[0], dtype) for k, v in zip(names, flat) if k not in _NOISE_AXES}
    probe.update({k: jnp.asarray(v, dtype) for k, v in fixed.items() if k not in _NOISE_AXES})
    memory = build(probe).memory
    n_nodes = 0 if sums_fn == "hb" else spectrum.size  # HB sums: own row-chunked pass below
    chunk = _chunk(n_pts, n_nodes, memory, n_log * 3 // 2 + 2 * refine, memory_budget)
    # equal chunks (padding < one chunk): lax.map then has no remainder, which would be a
    # second copy of the per-point program
    n_chunks = -(-n_pts // chunk)
    chunk = -(-n_pts // n_chunks)
    n_pts = n_chunks * chunk
    flat = [np.pad(f, (0, n_pts - n_grid), mode="edge") for f in flat]
    pl = spectrum.power_law
    # HB sums: rows x N temporaries (a few arrays of 8 bytes) within the budget, equal batches
    rows = int(max(1, min(n_pts, memory_budget // (8 * 4 * spectrum.size))))
    rows = -(-n_pts // -(-n_pts // rows))
    run = _map_program(family, tuple(names), tuple(sorted(fixed)), with_A, t2_zero, n_log,
                       max(2, n_log // 2), refine, chunk, rows, pl)
    fixed_vals = tuple(jnp.asarray(fixed[k], dtype) for k in sorted(fixed))
    cols = tuple(jnp.asarray(f, dtype) for f in flat)
    b0 = jnp.asarray(1.0 if "batch_size" in axes else fixed.get("batch_size", batch_size), dtype)
    out = run(spectrum, fixed_vals, b0, tau_arr.astype(dtype), cols)
    out = [x[:n_grid].reshape(shape) for x in out]
    phase, xi = _phase_of(pl)
    return StabilityMap(fname, axes, fixed, *out, loss_exponent=xi, phase=phase)


# ============================================================================ Theorem 7
class RegionAnalysis(NamedTuple):
    """Memory-1 noise sum along a parameter path (spec §6.4-6.5, Theorem 7); arrays ``(n,)``.

    Attributes:
        delta, q0, q1, alpha_eff: the path.
        U: :math:`U_\\Sigma` by the closed form (25) (``tau2 = 0``); ``+inf`` if not strictly
            stable on a node.
        scaled_U: :math:`bU_\\Sigma/\\tau_1` (the quantity tabulated in §6.5).
        U_asymptotic: the three-term estimate (26) (``nan`` for ``q0 <= 0``).
        small_sum: condition (iii), :math:`\\alpha_{\\rm eff}\\sum_{\\lambda_k<\\delta/q_0}\\lambda_k`.
        middle_count: condition (iv), :math:`\\frac{\\delta\\alpha_{\\rm eff}}{q_0}
            \\#\\{k:\\lambda_k\\ge\\delta/q_0\\}`.
        strictly_stable: Theorem 6 (227) at ``lambda_max``.
    """

    delta: jax.Array
    q0: jax.Array
    q1: jax.Array
    alpha_eff: jax.Array
    U: jax.Array
    scaled_U: jax.Array
    U_asymptotic: jax.Array
    small_sum: jax.Array
    middle_count: jax.Array
    strictly_stable: jax.Array


def region_analysis(spectrum: Spectrum, delta: Float[ArrayLike, "n"], q0: Float[ArrayLike, "n"],
                    alpha_eff: Float[ArrayLike, "n"], batch_size: Scalar = 1.0,
                    tau1: float = 1.0) -> RegionAnalysis:
    """Noise sum (25) and the Theorem 7 quantities along a path ``(delta, q0, alpha_eff)``.

    With ``q1 = -q0 - delta alpha_eff``, ``lambda_(1) = delta / q0`` and
    ``lambda_(2) = delta alpha_eff / (q0 (q0 - q1))``, eq. (26):

    .. math::  U_\\Sigma\\asymp\\frac{\\tau_1}{b}\\Big[\\alpha_{\\rm eff}\\!\\!\\sum_{\\lambda_k<
               \\lambda_{(1)}}\\!\\!\\lambda_k+\\frac{\\delta\\alpha_{\\rm eff}}{q_0}
               \\#\\{\\lambda_{(1)}\\le\\lambda_k\\le\\lambda_{(2)}\\}+(q_0-q_1)\\!\\!
               \\sum_{\\lambda_k>\\lambda_{(2)}}\\!\\!\\frac{\\lambda_k}{4-\\lambda_k(q_0-q_1)}\\Big].

    Theorem 7.1: with ``alpha_eff -> inf`` under strict stability, ``U_Sigma`` stays bounded
    iff ``delta -> 0``, ``q0 > 0`` and (iii), (iv) stay bounded. Node weights count
    multiplicities. Points are processed one at a time (``lax.map``), so ``N = 1e7`` is fine.

    Args:
        spectrum: the problem.
        delta, q0, alpha_eff: broadcastable 1-D path arrays (``delta > 0``, ``alpha_eff > 0``).
        batch_size: ``b > 0``.
        tau1: ``tau1 > 0``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(10_000, nu=2.0, zeta=0.5)
        >>> r = region_analysis(s, [1e-2, 1e-3], 0.5, [10.0, 31.6])
        >>> [round(float(x), 2) for x in r.scaled_U]
        [1.62, 1.61]
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    dtype = spectrum.dtype
    d = V.as_float_array(delta, "delta", dtype)
    a = V.as_float_array(q0, "q0", dtype)
    ae = V.as_float_array(alpha_eff, "alpha_eff", dtype)
    for name, x in (("delta", d), ("q0", a), ("alpha_eff", ae)):
        V.check_finite(x, name)
        V.check_ndim(x, name, (0, 1))
    V.check_positive(d, "delta")
    V.check_positive(ae, "alpha_eff")
    inv_b, t = _noise_args(batch_size, (tau1, 0.0), dtype)
    if inv_b is None:
        raise ValueError("batch_size must be a positive number")
    V.check_positive(t[0], "tau1")
    d, a, ae = (x.reshape(-1) for x in jnp.broadcast_arrays(d, a, ae))
    q1 = -a - d * ae
    b = 1.0 / inv_b
    U = _region_sums(spectrum, d, a, q1, ae, b, t[0])
    return RegionAnalysis(d, a, q1, ae, U[0], U[0] * b / t[0], *U[1:],
                          memory1_conditions(d, a, q1, spectrum.lambda_max).stable)


@jax.jit
def _region_sums(spectrum, d, a, q1, ae, b, tau1):
    lam, m = spectrum.eigenvalues, spectrum.weights

    def one(x):
        dd, aa, bb, ee = x
        U = memory1_sums(spectrum, dd, aa, bb, b, tau1).U
        pos = aa > 0
        l1 = jnp.where(pos, dd / jnp.where(pos, aa, 1.0), jnp.inf)
        qd = aa - bb
        l2 = jnp.where(pos, dd * ee / jnp.where(pos, aa * qd, 1.0), jnp.inf)
        below, above = lam < l1, lam > l2
        mid = ~below & ~above
        U26 = (tau1 / b) * (ee * jnp.sum(m * lam * below) + dd * ee / jnp.where(pos, aa, 1.0)
                            * jnp.sum(m * mid) + qd * jnp.sum(m * lam * above / (4.0 - lam * qd)))
        small = ee * jnp.sum(m * lam * below)
        count = dd * ee / jnp.where(pos, aa, 1.0) * jnp.sum(m * (lam >= l1))
        nan = jnp.nan
        return (U, jnp.where(pos, U26, nan), jnp.where(pos, small, nan), jnp.where(pos, count, nan))

    return jax.lax.map(one, (d, a, q1, ae))


class Theorem7Path(NamedTuple):
    """A path ``delta = eps``, ``alpha_eff = eps^-theta``, ``q0 = q0_scale * eps^rho``."""

    theta: float
    q0_scale: float
    rho: float = 0.0


def theorem7_default_paths(nu: float, q0: float = 0.5) -> Dict[str, Theorem7Path]:
    """The parameter paths of the §6.5 table for spectral exponent ``nu``.

    ``edge``: ``theta = 1 - 1/nu`` (Theorem 7.2 limit); ``inside`` / ``outside``:
    ``0.6`` / ``1.4`` times it (``0.3`` / ``0.7`` at ``nu = 2``); ``heavy_ball``: ``q0 = 0`` at
    the edge exponent; ``vanishing_q0``: ``q0 = eps^0.2`` with ``theta = 0.6 (1 - 1/nu)``
    (``< (1 - rho)(1 - 1/nu)``, so ``U_Sigma -> 0``).

    Example:
        >>> theorem7_default_paths(2.0)["outside"].theta
        0.7
    """
    if not (np.isfinite(nu) and nu > 1):
        raise ValueError(f"nu must be > 1, got {nu!r}")
    edge = 1.0 - 1.0 / nu
    return {
        "edge": Theorem7Path(edge, q0),
        "inside": Theorem7Path(round(0.6 * edge, 12), q0),
        "outside": Theorem7Path(round(1.4 * edge, 12), q0),
        "heavy_ball": Theorem7Path(edge, 0.0),
        "vanishing_q0": Theorem7Path(round(0.6 * edge, 12), 1.0, 0.2),
    }


def theorem7_paths(spectrum: Spectrum, eps: Float[ArrayLike, "n"],
                   paths: Optional[Dict[str, Theorem7Path]] = None, q0: float = 0.5,
                   batch_size: Scalar = 1.0, tau1: float = 1.0) -> Dict[str, RegionAnalysis]:
    """:func:`region_analysis` along the Theorem 7 paths ``delta = eps -> 0`` (spec §6.5).

    Heavy Ball (``q0 = 0``) has ``U_Sigma >~ tau1 alpha_eff sum_k lambda_k / (2b)``, unbounded
    as ``alpha_eff`` grows; memory 1 with ``q0 > 0`` keeps ``U_Sigma`` bounded up to the edge
    ``alpha_eff (delta/q0)^{1 - 1/nu} = O(1)``.

    Args:
        spectrum: the problem (power-law metadata used for the default paths).
        eps: 1-D array of ``delta`` values.
        paths: ``{name: Theorem7Path}`` (default :func:`theorem7_default_paths`).
        q0, batch_size, tau1: as in :func:`region_analysis`.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(10_000, nu=2.0, zeta=0.5)
        >>> r = theorem7_paths(s, [1e-2, 1e-4])
        >>> bool(r["heavy_ball"].scaled_U[1] > 5 * r["heavy_ball"].scaled_U[0])
        True
    """
    eps = np.asarray(eps, dtype=np.float64)
    if eps.ndim != 1 or eps.size == 0 or not np.all(np.isfinite(eps)) or np.any(eps <= 0):
        raise ValueError("eps must be a non-empty 1-D array of positive finite numbers")
    if paths is None:
        if spectrum.power_law is None:
            raise ValueError("paths must be given for a spectrum without power-law metadata")
        paths = theorem7_default_paths(spectrum.power_law.nu, q0)
    out = {}
    for name, p in paths.items():
        if not isinstance(p, Theorem7Path):
            raise ValueError(f"paths[{name!r}] must be a Theorem7Path")
        out[name] = region_analysis(spectrum, eps, p.q0_scale * eps**p.rho, eps ** (-p.theta),
                                    batch_size, tau1)
    return out


# ============================================================================ phase diagram
PHASES = ("signal", "noise", "divergent", "immediate")


class PhaseDiagram(NamedTuple):
    """Phases of mini-batch SGD in the ``(nu, zeta)`` plane (spec §1 rates, §5.4).

    Attributes:
        nu, zeta: 2-D arrays ``(len(zeta), len(nu))`` (``meshgrid`` of the inputs).
        phase: int codes into :data:`PHASES`: ``0`` signal (``zeta < 2 - 1/nu``), ``1`` noise
            (``zeta >= 2 - 1/nu``), ``2`` divergent (``1/2 < nu <= 1``: ``U_Sigma = inf``),
            ``3`` immediate divergence (``nu <= 1/2``).
        sgd_exponent: ``L_t ~ t^-sgd_exponent``: ``zeta`` (signal), ``2 - 1/nu`` (noise),
            ``nan`` otherwise.
        am1_exponent: ``zeta (2 - 1/nu)``, the heuristic limit (27) of accelerated memory-1
            in the signal phase (``nan`` elsewhere).
        boundary_zeta: ``(len(nu),)``, ``2 - 1/nu`` (the signal/noise boundary).
    """

    nu: np.ndarray
    zeta: np.ndarray
    phase: np.ndarray
    sgd_exponent: np.ndarray
    am1_exponent: np.ndarray
    boundary_zeta: np.ndarray


def phase_diagram(nu: Float[ArrayLike, "n_nu"], zeta: Float[ArrayLike, "n_zeta"]) -> PhaseDiagram:
    """Phase diagram data on a grid of ``nu`` and ``zeta`` (spec §1, §5.4, (27)).

    Args:
        nu: 1-D positive spectral exponents.
        zeta: 1-D positive target exponents.

    Returns:
        :class:`PhaseDiagram` on the ``(len(zeta), len(nu))`` mesh.

    Example:
        >>> pd = phase_diagram([1.5, 3.0], [0.5, 2.5])
        >>> [PHASES[k] for k in pd.phase[:, 0]], pd.sgd_exponent[1, 0].round(4)
        (['signal', 'noise'], np.float64(1.3333))
    """
    nu = np.asarray(nu, dtype=np.float64)
    zeta = np.asarray(zeta, dtype=np.float64)
    for name, x in (("nu", nu), ("zeta", zeta)):
        if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
            raise ValueError(f"{name} must be a non-empty 1-D array of positive finite numbers")
    N, Z = np.meshgrid(nu, zeta)
    xi_u = 2.0 - 1.0 / N
    phase = np.where(N <= 0.5, 3, np.where(N <= 1.0, 2, np.where(Z < xi_u, 0, 1)))
    sgd = np.where(phase == 0, Z, np.where(phase == 1, xi_u, np.nan))
    am1 = np.where(phase == 0, Z * xi_u, np.nan)
    return PhaseDiagram(N, Z, phase, sgd, am1, 2.0 - 1.0 / nu)
