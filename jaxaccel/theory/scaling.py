"""Compute-optimal scaling of power-law random features (theory §17.3-§17.4).

:func:`compute_frontier` runs the exact SE dynamics of an algorithm on the random-features
problem of every model size ``d`` of a grid (one vmapped, memory-chunked program; the problems'
spectra are padded to a common size with inert nodes), converts steps to compute
``f = d * b * t``, and returns the lower envelope of the risk over ``d``, the optimal size
``d*(f)`` and power-law fits of both with confidence intervals.

:func:`plrf_compute_optimal` gives the exponents of the PLRF phases above the high-dimensional
line (``2 alpha > 1``) from the loss decomposition of Paquette, Paquette, Xiao & Pennington
(2024, "4+3 phases of compute-optimal neural scaling laws"), derived in theory §17.4.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.moments.grid import chunk_size
from jaxaccel.moments.simulate import simulate
from jaxaccel.noise import NoiseModel, as_noise_model
from jaxaccel._typing import ArrayLike
from jaxaccel.record import RecordSpec, record_steps
from jaxaccel.spectra.random_features import RandomFeatures
from jaxaccel.spectra.spectrum import Spectrum

__all__ = ["ExponentFit", "FrontierResult", "PLRFExponents", "compute_frontier",
           "fit_exponent", "plrf_compute_optimal"]


class ExponentFit(NamedTuple):
    """``y ~ constant * x ** exponent`` by least squares in log-log, with a 95% interval.

    Attributes:
        exponent, constant: the fit.
        stderr: standard error of the slope (from the residuals).
        ci: ``(low, high)``, ``exponent -+ t_{0.975, n-2} * stderr``.
        n: number of points fitted.
    """

    exponent: float
    constant: float
    stderr: float
    ci: tuple
    n: int


#: two-sided 97.5% Student-t quantiles for 1..30 degrees of freedom (then the normal 1.96)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def fit_exponent(x: ArrayLike, y: ArrayLike) -> ExponentFit:
    """Least-squares power law through positive finite points (at least 3).

    Example:
        >>> f = fit_exponent([1, 10, 100, 1000], [2.0, 0.2, 0.02, 0.002])
        >>> round(f.exponent, 12), round(f.constant, 12), f.n
        (-1.0, 2.0, 4)
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = np.log(x[ok]), np.log(y[ok])
    n = x.size
    if n < 3:
        raise ValueError(f"need at least 3 positive finite points to fit an exponent, got {n}")
    A = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    res = y - A @ coef
    s2 = float(res @ res) / (n - 2)
    sxx = float(((x - x.mean()) ** 2).sum())
    se = math.sqrt(s2 / sxx) if sxx > 0 else float("inf")
    q = _T975[n - 3] if n - 2 <= len(_T975) else 1.96
    p = float(coef[0])
    return ExponentFit(p, float(np.exp(coef[1])), se, (p - q * se, p + q * se), n)


class PLRFExponents(NamedTuple):
    """Compute-optimal exponents of SGD on PLRF: ``d* ~ f^d_exponent``, ``P* ~ f^loss_exponent``.

    Attributes:
        phase: ``"Ia"``, ``"II"`` or ``"III"`` (above the high-dimensional line ``2 alpha > 1``).
        d_exponent, loss_exponent: the exponents (``loss_exponent < 0``).
        terms: the two terms of the loss decomposition that balance at the optimum.
        formula: the formulas, as text.
    """

    phase: str
    d_exponent: float
    loss_exponent: float
    terms: str
    formula: str


