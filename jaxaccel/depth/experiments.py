"""Helpers for depth experiments: learning-rate grids, fair best-lr selection, summaries.

Theory (docs/theory/depth_stacking.md) §C6.1: best-lr selection rules (loss at a fixed budget, or area under
the log-loss curve), medians and IQR over seeds, iterations to a threshold (absolute or
relative to a Newton-computed ``L*``), speed-up ratios.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np
import jax
from jaxtyping import UInt32

from jaxaccel._typing import Array, ArrayLike, Float, Int
from jaxaccel.depth.training import Run


def lr_grid(lo: float, hi: float, num: int) -> Float[np.ndarray, "L"]:
    """``num`` log-spaced learning rates in ``[lo, hi]`` (validated: ``0 < lo <= hi``).

    The learning-rate grid of a per-model tuned sweep (theory §A9.2 E4, §C6.1).

    Args:
        lo: smallest learning rate, ``> 0``.
        hi: largest learning rate, ``>= lo``.
        num: number of grid points ``L >= 1``.

    Returns:
        ``(L,)`` NumPy array.

    Example:
        >>> from jaxaccel.depth import lr_grid
        >>> [round(x, 6) for x in lr_grid(1e-3, 1e-1, 3).tolist()]
        [0.001, 0.01, 0.1]
    """
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"lo, hi must satisfy 0 < lo <= hi < inf, got {lo!r}, {hi!r}")
    if int(num) < 1:
        raise ValueError(f"num must be >= 1, got {num!r}")
    return np.geomspace(lo, hi, int(num))


def seed_keys(seed: int, num_seeds: int) -> UInt32[Array, "S 2"]:
    """``num_seeds`` independent PRNG keys from one integer seed (seeds of a sweep, theory §C6.1).

    Args:
        seed: integer seed.
        num_seeds: number of keys ``S >= 1``.

    Returns:
        ``(S, 2)`` stack of raw ``jax.random.PRNGKey`` keys (``vmap`` over the leading axis).

    Example:
        >>> from jaxaccel.depth import seed_keys
        >>> seed_keys(0, 3).shape
        (3, 2)
    """
    if int(num_seeds) < 1:
        raise ValueError(f"num_seeds must be >= 1, got {num_seeds!r}")
    return jax.random.split(jax.random.PRNGKey(int(seed)), int(num_seeds))


def hits_as_float(hit_at: Int[ArrayLike, "*batch"]) -> Float[np.ndarray, "*batch"]:
    """Iterations-to-threshold with "never" (``-1``) mapped to ``inf`` (theory §C6.1).

    Args:
        hit_at: iteration counts, e.g. :attr:`Run.hit_at <jaxaccel.depth.Run.hit_at>`.

    Returns:
        Float array of the same shape.

    Example:
        >>> from jaxaccel.depth import hits_as_float
        >>> hits_as_float([12, -1]).tolist()
        [12.0, inf]
    """
    h = np.asarray(hit_at, float)
    return np.where(h < 0, np.inf, h)


def log_loss_auc(run: Run) -> Float[np.ndarray, "*batch"]:
    """Area under ``log10(loss)`` against step over the recorded steps, per run (inf if
    diverged); divided by the last step, so it is a mean log-loss.

    The "area under the log-loss curve" best-lr criterion of theory §C6.1 (trapezoid rule).

    Args:
        run: a :class:`~jaxaccel.depth.Run` with ``loss`` of shape ``(*batch, R)``.

    Returns:
        ``(*batch,)`` mean log10-loss per run.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.depth import Run, log_loss_auc
        >>> loss = np.array([[1.0, 0.01], [1.0, np.inf]])    # two runs, R = 2
        >>> log_loss_auc(Run(np.array([0, 10]), loss, None, None, None, None)).tolist()
        [-1.0, inf]
    """
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


def select_lr(run: Run, lrs: Float[ArrayLike, "E"], criterion: str = "final") -> Selection:
    """Fair per-model learning-rate choice (theory §C6.1, §A9.2 E4).

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


def median_iqr(
    x: Float[ArrayLike, "..."], axis: int = -1,
) -> Tuple[Float[np.ndarray, "..."], Float[np.ndarray, "..."], Float[np.ndarray, "..."]]:
    """``(median, q25, q75)`` along ``axis`` (NaN-free input expected; inf allowed).

    The "median and IQR over seeds" summary of theory §C6.1; quantiles that involve an ``inf``
    entry (a run that never hit a threshold, or diverged) are ``inf``.

    Args:
        x: values, e.g. ``(..., S)`` with seeds on the last axis.
        axis: the axis to summarise.

    Returns:
        ``(median, q25, q75)``, each of the shape of ``x`` without ``axis``.

    Example:
        >>> from jaxaccel.depth import median_iqr
        >>> [float(v) for v in median_iqr([1.0, 2.0, 3.0, 4.0, 5.0])]
        [3.0, 2.0, 4.0]
    """
    x = np.asarray(x, float)
    with np.errstate(invalid="ignore"):  # inf entries ("never") interpolate to inf
        q = np.quantile(x, [0.25, 0.5, 0.75], axis=axis)
    q = np.where(np.isnan(q), np.inf, q)
    return q[1], q[0], q[2]


