"""Measurements on gap curves: stages to a target reduction, per-stage contraction, kappa exponents.

Theory: ``docs/theory/depth_stacking.md`` §C6.3 item 4 (fitted per-stage contraction against ``1 - 1/kappa`` and
``1 - 1/sqrt(kappa)``; stages-to-epsilon against ``kappa`` on log-log axes, slope ~1 for zero init
and ~1/2 for stacking) and §B3.
"""

from __future__ import annotations

from typing import NamedTuple, Union

import numpy as np
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Int, Scalar


def stages_to_reduce(gaps: Float[ArrayLike, "*batch T+1"],
                     factor: Union[Scalar, Float[ArrayLike, "*batch"]] = 1e-6
                     ) -> Int[Array, "*batch"]:
    """First stage from which the gap stays at or below ``factor * gaps[..., 0]`` for good.

    The stages-to-epsilon measurement of §C6.3 item 4 (plotted against ``kappa``, §B3).

    Stacking's gap is not monotone, so "reached" means it never comes back above the threshold
    within the run. Works on batches (``(..., T + 1)``) and under ``jit``/``vmap``.

    Args:
        gaps: ``(..., T + 1)`` gap curves (``+inf`` entries count as above).
        factor: ``()`` target reduction in ``(0, 1)`` (or one per curve, broadcast against
            ``gaps[..., 0]``).

    Returns:
        ``(...)`` int stage count, ``-1`` where the final gap is still above the threshold.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import stages_to_reduce
        >>> int(stages_to_reduce(np.array([1.0, 0.1, 1e-3, 1e-2, 1e-7, 1e-8]), 5e-3))
        4
    """
    g = V.as_float_array(gaps, "gaps")
    if g.ndim < 1 or g.shape[-1] < 2:
        raise ValueError(f"gaps must have a last axis of length >= 2, got shape {g.shape}")
    f = V.as_float_array(factor, "factor")
    if V.is_concrete(f) and not bool(np.all((np.asarray(f) > 0) & (np.asarray(f) < 1))):
        raise ValueError(f"factor must lie in (0, 1), got {factor!r}")
    n = g.shape[-1]
    above = ~(g <= f * g[..., :1])
    last = jnp.max(jnp.where(above, jnp.arange(n), -1), axis=-1)
    return jnp.where(last < n - 1, last + 1, -1)


def contraction_factor(gaps: Float[ArrayLike, "*batch T+1"], upper: float = 1e-2,
                       lower: float = 1e-10) -> Float[np.ndarray, "*batch"]:
    """Fitted per-stage contraction of the error, ``rho = exp(slope / 2)`` of ``log gap`` vs stage.

    The fit uses the stages from the first one with ``gap <= upper * gap_0`` to the last one with
    ``gap >= lower * gap_0`` (least squares; oscillations of AGD average out). For gradient
    descent the prediction is ``1 - 1/kappa``; for stacking / AGD at ``beta*`` it is
    ``1 - 1/sqrt(kappa)`` (a double root, so the finite-window fit sits slightly above it);
    §C6.3 item 4.

    Args:
        gaps: ``(..., T + 1)`` gap curves.
        upper, lower: relative window bounds, ``0 < lower < upper < 1``.

    Returns:
        ``(...)`` numpy array; ``nan`` where the window holds fewer than 3 stages.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import contraction_factor
        >>> round(float(contraction_factor(0.9 ** (2 * np.arange(400)))), 12)
        0.9
    """
    if not (0 < lower < upper < 1):
        raise ValueError(f"need 0 < lower < upper < 1, got lower={lower!r}, upper={upper!r}")
    g = np.asarray(gaps, dtype=np.float64)
    if g.ndim < 1 or g.shape[-1] < 3:
        raise ValueError(f"gaps must have a last axis of length >= 3, got shape {g.shape}")
    flat = g.reshape(-1, g.shape[-1])
    out = np.full(flat.shape[0], np.nan)
    t = np.arange(g.shape[-1])
    for i, row in enumerate(flat):
        rel = row / row[0]
        ok = np.isfinite(rel) & (rel > 0)
        below = np.nonzero(ok & (rel <= upper))[0]
        above = np.nonzero(ok & (rel >= lower))[0]
        if below.size == 0 or above.size == 0:
            continue
        sel = ok & (t >= below[0]) & (t <= above[-1])
        if sel.sum() < 3:
            continue
        slope = np.polyfit(t[sel], np.log(rel[sel]), 1)[0]
        out[i] = np.exp(0.5 * slope)
    return out.reshape(g.shape[:-1])


class KappaFit(NamedTuple):
    """``stages ~ constant * kappa ** exponent`` (least squares on log-log axes)."""

    exponent: float
    constant: float
    residual: float


def fit_kappa_exponent(kappas: Float[ArrayLike, "n"], stages: Float[ArrayLike, "n"]) -> KappaFit:
    """Fit ``log(stages) = log(C) + p log(kappa)`` (§C6.3 item 4).

    Args:
        kappas: ``(n,)`` condition numbers.
        stages: ``(n,)`` stage counts (all must be positive: a run that never reached its target
            has no count).

    Returns:
        :class:`KappaFit` ``(exponent, constant, residual)``: slope ``~1`` for GD / zero init,
        ``~1/2`` for stacking (§B3).

    Example:
        >>> from jaxaccel.stacking import fit_kappa_exponent
        >>> round(fit_kappa_exponent([1e2, 1e3, 1e4], [20, 63.2455532, 200]).exponent, 6)
        0.5
    """
    k = np.asarray(kappas, dtype=np.float64)
    s = np.asarray(stages, dtype=np.float64)
    if k.ndim != 1 or k.shape != s.shape or k.size < 2:
        raise ValueError(f"kappas and stages must be 1-D of equal length >= 2, got {k.shape}, {s.shape}")
    if not (np.all(np.isfinite(k)) and np.all(k >= 1)):
        raise ValueError("kappas must be finite and >= 1")
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError(f"stages must be finite and > 0 (a run that never reached the target has "
                         f"no count), got {s.tolist()}")
    x, y = np.log(k), np.log(s)
    p, c = np.polyfit(x, y, 1)
    res = float(np.sqrt(np.mean((y - (p * x + c)) ** 2)))
    return KappaFit(float(p), float(np.exp(c)), res)