def plrf_compute_optimal(alpha: float, beta: float) -> PLRFExponents:
    """The compute-optimal exponents of one-pass SGD on PLRF (theory §17.4; phases of Paquette,
    Paquette, Xiao & Pennington 2024) for ``2 alpha > 1``:

    * Ia (``2 beta < 1``): ``F_pp`` vs ``F_0``: ``d* ~ f^(1/(2 alpha + 1))``,
      ``P* ~ f^-((2 alpha + 2 beta - 1)/(2 alpha + 1))``;
    * II (``2 beta > 1``, ``beta < alpha``): ``F_pp`` vs ``F_ac``: ``d* ~ f^(beta/(alpha+beta))``,
      ``P* ~ f^-((2 alpha + 2 beta - 1)/(2 (alpha + beta)))``;
    * III (``2 beta > 1``, ``beta > alpha``): ``K_pp`` vs ``F_ac``: ``d* ~ f^(1/2)``,
      ``P* ~ f^-((4 alpha - 1)/(4 alpha))``.

    The phases below the line (``2 alpha < 1``: Ib, Ic, IVa, IVb) need ``v`` proportional to
    ``d`` and a learning rate that scales with ``d``; they are not covered (``ValueError``).

    Example:
        >>> e = plrf_compute_optimal(1.0, 0.3)
        >>> e.phase, round(e.d_exponent, 6), round(e.loss_exponent, 6)
        ('Ia', 0.333333, -0.533333)
    """
    for name, x in (("alpha", alpha), ("beta", beta)):
        V.check_real_number(x, name)
        if not np.isfinite(float(x)):
            raise ValueError(f"{name} must be finite, got {x!r}")
    a, b = float(alpha), float(beta)
    if not 2 * a > 1:
        raise ValueError(f"alpha must be > 1/2 (above the high-dimensional line), got {a}")
    if not 2 * (a + b) > 1:
        raise ValueError(f"alpha + beta must be > 1/2 (finite target risk), got {a + b}")
    tol = 1e-12
    if abs(2 * b - 1) <= tol or abs(a - b) <= tol:
        raise ValueError(f"(alpha, beta) = ({a}, {b}) lies on a phase boundary")
    if 2 * b < 1:
        return PLRFExponents("Ia", 1 / (2 * a + 1), -(2 * a + 2 * b - 1) / (2 * a + 1),
                             "F_pp ~ F_0", "d* ~ f^(1/(2a+1)), P* ~ f^-((2a+2b-1)/(2a+1))")
    if b < a:
        return PLRFExponents("II", b / (a + b), -(2 * a + 2 * b - 1) / (2 * (a + b)),
                             "F_pp ~ F_ac", "d* ~ f^(b/(a+b)), P* ~ f^-((2a+2b-1)/(2(a+b)))")
    return PLRFExponents("III", 0.5, -(4 * a - 1) / (4 * a), "K_pp ~ F_ac",
                         "d* ~ f^(1/2), P* ~ f^-((4a-1)/(4a))")


class FrontierResult(NamedTuple):
    """Output of :func:`compute_frontier`.

    Attributes:
        d: ``(n_d,)`` model sizes.
        steps: ``(R,)`` recorded steps.
        risk: ``(n_d, R)`` risk ``L_t + P_inf(d)`` (excess over the best model of size ``d``
            plus its approximation risk; label noise's own ``sigma2/2`` is not included).
        compute: ``(n_d, R)`` ``f = d * b * t``.
        diverged: ``(n_d,)`` bool.
        f: ``(n_f,)`` compute grid of the envelope.
        envelope: ``(n_f,)`` ``min_d risk(d, f)`` (log-log interpolation in ``t``).
        d_opt: ``(n_f,)`` the minimising ``d`` (``nan`` where no size reaches ``f``); an
            interior minimum is refined by the parabola through its neighbours in log-log.
        loss_fit, d_fit: :class:`ExponentFit` of ``envelope`` and ``d_opt`` against ``f`` over
            the fit window (``None`` if fewer than 3 points).
        window: ``(f_min, f_max)`` of the fit.
    """

    d: np.ndarray
    steps: np.ndarray
    risk: np.ndarray
    compute: np.ndarray
    diverged: np.ndarray
    f: np.ndarray
    envelope: np.ndarray
    d_opt: np.ndarray
    loss_fit: Optional[ExponentFit]
    d_fit: Optional[ExponentFit]
    window: tuple


def _stack_spectra(spectra: Sequence[Spectrum]):
    """Common-size ``(n_d, N)`` arrays; padding nodes ``(lambda=1, c2=0, m=0)`` are inert (no
    signal, no injection: their block stays 0)."""
    n = max(s.size for s in spectra)
    def pad(x, fill):
        x = np.asarray(x, np.float64)
        return np.concatenate([x, np.full(n - x.size, fill)])
    lam = np.stack([pad(s.eigenvalues, 1.0) for s in spectra])
    c2 = np.stack([pad(s.c2, 0.0) for s in spectra])
    m = np.stack([pad(s.weights, 0.0) for s in spectra])
    return lam, c2, m


