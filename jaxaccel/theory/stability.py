"""Stability of stationary memory-M SGD: strict and noisy stability.

Theory: ``docs/theory/sgd_memory.md`` §5 (Theorems 3, 4, 5, 8) and §6.2 (Theorem 6).

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
:mod:`jaxaccel.propagators.sums`.

Parameter grids of these quantities are in :mod:`jaxaccel.theory.maps`; the memory-1 closed
forms (Theorems 6 and 7) in :mod:`jaxaccel.theory.memory1`.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.algorithms.polynomials import characteristic_polynomials, effective_learning_rate
from jaxaccel.noise import NoiseModel, as_noise_model, tau2_is_zero
from jaxaccel.propagators.operator import shifted_matrix
from jaxaccel.propagators.sums import propagator_sums
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum
from jaxaccel.theory.memory1 import shifted_roots

__all__ = ["StrictStability", "NoisyStability", "spectral_radius", "propagator_radius", "strict_stability", "noisy_stability"]

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
        x1, x2 = shifted_roots(kern.delta - lam * kern.q1, lam * kern.kappa)
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
        shifted = jax.vmap(lambda x: shifted_matrix(x, kern.S0, kern.v, kern.wbar, eps))
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


def _with_A(noise: NoiseModel) -> bool:
    """Whether the second-moment map must be checked beyond ``S`` (decided eagerly)."""
    return not noise.is_full_batch and not tau2_is_zero(noise)


def _stationary_alg(algorithm, name="algorithm") -> MemoryAlgorithm:
    check_algorithm(algorithm, name, stationary=True, finite=False,
                    why=" (stability is defined per parameter set)")
    # drop the static zero-shift flag: the kernels here use the general rank-one form (7), so
    # shift-free and shifted algorithms of the same M share one compiled program
    return algorithm.with_shift_terms()


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


def propagator_radius(algorithm: MemoryAlgorithm, lam: Float[ArrayLike, "..."],
                      batch_size: Union[Scalar, NoiseModel],
                      tau: Optional[Tuple[Scalar, Scalar]] = None) -> Float[jax.Array, "..."]:
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
    if batch_size is None:
        raise ValueError("batch_size must be a positive number (the map (16) needs b)")
    noise = as_noise_model(batch_size, tau)
    return _radius_jit(alg, lam, noise.tau(alg.dtype)[1] * noise.inverse_batch(alg.dtype),
                       with_A=True)


@functools.partial(jax.jit, static_argnames=("with_A",))
def _radius_jit(alg, lam, eps, *, with_A):
    gS, gA = _decays(_kernel(alg), alg.memory, lam, eps, with_A)
    return (1.0 - gA) ** 2 if with_A else 1.0 - gS


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
        r1, r2 = shifted_roots(-R[1] / jnp.where(ok, R[2], 1.0), R[0] / jnp.where(ok, R[2], 1.0))
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


def strict_core(alg: MemoryAlgorithm, lam_lo, lam_max, eps, *, with_A: bool, n_log: int,
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
    spectrum: Union[Spectrum, float, tuple],
    algorithm: MemoryAlgorithm,
    batch_size: Union[None, Scalar, NoiseModel] = None,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    *,
    grid_size: int = 256,
    refine_steps: int = 40,
) -> StrictStability:
    """Strict stability of ``S_lambda`` (and of ``A_lambda`` when ``tau2 != 0``) on the interval.

    Theorem 4/6 setting (theory §5, §6.2): the algorithm is strictly stable when the memory
    ``D`` is, ``alpha_eff > 0`` and every :math:`\\lambda\\in(0,\\lambda_{\\max}]` gives a
    strictly stable map. The decision for ``S`` is exact (root locus: the crossings of the unit
    circle, :math:`\\lambda=P(e^{i\\theta})/Q(e^{i\\theta})\\in\\mathbb R`); the margin and radii
    are measured on ``grid_size`` log-spaced plus ``grid_size / 2`` linear points, the crossings
    and their midpoints, refined by golden-section search. For memory 1 the result agrees
    with the closed-form conditions (227) of :func:`jaxaccel.memory1_conditions`.

    Args:
        spectrum: a :class:`~jaxaccel.spectra.Spectrum` (interval ``(0, lambda_max]``, radius
            hull ``[lambda_min, lambda_max]``), a scalar ``lambda_max`` or a pair
            ``(lambda_lo, lambda_max)``. (The spectrum comes first, as in :func:`simulate`;
            the old order ``strict_stability(algorithm, spectrum)`` still works and warns.)
        algorithm: stationary :class:`~jaxaccel.algorithms.MemoryAlgorithm` (any ``M``).
        batch_size: ``None`` (noiseless: ``S`` only) or a positive batch size; with
            ``tau2 != 0`` the map (16) is checked as well.
        tau: ``(tau1, tau2)``.
        grid_size: log-grid points (static; the linear grid has half as many).
        refine_steps: golden-section iterations.

    Returns:
        :class:`StrictStability` (scalars; use ``jax.vmap`` over algorithm parameters).

    Example:
        >>> import jaxaccel as ja
        >>> r = strict_stability(1.0, ja.gd(1.5))     # margin = min(a l, 2 - a l)
        >>> bool(r.stable), round(float(r.margin), 10)
        (True, 0.5)
        >>> bool(strict_stability(1.0, ja.heavy_ball(4.0, 0.9)).stable)   # 4 > 2(1 + beta)
        False
    """
    if isinstance(spectrum, MemoryAlgorithm) and not isinstance(algorithm, MemoryAlgorithm):
        warnings.warn("strict_stability(algorithm, spectrum) is deprecated: pass the spectrum "
                      "first, strict_stability(spectrum, algorithm)", DeprecationWarning,
                      stacklevel=2)
        spectrum, algorithm = algorithm, spectrum
    alg = check_algorithm(_stationary_alg(algorithm))
    lam_lo, lam_max = _interval(spectrum, alg.dtype)
    noise = as_noise_model(batch_size, tau)
    n = V.check_positive_int(grid_size, "grid_size")
    refine = V.check_positive_int(refine_steps, "refine_steps")
    with_A = _with_A(noise)
    eps = (noise.tau(alg.dtype)[1] * noise.inverse_batch(alg.dtype) if with_A
           else jnp.zeros((), alg.dtype))
    return _strict_jit(alg, lam_lo, lam_max, eps, with_A=with_A, n_log=n,
                       n_lin=max(2, n // 2), refine=refine)


_strict_jit = jax.jit(strict_core, static_argnames=("with_A", "n_log", "n_lin", "refine"))


# ============================================================================ noisy stability
class NoisyStability(NamedTuple):
    """Noisy stability (Theorems 3 and 8, theory §5.2).

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


def noisy_stability(spectrum: Spectrum, algorithm: MemoryAlgorithm,
                    batch_size: Union[Scalar, NoiseModel],
                    tau: Optional[Tuple[Scalar, Scalar]] = None) -> NoisyStability:
    """Noisy stability: :math:`\\tilde U_\\Sigma<1` (``U_Sigma < 1`` when ``a = 0``).

    .. math::  U_\\Sigma=\\frac{\\tau_1}{b}\\sum_k\\lambda_k^2\\big\\langle E_{11},
               (I-\\mathcal A_{\\lambda_k})^{-1}(vv^T)\\big\\rangle

    (theory §5.3; tilde: ``wbar wbar^T`` on the left), computed by
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
    check_spectrum(spectrum)
    noise = as_noise_model(batch_size, tau, required=True)
    strict = strict_stability(spectrum, algorithm, noise)
    sums = propagator_sums(spectrum, algorithm, noise)
    ok = strict.stable & sums.stable & (sums.U_tilde < 1.0) & jnp.isfinite(sums.U)
    return NoisyStability(ok, sums.U, sums.U_tilde, strict)
