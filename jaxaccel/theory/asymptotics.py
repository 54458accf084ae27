"""Asymptotic exponents and constants of loss curves: the phases and THE loss prediction.

Theory: ``docs/theory/sgd_memory.md`` §1 (rates), §5.2 (Theorems 3 and 8) and §5.4 (Theorem 5).

* :func:`loss_phase` is the one rule that decides the phase of a power-law problem
  (``"signal"`` if ``zeta < 2 - 1/nu``, ``"noise"`` if ``zeta > 2 - 1/nu``, ``"boundary"`` on
  the line, relative tolerance 1e-12); :func:`phase_diagram`, :func:`predict_loss` and the
  stability maps all use it.
* :func:`propagator_asymptotics` gives the constants of Theorem 5 (eqs. 211 and 221).
* :func:`predict_loss` is the one late-time loss prediction ``L_t ~ constant * t ** exponent``
  (eqs. 20, 21, 181, 182). Sign convention: ``exponent`` is **negative** for a decaying loss,
  as in :func:`jaxaccel.fit_power_law`. The constant itself is :func:`loss_constant`, which the
  stability maps evaluate on whole parameter grids. ``predicted_loss`` is a deprecated alias.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.algorithms.polynomials import effective_learning_rate
from jaxaccel.noise import NoiseModel, as_noise_model
from jaxaccel.propagators.sums import PropagatorSums, propagator_sums
from jaxaccel.spectra.spectrum import PowerLaw, Spectrum, check_spectrum

#: Phase names; :attr:`PhaseDiagram.phase` holds indices into this tuple.
PHASES = ("signal", "noise", "divergent", "immediate", "boundary")
#: Relative tolerance of the phase boundary ``zeta = 2 - 1/nu``.
BOUNDARY_RTOL = 1e-12


def _phase_codes(nu, zeta):
    """The phase rule on arrays: ``0`` signal, ``1`` noise, ``4`` boundary (any ``nu > 0``)."""
    nu, zeta = np.asarray(nu, np.float64), np.asarray(zeta, np.float64)
    edge = 2.0 - 1.0 / nu
    on_edge = np.abs(zeta - edge) <= BOUNDARY_RTOL * np.maximum(1.0, np.abs(edge))
    return np.where(on_edge, 4, np.where(zeta < edge, 0, 1))


def loss_phase(nu: float, zeta: float) -> str:
    """Phase of mini-batch SGD with memory (theory §1, §5.2): ``"signal"`` if
    ``zeta < 2 - 1/nu``, ``"noise"`` if ``zeta > 2 - 1/nu``, ``"boundary"`` on the line
    (``|zeta - (2 - 1/nu)| <= 1e-12 max(1, |2 - 1/nu|)``). On the boundary both terms of the
    loss decay like ``t^-zeta`` with logarithmic corrections, and no constant is predicted.

    Example:
        >>> loss_phase(1.5, 0.5), loss_phase(1.5, 2.0), loss_phase(2.0, 1.5)
        ('signal', 'noise', 'boundary')
    """
    for name, x in (("nu", nu), ("zeta", zeta)):
        if isinstance(x, (str, bytes)) or np.ndim(x) != 0 or not (np.isfinite(x) and x > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return PHASES[int(_phase_codes(nu, zeta))]


def power_law_phase(power_law: Optional[PowerLaw]) -> Tuple[str, float]:
    """``(phase, decay rate)`` of a spectrum's power-law metadata: the rate is ``zeta`` in the
    signal phase and ``2 - 1/nu`` otherwise; ``("unknown", nan)`` without metadata.

    Example:
        >>> import jaxaccel as ja
        >>> power_law_phase(ja.power_law_spectrum(10, nu=2.0, zeta=2.5).power_law)
        ('noise', 1.5)
    """
    if power_law is None:
        return "unknown", float("nan")
    phase = loss_phase(power_law.nu, power_law.zeta)
    rate = power_law.zeta if phase == "signal" else 2.0 - 1.0 / power_law.nu
    return phase, float(rate)


def _propagator_constants(pl: PowerLaw, aeff, t1b):
    """``(C_V, C_U)`` of Theorem 5, eqs. (211) and (221); ``t1b = tau1 / b``."""
    nu, zeta, Lam, Q = pl
    C_V = Q * math.gamma(zeta + 1.0) * (2.0 * aeff) ** (-zeta)
    C_U = t1b * (Lam ** (1.0 / nu) / nu) * math.gamma(2.0 - 1.0 / nu) * aeff**2 * (
        2.0 * aeff) ** (1.0 / nu - 2.0)
    return C_V, C_U


def loss_constant(power_law: Optional[PowerLaw], alpha_eff: Float[ArrayLike, "*B"],
                  U: Float[ArrayLike, "*B"], U_tilde: Float[ArrayLike, "*B"],
                  V_tilde: Float[ArrayLike, "*B"], t1b: Float[ArrayLike, "*B"]
                  ) -> Float[jax.Array, "*B"]:
    """The constant ``C_L`` of ``L_t ~ C_L t^-rate`` for general ``a`` (theory §5.2):

    .. math::  C_L = \\frac{C_V(1+U_\\Sigma-\\tilde U_\\Sigma)}{2(1-\\tilde U_\\Sigma)}
               \\ \\text{(signal, (181))},\\qquad
               C_L = \\frac{C_U\\tilde V_\\Sigma(1+U_\\Sigma-\\tilde U_\\Sigma)}
               {2(1-\\tilde U_\\Sigma)^2}\\ \\text{(noise, (182))},

    with ``C_V, C_U`` of (211), (221) and ``t1b = tau1 / b``; ``nan`` on the phase boundary or
    without power-law metadata. Works on arrays (grids of parameters); stability is the
    caller's to impose. For ``a = 0``, ``U~ = U`` and these are (20), (21).

    Example:
        >>> import jaxaccel as ja
        >>> pl = ja.power_law_spectrum(10, nu=2.0, zeta=1.0, Q=3.0).power_law
        >>> float(loss_constant(pl, 0.5, 0.2, 0.2, 0.0, 0.1))   # C_V / (2 (1 - U)), C_V = 3
        1.875
    """
    phase, _ = power_law_phase(power_law)
    if phase not in ("signal", "noise"):
        return jnp.full(jnp.shape(alpha_eff), jnp.nan)
    C_V, C_U = _propagator_constants(power_law, alpha_eff, t1b)
    shift = 1.0 + U - U_tilde
    if phase == "signal":
        return C_V * shift / (2.0 * (1.0 - U_tilde))
    return C_U * V_tilde * shift / (2.0 * (1.0 - U_tilde) ** 2)


# ================================================================= predictions (theory §5)
class PropagatorAsymptotics(NamedTuple):
    """Power-law asymptotics of the propagators, Theorem 5 (theory §5.4).

    ``V_t, V~_t ~ C_V t^-xi_V`` (211) and ``U_t, U~_t ~ C_U t^-xi_U`` (221).

    Attributes:
        alpha_eff: effective learning rate (22).
        C_V, xi_V: :math:`Q\\Gamma(\\zeta+1)(2\\alpha_{\\rm eff})^{-\\zeta}` and :math:`\\zeta`.
        C_U, xi_U: :math:`\\frac{\\tau_1}{b}\\frac{\\Lambda^{1/\\nu}}{\\nu}\\Gamma(2-\\frac1\\nu)
            \\alpha_{\\rm eff}^2(2\\alpha_{\\rm eff})^{1/\\nu-2}` and :math:`2-1/\\nu`
            (``C_U = 0`` for full batch).
    """

    alpha_eff: jax.Array
    C_V: jax.Array
    xi_V: float
    C_U: jax.Array
    xi_U: float


class LossAsymptotics(NamedTuple):
    """Predicted ``L_t ~ constant * t ** exponent`` (Theorems 3 and 8, theory §5.2).

    Attributes:
        phase: ``"signal"`` (``zeta < 2 - 1/nu``), ``"noise"`` (``zeta > 2 - 1/nu``),
            ``"boundary"`` (equality: logarithmic corrections, ``constant = nan``) or
            ``"full_batch"`` (no noise: ``L_t = V_{t+1}/2``).
        exponent: ``-xi_V`` or ``-xi_U`` (negative, the convention of :class:`PowerLawFit`).
        constant: general-``a`` constant, (181) signal / (182) noise; ``+inf`` when the noisy
            stability condition ``U~_Sigma < 1`` fails.
        constant_a0: the ``a = 0`` formula (20) / (21) evaluated with the un-tilded sums (equal to
            ``constant`` when ``a = 0``; shown to quantify the effect of the shift).
        sums: the :class:`~jaxaccel.propagators.PropagatorSums` used.
        propagators: the :class:`PropagatorAsymptotics` used.
        floor: late-time excess risk ``L_inf`` under label noise (theory §3.5, eq. (LN2));
            ``0`` without label noise, ``+inf`` when unstable. The total risk tends to
            ``floor + sigma2 / 2``.
        approach_exponent, approach_constant: with label noise, ``L_t - L_inf ~
            approach_constant * t ** approach_exponent`` (eq. (LN3); the constant is negative
            when the loss approaches the floor from below); ``nan`` without label noise, where
            ``exponent`` and ``constant`` describe the decay itself.
    """

    phase: str
    exponent: float
    constant: jax.Array
    constant_a0: jax.Array
    sums: PropagatorSums
    propagators: PropagatorAsymptotics
    floor: Union[float, jax.Array] = 0.0
    approach_exponent: float = float("nan")
    approach_constant: Union[float, jax.Array] = float("nan")


def _power_law_of(spectrum):
    pl = check_spectrum(spectrum).power_law
    if pl is None:
        raise ValueError("spectrum must carry power_law metadata (nu, zeta, Lambda, Q), e.g. from "
                         "power_law_spectrum")
    if not pl.nu > 1:
        raise ValueError(f"spectrum.power_law.nu must be > 1 for the asymptotic theory, got {pl.nu}")
    return pl


def propagator_asymptotics(spectrum: Spectrum, algorithm: MemoryAlgorithm,
                           batch_size: Union[None, Scalar, NoiseModel] = None,
                           tau: Optional[Tuple[Scalar, Scalar]] = None) -> PropagatorAsymptotics:
    """Constants and exponents of the propagators, Theorem 5 (eqs. 211, 221, theory §5.4):

    .. math::
        V_t,\\tilde V_t = Q\\,\\Gamma(\\zeta+1)\\,(2\\alpha_{\\rm eff}t)^{-\\zeta}(1+o(1)),\\qquad
        U_t,\\tilde U_t = \\frac{\\tau_1}{b}\\frac{\\Lambda^{1/\\nu}}{\\nu}\\Gamma(2-\\tfrac1\\nu)
            \\alpha_{\\rm eff}^2(2\\alpha_{\\rm eff}t)^{\\frac1\\nu-2}(1+o(1)).

    Args:
        spectrum: a :class:`~jaxaccel.spectra.Spectrum` with ``power_law`` metadata (``nu > 1``).
        algorithm: stationary :class:`~jaxaccel.algorithms.MemoryAlgorithm` with
            ``alpha_eff > 0`` (hyper-parameters may be traced).
        batch_size: positive number, or ``None`` (full batch: ``C_U = 0``).
        tau: ``(tau1, tau2)`` (``tau2`` does not enter the leading order).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(10, nu=2.0, zeta=1.0, Q=3.0)
        >>> r = propagator_asymptotics(s, ja.gd(0.5), batch_size=4, tau=(1.0, 0.0))
        >>> float(r.C_V), r.xi_V, r.xi_U     # Q Gamma(2) (2 * 0.5)^-1
        (3.0, 1.0, 1.5)
    """
    pl = _power_law_of(spectrum)
    check_algorithm(algorithm, stationary=True,
                    why=" (fixed parameters) for the asymptotics")
    dt = spectrum.dtype
    noise = as_noise_model(batch_size, tau)
    t1b = noise.tau(dt)[0] * noise.inverse_batch(dt)
    aeff = effective_learning_rate(algorithm.astype(dt))
    if V.is_concrete(aeff) and not float(aeff) > 0:
        raise ValueError(f"algorithm must have alpha_eff > 0 (Theorem 5), got {float(aeff)}")
    C_V, C_U = _propagator_constants(pl, aeff, t1b)
    nu, zeta = pl.nu, pl.zeta
    return PropagatorAsymptotics(aeff, C_V, float(zeta), C_U, 2.0 - 1.0 / nu)


def predict_loss(spectrum: Spectrum, algorithm: MemoryAlgorithm,
                 batch_size: Union[None, Scalar, NoiseModel] = None,
                 tau: Optional[Tuple[Scalar, Scalar]] = None) -> LossAsymptotics:
    """Predicted exponent and constant of ``L_t`` (Theorems 3, 5, 8; theory §5.2, §5.4).

    Signal-dominated phase (``zeta < 2 - 1/nu``), eqs. (20) / (181):

    .. math::  L_t \\simeq \\frac{C_V(1+U_\\Sigma-\\tilde U_\\Sigma)}{2(1-\\tilde U_\\Sigma)}
               t^{-\\zeta}\\quad(a=0:\\ \\tfrac{C_V}{2(1-U_\\Sigma)}t^{-\\zeta}),

    noise-dominated phase (``zeta > 2 - 1/nu``), eqs. (21) / (182):

    .. math::  L_t \\simeq \\frac{C_U\\tilde V_\\Sigma(1+U_\\Sigma-\\tilde U_\\Sigma)}
               {2(1-\\tilde U_\\Sigma)^2}t^{-(2-1/\\nu)}\\quad
               (a=0:\\ \\tfrac{C_U V_\\Sigma}{2(1-U_\\Sigma)^2}t^{-(2-1/\\nu)}),

    with ``C_V, C_U`` from (211), (221) (:func:`propagator_asymptotics`) and the sums from
    :func:`~jaxaccel.propagators.propagator_sums` (the finite spectrum as given). Full batch:
    ``L_t = V_{t+1}/2 ~ C_V t^-zeta / 2``.

    With label noise (``batch_size`` a :class:`~jaxaccel.NoiseModel` with ``sigma2 > 0``,
    theory §3.5) the excess risk tends to the floor (LN2)
    ``L_inf = sigma2/2 * Ubar_Sigma / (1 - U~_Sigma)`` (``Ubar``: noise sums with ``tau1 = 1``)
    and approaches it as (LN3)
    ``L_t - L_inf ~ (1 + U_Sigma - U~_Sigma)/(1 - U~_Sigma) * [C_V t^-zeta / 2
    - sigma2/2 * Cbar_U t^-(1-1/nu) / ((1 - 1/nu)(1 - U~_Sigma))]``, keeping the slower term
    (both when ``zeta = 1 - 1/nu``); ``Cbar_U`` is ``C_U`` with ``tau1 = 1``.

    Args:
        spectrum: :class:`~jaxaccel.spectra.Spectrum` with ``power_law`` metadata.
        algorithm: stationary :class:`~jaxaccel.algorithms.MemoryAlgorithm`, ``alpha_eff > 0``.
        batch_size: positive number or ``None`` (full batch).
        tau: ``(tau1, tau2)``.

    Returns:
        :class:`LossAsymptotics`.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(1000, nu=1.5, zeta=0.5)
        >>> p = predict_loss(s, ja.heavy_ball(0.1, 0.5), batch_size=10)
        >>> p.phase, p.exponent, bool(p.constant > 0)
        ('signal', -0.5, True)
    """
    noise = as_noise_model(batch_size, tau)
    pa = propagator_asymptotics(spectrum, algorithm, noise)
    pl = spectrum.power_law
    sums = propagator_sums(spectrum, algorithm, noise)
    if noise.is_full_batch:
        c = 0.5 * pa.C_V
        return LossAsymptotics("full_batch", -pa.xi_V, c, c, sums, pa)
    extra = {}
    if noise.has_label_noise:
        extra = _label_noise_asymptotics(spectrum, algorithm, noise, pa, sums)
    phase, rate = power_law_phase(pl)
    U, Ut, Vs = sums.U, sums.U_tilde, sums.V
    if phase == "boundary":
        nan = jnp.asarray(jnp.nan, spectrum.dtype)
        return LossAsymptotics(phase, -rate, nan, nan, sums, pa, **extra)
    inf = jnp.asarray(jnp.inf, spectrum.dtype)
    ok, ok0 = sums.stable & (Ut < 1), sums.stable & (U < 1)
    t1b = noise.tau(spectrum.dtype)[0] * noise.inverse_batch(spectrum.dtype)
    c = loss_constant(pl, pa.alpha_eff, U, Ut, sums.V_tilde, t1b)
    c0 = loss_constant(pl, pa.alpha_eff, U, U, Vs, t1b)  # the a = 0 formula, un-tilded sums
    return LossAsymptotics(phase, -rate, jnp.where(ok, c, inf), jnp.where(ok0, c0, inf),
                           sums, pa, **extra)


def _label_noise_asymptotics(spectrum, algorithm, noise, pa, sums):
    """Floor (LN2) and approach (LN3) of the excess risk under label noise (theory §3.5)."""
    dt = spectrum.dtype
    # U_Sigma is linear in tau1: divide, unless tau1 = 0 (then the tau1 = 1 sums are computed)
    t1 = float(noise.tau1) if V.is_concrete(noise.tau1) else None
    ubar_U = (sums.U / t1 if t1 else
              propagator_sums(spectrum, algorithm, NoiseModel(noise.batch_size, 1.0, noise.tau2)).U)
    Ut = sums.U_tilde
    ok = sums.stable & (Ut < 1)
    half_s2 = 0.5 * noise.sigma2.astype(dt)
    floor = jnp.where(ok, half_s2 * ubar_U / (1.0 - Ut), jnp.inf)
    nu, zeta = spectrum.power_law.nu, spectrum.power_law.zeta
    p_label = 1.0 - 1.0 / nu
    _, C_Ubar = _propagator_constants(spectrum.power_law, pa.alpha_eff, noise.inverse_batch(dt))
    gain = (1.0 + sums.U - Ut) / (1.0 - Ut)
    sig = 0.5 * pa.C_V
    lab = -half_s2 * C_Ubar / (p_label * (1.0 - Ut))
    if abs(zeta - p_label) <= BOUNDARY_RTOL * max(1.0, p_label):
        expo, const = -p_label, gain * (sig + lab)
    elif zeta < p_label:
        expo, const = -float(zeta), gain * sig
    else:
        expo, const = -p_label, gain * lab
    return dict(floor=floor, approach_exponent=float(expo),
                approach_constant=jnp.where(ok, const, jnp.nan))


def predicted_loss(spectrum: Spectrum, algorithm: MemoryAlgorithm,
                   batch_size: Union[None, Scalar, NoiseModel] = None,
                   tau: Optional[Tuple[Scalar, Scalar]] = None) -> LossAsymptotics:
    """Deprecated alias of :func:`predict_loss` (warns ``DeprecationWarning``).

    It used to return a separate result type with a *positive* exponent; it now returns the
    :class:`LossAsymptotics` of :func:`predict_loss` (negative exponent).

    Example:
        >>> import warnings, jaxaccel as ja
        >>> with warnings.catch_warnings(record=True):
        ...     warnings.simplefilter("always")
        ...     p = predicted_loss(ja.power_law_spectrum(100, nu=2.0, zeta=0.5),
        ...                        ja.heavy_ball(0.5, 0.5), batch_size=10)
        >>> p.phase, p.exponent
        ('signal', -0.5)
    """
    warnings.warn("predicted_loss is deprecated: use predict_loss (same arguments; the exponent "
                  "is negative, as in fit_power_law)", DeprecationWarning, stacklevel=2)
    return predict_loss(spectrum, algorithm, batch_size, tau)


# ============================================================================ phase diagram
class PhaseDiagram(NamedTuple):
    """Phases of mini-batch SGD in the ``(nu, zeta)`` plane (theory §1 rates, §5.4).

    Attributes:
        nu, zeta: 2-D arrays ``(len(zeta), len(nu))`` (``meshgrid`` of the inputs).
        phase: int codes into :data:`PHASES`: ``0`` signal (``zeta < 2 - 1/nu``), ``1`` noise
            (``zeta > 2 - 1/nu``), ``4`` boundary (``zeta = 2 - 1/nu``, the rule of
            :func:`loss_phase`), ``2`` divergent (``1/2 < nu <= 1``: ``U_Sigma = inf``),
            ``3`` immediate divergence (``nu <= 1/2``).
        sgd_exponent: ``L_t ~ t^-sgd_exponent``: ``zeta`` (signal), ``2 - 1/nu`` (noise and
            boundary, where the two agree), ``nan`` otherwise.
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
    """Phase diagram data on a grid of ``nu`` and ``zeta`` (theory §1, §5.4, (27)).

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
    phase = np.where(N <= 0.5, 3, np.where(N <= 1.0, 2, _phase_codes(N, Z)))
    sgd = np.where(phase == 0, Z, np.where((phase == 1) | (phase == 4), xi_u, np.nan))
    am1 = np.where(phase == 0, Z * xi_u, np.nan)
    return PhaseDiagram(N, Z, phase, sgd, am1, 2.0 - 1.0 / nu)
