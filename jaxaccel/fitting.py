"""Power-law fits of measured curves: ``y ~ C x^p`` by least squares in log-log.

Used for loss curves (``L_t ~ C t^p``, theory §1 rates) and for spectra (eigenvalue decay).
The exponent follows the sign of the curve: a decaying loss has ``p < 0`` (the same convention
as :func:`jaxaccel.predict_loss`).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np

from jaxaccel._typing import ArrayLike, Float, Int


class PowerLawFit(NamedTuple):
    """``L_t ~ constant * t ** exponent`` over the window (``exponent < 0`` for a decaying loss).

    Attributes:
        exponent: least-squares slope of ``log L`` against ``log t`` in the window.
        constant: ``exp`` of the intercept.
        uncertainty: spread of the local slopes over the window (half the max-min range of
            slopes measured on ``n_sub`` consecutive log-equal sub-windows); a curve that is not
            yet a power law shows a large value. For a correction ``L = C t^p (1 + c/t)`` it is
            of the size of the fit's distance to ``p``; slower corrections (e.g. the
            ``t^-(xi_U - 1)`` of theory §5.2) are underestimated, so compare with a later window.
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
