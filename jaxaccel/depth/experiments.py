"""Helpers for depth experiments: learning-rate grids, fair best-lr selection, summaries.

Spec depth_stacking.md §6.1: best-lr selection rules (loss at a fixed budget, or area under
the log-loss curve), medians and IQR over seeds, iterations to a threshold (absolute or
relative to a Newton-computed ``L*``), speed-up ratios.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import jax

from jaxaccel.depth.training import Run


def lr_grid(lo: float, hi: float, num: int) -> np.ndarray:
    """``num`` log-spaced learning rates in ``[lo, hi]`` (validated: ``0 < lo <= hi``)."""
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"lo, hi must satisfy 0 < lo <= hi < inf, got {lo!r}, {hi!r}")
    if int(num) < 1:
        raise ValueError(f"num must be >= 1, got {num!r}")
    return np.geomspace(lo, hi, int(num))


def seed_keys(seed: int, num_seeds: int):
    """``num_seeds`` independent PRNG keys from one integer seed."""
    if int(num_seeds) < 1:
        raise ValueError(f"num_seeds must be >= 1, got {num_seeds!r}")
    return jax.random.split(jax.random.PRNGKey(int(seed)), int(num_seeds))


def hits_as_float(hit_at) -> np.ndarray:
    """Iterations-to-threshold with "never" (``-1``) mapped to ``inf``."""
    h = np.asarray(hit_at, float)
    return np.where(h < 0, np.inf, h)


def log_loss_auc(run: Run) -> np.ndarray:
    """Area under ``log10(loss)`` against step over the recorded steps, per run (inf if
    diverged); divided by the last step, so it is a mean log-loss."""
    steps = np.asarray(run.steps, float)
    L = np.asarray(run.loss, float)
    with np.errstate(divide="ignore"):
        logL = np.log10(np.maximum(L, 1e-300))
    auc = np.trapezoid(logL, steps, axis=-1) / max(steps[-1] - steps[0], 1.0)
    return np.where(np.isfinite(auc), auc, np.inf)


class Selection(NamedTuple):
    """Best learning rate of a sweep.

    Attributes:
        index: index of the selected learning rate.
        lr: the selected learning rate.
        score: ``(E,)`` median score per learning rate (lower is better; inf if any seed
            diverged).
    """

    index: int
    lr: float
    score: np.ndarray


def select_lr(run: Run, lrs, criterion: str = "final") -> Selection:
    """Fair per-model learning-rate choice (spec §6.1, §A9.2 E4).

    Args:
        run: a sweep result with leading axes ``(E, S)`` (learning rate, seed) or ``(E,)``.
        lrs: ``(E,)`` the learning rates of the sweep.
        criterion: ``"final"`` (median over seeds of the loss at the last recorded step),
            ``"auc"`` (median mean-log-loss, :func:`log_loss_auc`), ``"hit"`` (median
            iterations to the first threshold of the run) or ``"hit_then_final"`` (median
            iterations to the first threshold, counted only for seeds whose final loss is
            still below it, ties -- e.g. no learning rate reaches it -- broken by ``"final"``).

    Returns:
        A :class:`Selection`. Learning rates where any seed diverged are never selected.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.depth import Run, select_lr
        >>> loss = np.array([[[1.0, 0.3]], [[1.0, 0.1]], [[1.0, np.inf]]])  # (E=3, S=1, R=2)
        >>> run = Run(np.array([0, 9]), loss, np.array([[False], [False], [True]]),
        ...           np.array([[-1], [-1], [5]]), np.array([[[4]], [[2]], [[1]]]), None,
        ...           thresholds=np.array([0.5]))
        >>> select_lr(run, [0.1, 0.2, 0.4], "hit_then_final").lr
        0.2
    """
    lrs = np.asarray(lrs, float)
    div = np.asarray(run.diverged)
    final = np.asarray(run.loss, float)[..., -1]
    secondary = None
    if criterion == "final":
        s = final
    elif criterion == "auc":
        s = log_loss_auc(run)
    elif criterion in ("hit", "hit_then_final"):
        h = np.asarray(run.hit_at)
        if h.shape[-1] == 0:
            raise ValueError(f"criterion={criterion!r} needs a run with thresholds")
        s = hits_as_float(h[..., 0])
        if criterion == "hit_then_final":
            if run.thresholds is None:
                raise ValueError("criterion='hit_then_final' needs run.thresholds")
            thr = float(np.asarray(run.thresholds).ravel()[0])
            s = np.where(final < thr, s, np.inf)
            secondary = final
    else:
        raise ValueError(
            f"criterion must be 'final', 'auc', 'hit' or 'hit_then_final', got {criterion!r}")
    s = np.where(div, np.inf, s)
    if s.ndim == 1:
        s, div = s[:, None], div[:, None]
        secondary = None if secondary is None else secondary[:, None]
    if s.shape[0] != lrs.shape[0]:
        raise ValueError(f"lrs has {lrs.shape[0]} entries but the run has {s.shape[0]}")
    bad = np.any(np.reshape(div, s.shape), axis=1)
    score = np.where(bad, np.inf, np.median(s, axis=1))
    if secondary is None:
        i = int(np.argmin(score))
    else:
        sec = np.where(bad, np.inf, np.median(np.where(np.reshape(div, s.shape), np.inf, secondary), axis=1))
        i = int(np.lexsort((sec, score))[0])
    return Selection(i, float(lrs[i]), score)


def median_iqr(x, axis=-1):
    """``(median, q25, q75)`` along ``axis`` (NaN-free input expected; inf allowed)."""
    x = np.asarray(x, float)
    with np.errstate(invalid="ignore"):  # inf entries ("never") interpolate to inf
        q = np.quantile(x, [0.25, 0.5, 0.75], axis=axis)
    q = np.where(np.isnan(q), np.inf, q)
    return q[1], q[0], q[2]


def relative_gap(loss, L_star: float) -> np.ndarray:
    """``(L - L*) / L*`` (spec §6.1)."""
    return (np.asarray(loss, float) - L_star) / L_star
