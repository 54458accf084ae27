"""Asymptotic exponents of loss curves: power-law fits.

Spec: ``sgd_memory.md`` §1 (rates) and §5. ``fit_power_law`` measures the exponent of a loss
curve ``L_t ~ C t^p`` over a window of steps; predictions of the exponents and constants from
the theory live beside it.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np


class PowerLawFit(NamedTuple):
    """``L_t ~ constant * t ** exponent`` over the window (``exponent < 0`` for a decaying loss).

    Attributes:
        exponent: least-squares slope of ``log L`` against ``log t`` in the window.
        constant: ``exp`` of the intercept.
        uncertainty: spread of the local slopes over the window (half the max-min range of
            slopes measured on consecutive sub-windows); a curve that is not yet a power law
            shows a large value.
        local_slopes: the sub-window slopes.
    """

    exponent: float
    constant: float
    uncertainty: float
    local_slopes: np.ndarray


def fit_power_law(steps, loss, window: Optional[Tuple[float, float]] = None,
                  n_sub: int = 4) -> PowerLawFit:
    """Fit ``log L = log C + p log t`` over ``window = (t_min, t_max)`` (default: last decade).

    Args:
        steps: ``(R,)`` recorded steps (positive ones are used).
        loss: ``(R,)`` losses at those steps (must be positive and finite in the window).
        window: inclusive ``(t_min, t_max)``; default ``(t_last / 10, t_last)``.
        n_sub: number of log-equal sub-windows for the local slopes (uncertainty).

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
