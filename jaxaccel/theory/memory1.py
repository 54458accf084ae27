"""Memory-1 theory: Theorem 6 (strict stability, circle, critical scales) and Theorem 7.

Theory: ``docs/theory/sgd_memory.md`` §6.2-§6.5. In the triplet ``(delta, q0, q1)`` of
:mod:`jaxaccel.algorithms.memory1_forms` this module evaluates the strict stability conditions (227),
the real-vs-circle structure of the eigenvalues of ``S_lambda``, the critical scales
``lambda_-``, ``lambda_+`` of the complex region, and the region analysis (26) / Theorem 7 of
§6.5 (:func:`region_analysis`, :func:`theorem7_paths`).
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional

import numpy as np
import jax
import jax.numpy as jnp
from jaxtyping import Complex

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Scalar
from jaxaccel.algorithms.memory1_forms import Param, triplet
from jaxaccel.noise import as_noise_model
from jaxaccel.propagators.sums import memory1_sums
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum

__all__ = ["Memory1Conditions", "Memory1Circle", "CriticalScales", "RegionAnalysis", "Theorem7Path", "memory1_conditions", "memory1_eigenvalues", "memory1_circle", "memory1_critical_scales", "region_analysis", "theorem7_default_paths", "theorem7_paths"]


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
    """Scales of the complex-eigenvalue region ``lambda_- < lambda < lambda_+`` (theory §6.3).

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
    lm = V.finite_array(lambda_max, "lambda_max")
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
    (complex), Theorem 6.2 setting (theory §6.3).

    Computed in ``x = 1 - mu``: ``x^2 - (delta - lambda q1) x + lambda delta alpha_eff = 0``
    (theory §6.3), with the cancellation-free quadratic formula. With ``shifted=True`` the
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
    lam = V.finite_array(lam, "lam")
    x1, x2 = shifted_roots(t.delta - lam * t.q1, -lam * (t.q0 + t.q1))
    x = jnp.stack([x1, x2], axis=-1)
    return x if shifted else 1.0 - x


def shifted_roots(B, C):
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
    """Exact and small-``delta`` scales of the complex-eigenvalue region (theory §6.3, 245-246).

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


# ============================================================================ Theorem 7
class RegionAnalysis(NamedTuple):
    """Memory-1 noise sum along a parameter path (theory §6.4-6.5, Theorem 7); arrays ``(n,)``.

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
    check_spectrum(spectrum)
    dtype = spectrum.dtype
    d = V.as_float_array(delta, "delta", dtype)
    a = V.as_float_array(q0, "q0", dtype)
    ae = V.as_float_array(alpha_eff, "alpha_eff", dtype)
    for name, x in (("delta", d), ("q0", a), ("alpha_eff", ae)):
        V.check_finite(x, name)
        V.check_ndim(x, name, (0, 1))
    V.check_positive(d, "delta")
    V.check_positive(ae, "alpha_eff")
    noise = as_noise_model(batch_size, (tau1, 0.0), required=True)
    inv_b, t = noise.inverse_batch(dtype), noise.tau(dtype)
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
    """:func:`region_analysis` along the Theorem 7 paths ``delta = eps -> 0`` (theory §6.5).

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

