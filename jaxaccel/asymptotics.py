"""Asymptotic exponents and constants of loss curves: power-law fits and predictions.

Spec: ``sgd_memory.md`` §1 (rates) and §5. ``fit_power_law`` measures the exponent of a loss
curve ``L_t ~ C t^p`` over a window of steps. The theory's predictions live beside it:
:func:`loss_phase` (signal- vs noise-dominated, ``zeta`` vs ``2 - 1/nu``),
:func:`propagator_asymptotics` (Theorem 5, eqs. 211 and 221) and :func:`predict_loss`
(Theorems 3 and 8, eqs. 20, 21, 181, 182), which combine the propagator asymptotics with the
propagator sums of :func:`jaxaccel.propagators.propagator_sums`.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Int, Scalar
from jaxaccel.algorithms import MemoryAlgorithm, effective_learning_rate
from jaxaccel.spectra import Spectrum


class PowerLawFit(NamedTuple):
    """``L_t ~ constant * t ** exponent`` over the window (``exponent < 0`` for a decaying loss).

    Attributes:
        exponent: least-squares slope of ``log L`` against ``log t`` in the window.
        constant: ``exp`` of the intercept.
        uncertainty: spread of the local slopes over the window (half the max-min range of
            slopes measured on ``n_sub`` consecutive log-equal sub-windows); a curve that is not
            yet a power law shows a large value. For a correction ``L = C t^p (1 + c/t)`` it is
            of the size of the fit's distance to ``p``; slower corrections (e.g. the
            ``t^-(xi_U - 1)`` of spec §5.2) are underestimated, so compare with a later window.
        local_slopes: the sub-window slopes.
    """

    exponent: float
    constant: float
    uncertainty: float
    local_slopes: np.ndarray


def fit_power_law(steps: Int[ArrayLike, "R"], loss: Float[ArrayLike, "R"], window: Optional[Tuple[float, float]] = None,
                  n_sub: int = 4) -> PowerLawFit:
    """Fit ``log L = log C + p log t`` over ``window = (t_min, t_max)`` (default: last decade).

    Args:
        steps: ``(R,)`` recorded steps (positive ones are used).
        loss: ``(R,)`` losses at those steps (must be positive and finite in the window).
        window: inclusive ``(t_min, t_max)``; default ``(t_last / 10, t_last)``.
        n_sub: number of log-equal sub-windows for the local slopes (uncertainty), ``>= 2``.

    Returns:
        :class:`PowerLawFit`; ``uncertainty`` is ``nan`` when fewer than two sub-windows hold
        two or more points.

    Example:
        >>> import numpy as np
        >>> t = np.arange(1, 1001)
        >>> fit = fit_power_law(t, 3.0 * t ** -0.5)
        >>> round(fit.exponent, 10), round(fit.constant, 10)
        (-0.5, 3.0)
    """
    t = np.asarray(steps, dtype=np.float64)
    L = np.asarray(loss, dtype=np.float64)
    if t.ndim != 1 or t.shape != L.shape:
        raise ValueError(f"steps and loss must be 1-D of equal length, got {t.shape}, {L.shape}")
    if isinstance(n_sub, bool) or not isinstance(n_sub, (int, np.integer)) or n_sub < 2:
        raise ValueError(f"n_sub must be an integer >= 2, got {n_sub!r}")
    if window is None:
        tmax = t.max()
        window = (tmax / 10.0, tmax)
    lo, hi = window
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"window must satisfy 0 < t_min < t_max, got {window}")
    sel = (t >= lo) & (t <= hi) & (t > 0)
    if sel.sum() < 3:
        raise ValueError(f"window {window} holds {int(sel.sum())} recorded steps; need >= 3")
    if not np.all(np.isfinite(L[sel])) or np.any(L[sel] <= 0):
        raise ValueError("loss must be positive and finite inside the window (did the run diverge?)")
    x, y = np.log(t[sel]), np.log(L[sel])
    p, c = np.polyfit(x, y, 1)
    edges = np.linspace(x.min(), x.max(), n_sub + 1)
    slopes = []
    for a, b in zip(edges[:-1], edges[1:]):
        m = (x >= a) & (x <= b)
        if m.sum() >= 2 and np.ptp(x[m]) > 0:
            slopes.append(np.polyfit(x[m], y[m], 1)[0])
    slopes = np.asarray(slopes)
    unc = 0.5 * float(np.ptp(slopes)) if slopes.size > 1 else float("nan")
    return PowerLawFit(float(p), float(np.exp(c)), unc, slopes)


# ==================================================================== predictions (spec §5)
class PropagatorAsymptotics(NamedTuple):
    """Power-law asymptotics of the propagators, Theorem 5 (spec §5.4).

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
    """Predicted ``L_t ~ constant * t ** exponent`` (Theorems 3 and 8, spec §5.2).

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
    """

    phase: str
    exponent: float
    constant: jax.Array
    constant_a0: jax.Array
    sums: "object"
    propagators: PropagatorAsymptotics


