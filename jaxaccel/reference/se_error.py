"""How wrong is the SE approximation on a given dataset? (theory §18.3)

:func:`se_error` compares the exact batch-averaged loss of mini-batch SGD with memory on a finite
dataset (:func:`jaxaccel.simulate_dataset`, no SE assumption, theory §18.1) with the SE
prediction (Algorithm A, :func:`jaxaccel.simulate`) on the dataset's spectrum with the same batch
factor: once with a given ``tau`` (default ``(1, -1)``), once with the ``(tau1, tau2)`` fitted
to the exact curve (least squares in ``log L``), and with the bracket of Proposition 2 measured on
the data (:func:`se_bounds`): ``tau1_lower <= tau1_upper`` such that
``Sigma_SE(tau1_lower, tau2) <= Sigma <= Sigma_SE(tau1_upper, tau2)`` on positive semidefinite
matrices, whose SE curves must enclose the exact one.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple, Union

import functools

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Int, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.moments.dataset import (batch_factor, check_points, dataset_coordinates,
                                      simulate_dataset)
from jaxaccel.moments.simulate import simulate
from jaxaccel.record import RecordSpec
from jaxaccel.spectra.spectrum import Spectrum

__all__ = ["SEBounds", "SEError", "se_bounds", "se_error"]


class SEBounds(NamedTuple):
    """Proposition 2 on a dataset (theory §3.2, §18.3): for the given ``tau2``,

    ``Sigma_SE(tau1_lower, tau2) <= Sigma(A) <= Sigma_SE(tau1_upper, tau2)`` for all ``A >= 0``.

    Attributes:
        tau2: the fixed ``tau2``.
        tau1_lower: the largest ``tau1`` found with ``Sigma_SE <= Sigma`` (an upper estimate of the
            true value: a minimum over directions found by alternating minimisation).
        tau1_upper: the smallest ``tau1`` with ``Sigma <= Sigma_SE`` (a lower estimate of the true
            value: a maximum found by alternating maximisation).
        lower_is_monotone: ``tau1_lower >= max(tau2, 0)`` (Lemma 1: only then is the lower SE
            map monotone and the lower loss bound implied).
    """

    tau2: float
    tau1_lower: float
    tau1_upper: float
    lower_is_monotone: bool


class SEError(NamedTuple):
    """Output of :func:`se_error`.

    Attributes:
        steps: ``(R,)`` recorded steps.
        exact: ``(R,)`` exact loss (:func:`jaxaccel.simulate_dataset`).
        se: ``(R,)`` SE loss with ``tau``.
        se_fit: ``(R,)`` SE loss with ``tau_fit``.
        tau: the given ``(tau1, tau2)``.
        tau_fit: the fitted ``(tau1, tau2)``.
        rel_error: ``(R,)`` ``se / exact - 1``.
        rel_error_fit: ``(R,)`` ``se_fit / exact - 1``.
        bounds: :class:`SEBounds` (at ``tau2 = tau[1]`` unless given).
        se_lower: ``(R,)`` SE loss at ``(bounds.tau1_lower, tau2)``.
        se_upper: ``(R,)`` SE loss at ``(bounds.tau1_upper, tau2)``.
        upper_holds: ``exact <= se_upper`` at every recorded step (relative slack 1e-9).
        lower_holds: ``se_lower <= exact`` at every recorded step.
        spectrum: the SE problem (:class:`~jaxaccel.Spectrum`: the data's eigenvalues, ``c_k^2``
            of the initial error), for further :func:`jaxaccel.simulate` runs.
        se_batch_size: the ``batch_size`` argument of those runs (inverse batch factor).
    """

    steps: np.ndarray
    exact: np.ndarray
    se: np.ndarray
    se_fit: np.ndarray
    tau: Tuple[float, float]
    tau_fit: Tuple[float, float]
    rel_error: np.ndarray
    rel_error_fit: np.ndarray
    bounds: SEBounds
    se_lower: np.ndarray
    se_upper: np.ndarray
    upper_holds: bool
    lower_holds: bool
    spectrum: Spectrum
    se_batch_size: Float[np.ndarray, "*T"]

    @property
    def max_rel_error(self) -> float:
        """``max_t |se / exact - 1|``."""
        return float(np.max(np.abs(self.rel_error)))

    @property
    def max_rel_error_fit(self) -> float:
        """``max_t |se_fit / exact - 1|``."""
        return float(np.max(np.abs(self.rel_error_fit)))


# ----------------------------------------------------------------------------- bounds
def _extreme_direction(Zw, a, tau2, c, largest, iters, dense):
    """Extreme eigenvector of ``M(a) = (1/n) sum_i (z_i.a)^2 z_i z_i^T + (tau2 - 1) a a^T``:
    ``eigh`` of the ``r x r`` matrix when ``dense``, else matrix-free power iterations
    (``O(n r)`` per product; for the smallest, on ``s I - M`` with ``s`` above the top)."""
    n = Zw.shape[0]
    q = (Zw @ a) ** 2
    if dense:
        M = (Zw.T * q) @ Zw / n + (tau2 - 1.0) * np.outer(a, a)
        vals, vecs = np.linalg.eigh(M)
        k = -1 if largest else 0
        return vecs[:, k], float(vals[k])

    def M(x):
        return Zw.T @ (q * (Zw @ x)) / n + (tau2 - 1.0) * a * (a @ x)

    def power(op, x):
        for _ in range(iters):
            y = op(x)
            x = y / np.linalg.norm(y)
        return x

    lift = max(0.0, 1.0 - tau2)  # M + lift I is PSD
    if largest:
        c = power(lambda x: M(x) + lift * x, c)
    else:
        top = power(lambda x: M(x) + lift * x, Zw[np.argmax(q)] / np.linalg.norm(Zw[np.argmax(q)]))
        s = 1.01 * float(top @ M(top)) + lift
        c = power(lambda x: s * x - M(x), c)
    return c, float(c @ M(c))


def se_bounds(points: Float[ArrayLike, "n d"], tau2: Scalar = -1.0, *, starts: int = 4,
              sweeps: int = 6, iters: int = 30, dense_max: int = 400, seed: int = 0,
              rtol: float = 1e-12) -> SEBounds:
    """The ``tau1`` bracket of Proposition 2 for a dataset (theory §3.2, §18.3).

    With ``Sigma(aa^T)`` the exact noise operator of the data, ``Sigma <= Sigma_SE(tau1, tau2)`` on
    all PSD matrices iff ``tau1 >= R(a, c)`` for every pair of whitened unit vectors, and
    ``Sigma >= Sigma_SE`` iff ``tau1 <= R(a, c)``, where

    .. math::  R(a, c) = \\frac1n\\sum_i (\\tilde z_i^Ta)^2(\\tilde z_i^Tc)^2 + (\\tau_2-1)(a^Tc)^2,
               \\qquad \\tilde z_i = H^{-1/2} x_i .

    The extremes over the product of spheres are found by alternating maximisation and
    minimisation (each half-step the extreme eigenvector of a quadratic form: ``eigh`` for
    ``r <= dense_max``, else matrix-free power iterations, ``O(n r)`` per product), from the
    principal axes, the directions of the data points of largest whitened norm and random
    starts: ``tau1_upper`` is a lower estimate of the supremum and ``tau1_lower`` an upper
    estimate of the infimum (exact for data with Gaussian fourth moments: both 1 at ``tau2 = -1``).

    Args:
        points: ``(n, d)`` data.
        tau2: the fixed ``tau2``.
        starts: starting pairs per extreme.
        sweeps: alternating sweeps per start.
        iters: power iterations per half-sweep (``r > dense_max``).
        dense_max: largest rank solved with dense eigen-decompositions.
        seed: seed of the random starts.
        rtol: eigenvalue cut-off (:func:`jaxaccel.dataset_coordinates`).

    Returns:
        :class:`SEBounds`.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).standard_t(4, size=(400, 3))
        >>> b = se_bounds(X)
        >>> b.tau1_lower < 1.0 < b.tau1_upper, b.lower_is_monotone
        (True, True)
    """
    coords = dataset_coordinates(points, rtol)
    V.check_real_number(tau2, "tau2")
    tau2 = float(tau2)
    if not np.isfinite(tau2):
        raise ValueError("tau2 must be finite")
    for name, x in (("starts", starts), ("sweeps", sweeps), ("iters", iters)):
        V.check_positive_int(x, name)
    Zw = coords.points / np.sqrt(coords.eigenvalues)
    n, r = Zw.shape
    rng = np.random.default_rng(seed)
    norms = np.linalg.norm(Zw, axis=1)
    cand = [np.eye(r)[k] for k in range(min(r, 2))]
    cand += [Zw[i] / norms[i] for i in np.argsort(-norms)[: max(1, starts // 2)]]
    while len(cand) < starts:
        g = rng.normal(size=r)
        cand.append(g / np.linalg.norm(g))
    dense = r <= V.check_positive_int(dense_max, "dense_max")
    out = {}
    for largest in (True, False):
        best = -np.inf if largest else np.inf
        for a0 in cand[:starts]:
            a = a0.copy()
            c = a0.copy() if largest else rng.normal(size=r)
            c /= np.linalg.norm(c)
            prev = np.nan
            for _ in range(sweeps):
                c, _ = _extreme_direction(Zw, a, tau2, c, largest, iters, dense)
                a, val = _extreme_direction(Zw, c, tau2, a, largest, iters, dense)
                if abs(val - prev) <= 1e-12 * abs(val):
                    break  # converged (each sweep is monotone)
                prev = val
            best = max(best, val) if largest else min(best, val)
        out[largest] = best
    low, up = out[False], out[True]
    return SEBounds(tau2, low, up, bool(low >= max(tau2, 0.0)))


# ----------------------------------------------------------------------------- the diagnostic
def _se_curve(spectrum, algorithm, steps, inv_batch, tau, rec):
    res = simulate(spectrum, algorithm, steps, batch_size=inv_batch, tau=tau, record=rec,
                   divergence_growth=None)
    return np.asarray(res.loss)


@functools.partial(jax.jit, static_argnames=("steps", "rec"))
def _log_se(tau, spectrum, algorithm, inv_batch, *, steps, rec):
    res = simulate(spectrum, algorithm, steps, batch_size=inv_batch, tau=(tau[0], tau[1]),
                   record=np.asarray(rec), kernel="xla", divergence_growth=None)
    return jnp.log(res.loss)


_log_se_jacobian = jax.jit(jax.jacfwd(_log_se), static_argnames=("steps", "rec"))


def _fit_tau(spectrum, algorithm, steps, inv_batch, rec, exact, starts, iterations=30):
    """Levenberg-Marquardt on ``log L_SE(tau) - log L_exact`` over the recorded steps ``t >= 1``
    (derivatives by forward mode through the scan; one compilation per problem shape)."""
    sel = np.asarray(rec) >= 1
    target = np.log(exact[sel])
    kw = dict(steps=steps, rec=tuple(int(t) for t in rec))
    args = (spectrum, algorithm, inv_batch)

    def residual(tau):
        return np.asarray(_log_se(tau, *args, **kw))[sel] - target

    def jac(tau):
        return np.asarray(_log_se_jacobian(tau, *args, **kw))[sel]

    def cost(r):
        r = np.asarray(r)
        return float(np.mean(r * r)) if np.all(np.isfinite(r)) else np.inf

    best, best_cost = None, np.inf
    for start in starts:
        tau = jnp.asarray(start, jnp.float64)
        r = residual(tau)
        c, mu = cost(r), 1e-3
        for _ in range(iterations):
            if not np.isfinite(c):
                break
            J = np.asarray(jac(tau))
            g = J.T @ np.asarray(r)
            A = J.T @ J
            improved = False
            while mu < 1e8:
                step = np.linalg.solve(A + mu * np.diag(np.diag(A) + 1e-12), -g)
                cand = tau + jnp.asarray(step)
                rc = residual(cand)
                cc = cost(rc)
                if cc < c:
                    tau, r, improved = cand, rc, c - cc > 1e-14 * max(c, 1e-300)
                    c, mu = cc, mu / 3
                    break
                mu *= 10
            if not improved:
                break
        if c < best_cost:
            best, best_cost = tau, c
    return (float(best[0]), float(best[1])) if best is not None else tuple(starts[0])


def se_error(
    points: Float[ArrayLike, "n d"],
    algorithm: MemoryAlgorithm,
    initial_error: Union[Float[ArrayLike, "d"], Float[ArrayLike, "d outputs"]],
    steps: int,
    batch_size: Union[int, Int[ArrayLike, "T"]],
    replace: bool = True,
    tau: Tuple[Scalar, Scalar] = (1.0, -1.0),
    record: RecordSpec = "log",
    *,
    fit_starts: Optional[Tuple[Tuple[float, float], ...]] = None,
    bounds: Union[bool, SEBounds] = True,
    rtol: float = 1e-12,
    **kwargs: Any,
) -> SEError:
    """The SE error on a dataset: exact loss vs SE with ``tau``, with fitted ``tau``, and the
    bracket of Proposition 2 (theory §18.3).

    The SE problem is the dataset's spectrum ``lambda_k`` with ``c_k^2`` the squared coordinates
    of ``initial_error`` in its eigenbasis (summed over outputs) and the same batch factor
    (``1/b`` or ``(n - b)/((n - 1) b)``), so every difference comes from the fourth moments of the
    data. Relative errors ``L_SE / L - 1`` are reported at the recorded steps.

    Args:
        points: ``(n, d)`` data.
        algorithm: :class:`~jaxaccel.algorithms.MemoryAlgorithm`.
        initial_error: ``(d,)`` or ``(d, outputs)``.
        steps: number of steps.
        batch_size: ``b`` or a ``(T,)`` schedule.
        replace: sampling with replacement.
        tau: the SE pair to assess (default the Gaussian ``(1, -1)``); the bounds use its
            ``tau2``.
        record: recorded steps (default ``"log"``).
        fit_starts: starting pairs of the fit (default ``tau`` and ``(1, 1)``).
        bounds: compute :func:`se_bounds` (at ``tau2 = tau[1]``) and the bounding SE curves;
            an :class:`SEBounds` of the same data is used as given; ``False``: ``nan``.
        rtol: eigenvalue cut-off.
        **kwargs: passed on to :func:`jaxaccel.simulate_dataset` (``chunk``, ``memory_budget``).

    Returns:
        :class:`SEError`.

    Example:
        >>> import numpy as np, jaxaccel as ja
        >>> X = 0.5 * np.random.default_rng(0).standard_t(4, size=(200, 3))
        >>> r = ja.se_error(X, ja.heavy_ball(0.2, 0.5), np.ones(3), 100, 2)
        >>> r.max_rel_error_fit < r.max_rel_error, r.upper_holds, r.lower_holds
        (True, True, True)
    """
    X = check_points(points)
    check_algorithm(algorithm)
    if batch_size is None:
        raise ValueError("batch_size must be given: without noise SE is exact")
    if not (isinstance(tau, (tuple, list)) and len(tau) == 2):
        raise ValueError(f"tau must be a pair (tau1, tau2), got {tau!r}")
    for x in tau:
        V.check_real_number(x, "tau")
    tau = (float(tau[0]), float(tau[1]))
    exact_res = simulate_dataset(X, algorithm, initial_error, steps, batch_size, replace, record,
                                 rtol=rtol, divergence_growth=None, **kwargs)
    if bool(exact_res.diverged):
        raise ValueError(f"algorithm: the exact dynamics diverge at step "
                         f"{int(exact_res.diverged_at)}; the SE error is not defined there")
    rec = np.asarray(exact_res.steps)
    exact = np.asarray(exact_res.loss)
    coords = dataset_coordinates(X, rtol)
    e = np.asarray(initial_error, dtype=np.float64).reshape(X.shape[1], -1)
    c2 = ((coords.basis.T @ e) ** 2).sum(axis=1)
    spectrum = Spectrum(coords.eigenvalues, c2)
    factor = np.asarray(batch_factor(X.shape[0], np.asarray(batch_size, np.float64), replace))
    factor = factor[:steps] if factor.ndim else factor
    if np.any(factor == 0):
        raise ValueError("batch_size: a batch of all n points without replacement has no noise")
    inv_batch = jnp.asarray(1.0 / factor)

    se = _se_curve(spectrum, algorithm, steps, inv_batch, tau, rec)
    starts = fit_starts if fit_starts is not None else (tau, (1.0, 1.0))
    tau_fit = _fit_tau(spectrum, algorithm, steps, inv_batch, rec, exact, starts)
    se_fit = _se_curve(spectrum, algorithm, steps, inv_batch, tau_fit, rec)
    nan = np.full_like(exact, np.nan)
    if bounds is not False:
        bnd = bounds if isinstance(bounds, SEBounds) else se_bounds(X, tau[1], rtol=rtol)
        se_up = _se_curve(spectrum, algorithm, steps, inv_batch, (bnd.tau1_upper, bnd.tau2), rec)
        upper_holds = bool(np.all(exact <= se_up * (1 + 1e-9)))
        if bnd.lower_is_monotone:
            se_lo = _se_curve(spectrum, algorithm, steps, inv_batch, (bnd.tau1_lower, bnd.tau2),
                              rec)
            lower_holds = bool(np.all(se_lo <= exact * (1 + 1e-9)))
        else:
            se_lo, lower_holds = nan, False
    else:
        bnd, se_lo, se_up = SEBounds(tau[1], np.nan, np.nan, False), nan, nan
        upper_holds = lower_holds = False
    return SEError(rec, exact, se, se_fit, tau, tau_fit, se / exact - 1.0, se_fit / exact - 1.0,
                   bnd, se_lo, se_up, upper_holds, lower_holds, spectrum, np.asarray(inv_batch))