def relative_gap(loss: Float[ArrayLike, "*batch"], L_star: float) -> Float[np.ndarray, "*batch"]:
    """``(L - L*) / L*`` (theory §C6.1).

    Args:
        loss: losses ``L`` (any shape).
        L_star: the minimum ``L*`` (e.g. from :func:`~jaxaccel.depth.lp_minimum`), non-zero.

    Returns:
        The relative gaps, of the shape of ``loss``.

    Example:
        >>> from jaxaccel.depth import relative_gap
        >>> relative_gap([2.0, 1.5], 1.0).tolist()
        [1.0, 0.5]
    """
    return (np.asarray(loss, float) - L_star) / L_star


# ----------------------------------------------------------------------------- issue 22
def nested_lr_grids(lo: float, hi: float, num: int) -> Tuple[Float[np.ndarray, "F"], np.ndarray]:
    """A fine log grid of ``2 num - 1`` points and the indices of its coarse ``num``-point subgrid
    (every other point), so that one sweep answers on both grids (theory §C6.1: showing that a
    tuned comparison does not depend on the learning-rate grid).

    Example:
        >>> from jaxaccel.depth import nested_lr_grids
        >>> fine, coarse = nested_lr_grids(1e-3, 1e-1, 3)
        >>> [round(x, 6) for x in fine.tolist()], coarse.tolist()
        ([0.001, 0.003162, 0.01, 0.031623, 0.1], [0, 2, 4])
    """
    if int(num) < 2:
        raise ValueError(f"num must be >= 2, got {num!r}")
    return lr_grid(lo, hi, 2 * int(num) - 1), np.arange(0, 2 * int(num) - 1, 2)


class Tuned(NamedTuple):
    """A method at its tuned learning rate: per-seed iterations to the first threshold (``hits``,
    inf if never) and final losses (``final``), with the learning rate chosen."""

    lr: float
    index: int
    hits: np.ndarray
    final: np.ndarray
    at_edge: bool


def tuned(run: Run, lrs: Float[ArrayLike, "E"], subset: Optional[ArrayLike] = None,
          criterion: str = "hit_then_final") -> Tuned:
    """Tune the learning rate on ``lrs[subset]`` (all by default) by the median over seeds
    (:func:`select_lr`) and return the per-seed results there (theory §C6.1).

    Args:
        run: a sweep with leading axes ``(E, S)`` and at least one threshold.
        lrs: ``(E,)``. subset: indices of the grid to tune on (e.g. the coarse subgrid of
            :func:`nested_lr_grids`). criterion: as in :func:`select_lr`.

    Returns:
        A :class:`Tuned`.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.depth import Run, tuned
        >>> hit = np.array([[[5], [50], [60]], [[20], [21], [22]]])    # (E=2, S=3, 1)
        >>> run = Run(np.array([0, 9]), np.full((2, 3, 2), 1e-4), np.zeros((2, 3), bool),
        ...           -np.ones((2, 3), int), hit, None, thresholds=np.array([1e-3]))
        >>> t = tuned(run, [0.1, 0.2])                  # median 50 vs 21: the second lr
        >>> t.lr, t.hits.tolist()
        (0.2, [20.0, 21.0, 22.0])
    """
    lrs = np.asarray(lrs, float)
    idx = np.arange(lrs.size) if subset is None else np.asarray(subset)
    sub = Run(run.steps, np.asarray(run.loss)[idx], np.asarray(run.diverged)[idx],
              np.asarray(run.diverged_at)[idx], np.asarray(run.hit_at)[idx], None,
              thresholds=run.thresholds)
    sel = select_lr(sub, lrs[idx], criterion)
    j = int(idx[sel.index])
    hits = hits_as_float(np.asarray(run.hit_at)[j][..., 0])
    final = np.asarray(run.loss, float)[j][..., -1]
    return Tuned(float(lrs[j]), j, hits, final, bool(sel.index in (0, idx.size - 1)))


class Verdict(NamedTuple):
    """``a`` is faster than ``b`` (``holds``) judged on medians over seeds: fewer median
    iterations to the threshold, or -- when neither median reaches it -- a lower median final
    loss. ``clear``: the interquartile ranges do not overlap. ``a``, ``b``: (median, q25, q75)
    of the quantity compared; ``by``: ``"iterations"`` or ``"final loss"``."""

    holds: bool
    clear: bool
    a: Tuple[float, float, float]
    b: Tuple[float, float, float]
    by: str


def median_verdict(a: Tuned, b: Tuned) -> Verdict:
    """Is method ``a`` faster than ``b``? Decided from medians over seeds, never a single run
    (theory §C6.1, §A9.2 E5).

    Example:
        >>> import numpy as np
        >>> from jaxaccel.depth import Tuned, median_verdict
        >>> a = Tuned(0.1, 0, np.array([10.0, 12, 30]), np.array([1e-3, 1e-3, 1e-3]), False)
        >>> b = Tuned(0.1, 0, np.array([20.0, 25, 9]), np.array([1e-3, 1e-3, 1e-3]), False)
        >>> v = median_verdict(a, b)
        >>> v.holds, v.clear, v.a[0], v.b[0]
        (True, False, 12.0, 20.0)
    """
    ma, mb = (median_iqr(t.hits) for t in (a, b))
    by = "iterations"
    if not (np.isfinite(ma[0]) or np.isfinite(mb[0])):
        ma, mb = (median_iqr(t.final) for t in (a, b))
        by = "final loss"
    holds = bool(ma[0] < mb[0])
    lo, hi = (ma, mb) if holds else (mb, ma)
    clear = bool(lo[2] < hi[1])
    return Verdict(holds, clear, tuple(float(x) for x in ma), tuple(float(x) for x in mb), by)