def loss_phase(nu: float, zeta: float) -> str:
    """Phase of mini-batch SGD with memory (spec §1, §5.2): ``"signal"`` if ``zeta < 2 - 1/nu``,
    ``"noise"`` if ``zeta > 2 - 1/nu``, ``"boundary"`` on the line (relative tolerance 1e-12).

    Example:
        >>> loss_phase(1.5, 0.5), loss_phase(1.5, 2.0)
        ('signal', 'noise')
    """
    for name, x in (("nu", nu), ("zeta", zeta)):
        if not (np.isfinite(x) and x > 0):
            raise ValueError(f"{name} must be finite and > 0, got {x!r}")
    edge = 2.0 - 1.0 / nu
    if abs(zeta - edge) <= 1e-12 * max(1.0, abs(edge)):
        return "boundary"
    return "signal" if zeta < edge else "noise"


def _power_law_of(spectrum):
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    pl = spectrum.power_law
    if pl is None:
        raise ValueError("spectrum must carry power_law metadata (nu, zeta, Lambda, Q), e.g. from "
                         "power_law_spectrum")
    if not pl.nu > 1:
        raise ValueError(f"spectrum.power_law.nu must be > 1 for the asymptotic theory, got {pl.nu}")
    return pl


def propagator_asymptotics(spectrum: Spectrum, algorithm: MemoryAlgorithm,
                           batch_size: Optional[Scalar] = None,
                           tau: Tuple[Scalar, Scalar] = (1.0, -1.0)) -> PropagatorAsymptotics:
    """Constants and exponents of the propagators, Theorem 5 (eqs. 211, 221, spec §5.4):

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
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"algorithm must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    if not algorithm.is_stationary:
        raise ValueError("algorithm must be stationary (fixed parameters) for the asymptotics")
    dt = spectrum.dtype
    tau = V.as_float_array(tau, "tau", dt)
    if tau.shape != (2,):
        raise ValueError(f"tau must be a pair (tau1, tau2), got shape {tau.shape}")
    V.check_finite(tau, "tau")
    if batch_size is None:
        t1b = jnp.zeros((), dt)
    else:
        b = V.as_float_array(batch_size, "batch_size", dt)
        V.check_ndim(b, "batch_size", 0)
        V.check_finite(b, "batch_size")
        V.check_positive(b, "batch_size")
        t1b = tau[0] / b
    aeff = effective_learning_rate(algorithm.astype(dt))
    if V.is_concrete(aeff) and not float(aeff) > 0:
        raise ValueError(f"algorithm must have alpha_eff > 0 (Theorem 5), got {float(aeff)}")
    nu, zeta, Lam, Q = pl
    C_V = Q * math.gamma(zeta + 1.0) * (2.0 * aeff) ** (-zeta)
    C_U = t1b * (Lam ** (1.0 / nu) / nu) * math.gamma(2.0 - 1.0 / nu) * aeff**2 * (
        2.0 * aeff) ** (1.0 / nu - 2.0)
    return PropagatorAsymptotics(aeff, C_V, float(zeta), C_U, 2.0 - 1.0 / nu)


def predict_loss(spectrum: Spectrum, algorithm: MemoryAlgorithm, batch_size: Optional[Scalar] = None,
                 tau: Tuple[Scalar, Scalar] = (1.0, -1.0)) -> LossAsymptotics:
    """Predicted exponent and constant of ``L_t`` (Theorems 3, 5, 8; spec §5.2, §5.4).

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
    from jaxaccel.propagators import propagator_sums

    pa = propagator_asymptotics(spectrum, algorithm, batch_size, tau)
    pl = spectrum.power_law
    nan = jnp.asarray(jnp.nan, spectrum.dtype)
    if batch_size is None:
        sums = propagator_sums(spectrum, algorithm, None, tau)
        c = 0.5 * pa.C_V
        return LossAsymptotics("full_batch", -pa.xi_V, c, c, sums, pa)
    sums = propagator_sums(spectrum, algorithm, batch_size, tau)
    U, Ut, Vs, Vt = sums.U, sums.U_tilde, sums.V, sums.V_tilde
    phase = loss_phase(pl.nu, pl.zeta)
    inf = jnp.asarray(jnp.inf, spectrum.dtype)
    ok, ok0 = sums.stable & (Ut < 1), sums.stable & (U < 1)
    if phase == "signal":
        c = pa.C_V * (1 + U - Ut) / (2 * (1 - Ut))
        c0 = pa.C_V / (2 * (1 - U))
        exponent = -pa.xi_V
    elif phase == "noise":
        c = pa.C_U * Vt * (1 + U - Ut) / (2 * (1 - Ut) ** 2)
        c0 = pa.C_U * Vs / (2 * (1 - U) ** 2)
        exponent = -pa.xi_U
    else:
        return LossAsymptotics(phase, -pa.xi_V, nan, nan, sums, pa)
    return LossAsymptotics(phase, float(exponent), jnp.where(ok, c, inf), jnp.where(ok0, c0, inf),
                           sums, pa)