def compute_frontier(problem: Callable[[int], RandomFeatures],
                     algorithm: Union[MemoryAlgorithm, Callable[[RandomFeatures], MemoryAlgorithm]],
                     d_grid: Sequence[int], steps: int, batch_size: float = 1.0, *,
                     sigma2: float = 0.0, tau: Tuple[float, float] = (1.0, -1.0),
                     record: RecordSpec = "log", f_points: int = 40,
                     fit_window: Optional[tuple] = None, memory_budget: float = 2**30,
                     ) -> FrontierResult:
    """Compute-optimal frontier of ``algorithm`` on random-features problems (theory §17.3).

    For every ``d`` of ``d_grid`` the SE dynamics (exact for Gaussian data, theory §17.1) run
    on ``problem(d)`` with label noise ``2 P_inf(d) + sigma2`` at batch ``b``; the risk at step
    ``t`` costs ``f = d b t``. The envelope ``P*(f) = min_d risk(d, f/(d b))`` and the
    optimal ``d*(f)`` are fitted by power laws over ``fit_window`` (default: the compute range
    where ``d*`` is strictly inside the grid, so that the envelope is not set by its edge).

    Args:
        problem: ``d -> RandomFeatures`` (e.g. ``lambda d: power_law_features_equivalent(1.0,
            0.7, 1e8, d)``).
        algorithm: a :class:`MemoryAlgorithm` used for every ``d``, or ``RandomFeatures ->
            MemoryAlgorithm`` (each size at its own tuned or scheduled parameters; all must
            have the same memory and schedule length).
        d_grid: at least 2 distinct model sizes ``>= 1``.
        steps: horizon ``T`` of every run.
        batch_size: ``b > 0``.
        sigma2: label-noise variance ``>= 0``.
        tau: SE pair (``(1, -1)`` is exact for Gaussian data).
        record: recorded steps (``"log"`` by default).
        f_points: size of the compute grid of the envelope.
        fit_window: ``(f_min, f_max)`` of the fits.
        memory_budget: bytes for the states of one chunk of sizes (runs are vmapped in chunks).

    Example:
        >>> from jaxaccel.spectra.random_features import power_law_features
        >>> import jaxaccel as ja
        >>> fr = compute_frontier(lambda d: power_law_features(1.0, 1.5, 200, d), ja.gd(0.5),
        ...                       [10, 20, 40], 200, record="log")
        >>> ok = np.isfinite(fr.envelope)
        >>> fr.risk.shape[0], bool(np.all((fr.d_opt[ok] >= 10) & (fr.d_opt[ok] <= 40)))
        (3, True)
    """
    d_arr = np.asarray(d_grid, dtype=np.float64)
    if d_arr.ndim != 1 or d_arr.size < 2:
        raise ValueError(f"d_grid must be a 1-D grid of at least 2 sizes, got shape {d_arr.shape}")
    if not np.all(np.isfinite(d_arr)) or np.any(d_arr < 1) or np.any(d_arr != np.round(d_arr)):
        raise ValueError("d_grid must hold whole numbers >= 1")
    if np.unique(d_arr).size != d_arr.size:
        raise ValueError("d_grid must not repeat a size")
    d_arr = np.sort(d_arr)
    steps = V.check_positive_int(steps, "steps")
    sigma2 = V.variance(sigma2, "sigma2")
    noise = as_noise_model(batch_size, tau, required=True)  # b > 0 finite, tau a finite pair
    batch_size = float(noise.batch_size)
    if fit_window is not None:
        fit_window = np.asarray(fit_window, np.float64)
        if fit_window.shape != (2,) or not (np.all(np.isfinite(fit_window))
                                            and 0 < fit_window[0] < fit_window[1]):
            raise ValueError(f"fit_window must be (f_min, f_max) with 0 < f_min < f_max, got "
                             f"{fit_window.tolist()}")
    f_points = V.check_positive_int(f_points, "f_points")
    if not callable(problem):
        raise ValueError("problem must be a callable d -> RandomFeatures")
    probs = [problem(int(d)) for d in d_arr]
    for p in probs:
        if not isinstance(p, RandomFeatures):
            raise ValueError(f"problem(d) must return RandomFeatures, got {type(p).__name__}")
    shared = isinstance(algorithm, MemoryAlgorithm)
    algs = [algorithm] if shared else [algorithm(p) for p in probs]
    for a in algs:
        if not isinstance(a, MemoryAlgorithm):
            raise ValueError("algorithm must be a MemoryAlgorithm or return one")
        check_algorithm(a)
    lam, c2, m = _stack_spectra([p.spectrum for p in probs])
    irr = np.array([p.irreducible for p in probs])
    s2 = 2.0 * irr + sigma2
    rec = record_steps(record, steps)
    t1, t2 = float(noise.tau1), float(noise.tau2)

    def one(lam_i, c2_i, m_i, alg_i, s2_i):
        spec = Spectrum(lam_i, c2_i, weights=m_i)
        r = simulate(spec, alg_i, steps, NoiseModel(batch_size, t1, t2, s2_i), record=rec)
        return r.loss, r.diverged

    # a schedule carries (T, ...) coefficients per size: run the sizes one by one
    scheduled = not all(a.is_stationary for a in algs)
    chunk = 1 if scheduled else chunk_size(probs[-1].spectrum, algs[0].memory, d_arr.size,
                                           memory_budget, 8)
    if shared:
        run = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, 0)))
        alg_at = lambda sl: algorithm  # noqa: E731
    else:
        run = jax.jit(jax.vmap(one))
        alg_stack = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *algs)
        alg_at = lambda sl: jax.tree_util.tree_map(lambda x: x[sl], alg_stack)  # noqa: E731
    losses, divs = [], []
    for i in range(0, d_arr.size, chunk):
        sl = slice(i, i + chunk)
        lo, dv = run(jnp.asarray(lam[sl]), jnp.asarray(c2[sl]), jnp.asarray(m[sl]), alg_at(sl),
                     jnp.asarray(s2[sl]))
        losses.append(np.asarray(lo))
        divs.append(np.asarray(dv))
    risk = np.concatenate(losses) + irr[:, None]
    diverged = np.concatenate(divs)
    compute = d_arr[:, None] * batch_size * rec[None, :].astype(np.float64)
    # envelope on a log grid of compute
    pos = rec > 0
    f_lo = compute[:, pos].min()
    f_hi = compute[:, pos].max()
    f = np.geomspace(f_lo, f_hi, f_points)
    table = np.full((d_arr.size, f.size), np.inf)
    lt = np.log(rec[pos].astype(np.float64))
    for i in range(d_arr.size):
        if diverged[i]:
            continue
        t_need = np.log(f / (d_arr[i] * batch_size))
        inside = (t_need >= lt[0]) & (t_need <= lt[-1])
        table[i, inside] = np.exp(np.interp(t_need[inside], lt, np.log(risk[i, pos])))
    best = np.argmin(table, axis=0)
    env = table[best, np.arange(f.size)]
    d_opt = np.where(np.isfinite(env), d_arr[best], np.nan)
    # refine an interior minimum by the vertex of the parabola through its neighbours (log-log)
    ld = np.log(d_arr)
    for j in np.nonzero(np.isfinite(env) & (best > 0) & (best < d_arr.size - 1))[0]:
        i = best[j]
        y = np.log(table[i - 1:i + 2, j])
        if not np.all(np.isfinite(y)):
            continue
        c = np.polyfit(ld[i - 1:i + 2], y, 2)
        if c[0] > 0:
            x = float(np.clip(-c[1] / (2 * c[0]), ld[i - 1], ld[i + 1]))
            d_opt[j], env[j] = np.exp(x), np.exp(np.polyval(c, x))
    if fit_window is None:
        interior = np.isfinite(env) & (best > 0) & (best < d_arr.size - 1)
        fw = (f[interior].min(), f[interior].max()) if interior.sum() >= 3 else (f_lo, f_hi)
    else:
        fw = tuple(float(x) for x in fit_window)
    sel = (f >= fw[0]) & (f <= fw[1]) & np.isfinite(env)
    loss_fit = fit_exponent(f[sel], env[sel]) if sel.sum() >= 3 else None
    d_fit = fit_exponent(f[sel], d_opt[sel]) if sel.sum() >= 3 else None
    return FrontierResult(d_arr, rec, risk, compute, diverged, f, env, d_opt, loss_fit, d_fit,
                          fw)
