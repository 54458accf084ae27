"""Memory-2 design: the largest effective learning rate at a noisy stability margin (theory §16).

For a fixed slowest memory eigenvalue ``r1 = 1 - delta`` (the memory time scale ``1/delta``),
which stationary method has the largest effective learning rate (22) while it stays strictly
stable on ``(0, lambda_max]`` and noisily stable with a margin, ``U~_Sigma <= 1 - margin``
(theory §5.2)? For memory 1 the free coordinate is ``q0`` (triplet of §6.1,
``q1 = -q0 - delta alpha_eff``); for memory 2 (:func:`jaxaccel.memory2`,
``P = (mu - 1)(mu - r1)(mu - r2)``, ``Q = q0 + q1 mu + q2 mu^2``) they are ``r2, q0, q1``
(``q2`` from ``alpha_eff``). Memory 1 is the slice ``r2 = 0, q0 = 0`` of memory 2 (``P`` and
``Q`` gain the common factor ``mu``; memory-1 ``(q0, q1)`` become ``(q1, q2)``), so the
memory-2 search contains the memory-1 one when its grid contains that slice. For every candidate the largest feasible ``alpha_eff`` is found by
bisection in ``log alpha_eff`` (feasibility is assumed to be an interval ``(0, alpha*]`` along
the ray; the search reports the candidates whose lower end is infeasible). One jitted, vmapped
program evaluates all candidates per bisection step (:func:`jaxaccel.noisy_stability`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.algorithms.polynomials import characteristic_polynomials, memory2
from jaxaccel.algorithms.presets import memory1_triplet
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum
from jaxaccel.theory.stability import noisy_stability

__all__ = ["MemoryDesign", "max_effective_learning_rate", "memory2_search"]


class MemoryDesign(NamedTuple):
    """Result of :func:`memory2_search`.

    Attributes:
        delta: the memory time scale (``r1 = 1 - delta``).
        margin: the noisy stability margin (``U~_Sigma <= 1 - margin``).
        memory1: ``{"q0", "alpha_eff", "U"}`` of the best memory-1 method.
        memory2: ``{"r2", "q0", "q1", "q2", "alpha_eff", "U"}`` of the best memory-2 method.
        P1, Q1, P2, Q2: their characteristic polynomials (ascending coefficients, §2.4).
        gain: ``alpha_eff`` of memory 2 over that of memory 1.
        candidates1, candidates2: ``(K, .)`` every candidate with its largest ``alpha_eff``
            (columns: the coordinates, then ``alpha_eff``; 0 where none is feasible).
    """

    delta: float
    margin: float
    memory1: dict
    memory2: dict
    P1: np.ndarray
    Q1: np.ndarray
    P2: np.ndarray
    Q2: np.ndarray
    gain: float
    candidates1: np.ndarray
    candidates2: np.ndarray


def _feasible_fn(spectrum, build, batch_size, tau, margin):
    def one(coords, log_ae):
        alg = build(coords, jnp.exp(log_ae))
        ns = noisy_stability(spectrum, alg, batch_size, tau)
        ok = ns.strict.stable & jnp.isfinite(ns.U) & (ns.U_tilde <= 1.0 - margin)
        return ok, ns.U_tilde

    return jax.jit(jax.vmap(one))


def max_effective_learning_rate(spectrum: Spectrum, build: Callable[..., MemoryAlgorithm],
                                coords: Float[ArrayLike, "K C"], batch_size: float,
                                tau: Optional[Tuple[float, float]] = None, *,
                                margin: float = 0.1, bounds: Tuple[float, float] = (1e-2, 1e4),
                                iters: int = 14) -> Tuple[np.ndarray, np.ndarray]:
    """Largest feasible ``alpha_eff`` of each candidate by bisection in ``log alpha_eff``.

    Args:
        spectrum: the problem.
        build: ``build(coords (C,), alpha_eff) -> MemoryAlgorithm`` (``jax.numpy`` ops).
        coords: ``(K, C)`` candidate coordinates.
        batch_size, tau: the SE noise model (15).
        margin: feasibility is strict stability and ``U~_Sigma <= 1 - margin``.
        bounds: the bracket of ``alpha_eff``.
        iters: bisection steps (relative resolution ``(hi/lo)^(2^-iters)``).

    Returns:
        ``(alpha_eff (K,), U~ (K,))``; ``alpha_eff = 0`` where the lower bound is infeasible.

    Example:
        >>> import jaxaccel as ja, numpy as np
        >>> s = ja.power_law_spectrum(200, nu=2.0, zeta=0.5)
        >>> build = lambda c, ae: ja.heavy_ball(ae * (1 - c[0]), c[0])
        >>> ae, U = ja.max_effective_learning_rate(s, build, np.array([[0.0]]), 10.0, iters=10)
        >>> bool(1.0 < ae[0] < 13.0), bool(U[0] <= 0.9)
        (True, True)
    """
    check_spectrum(spectrum)
    coords = np.atleast_2d(np.asarray(coords, dtype=np.float64))
    if not np.all(np.isfinite(coords)):
        raise ValueError("coords must be finite")
    if not (0.0 <= margin < 1.0):
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    lo, hi = (float(x) for x in bounds)
    if not (0 < lo < hi and np.isfinite(hi)):
        raise ValueError(f"bounds must satisfy 0 < lo < hi < inf, got {bounds!r}")
    iters = V.check_positive_int(iters, "iters")
    f = _feasible_fn(spectrum, build, batch_size, tau, margin)
    return _bisect(f, coords, lo, hi, iters)


def _bisect(f, coords, lo, hi, iters):
    """Bisection of :func:`max_effective_learning_rate` with a prebuilt feasibility program."""
    K = coords.shape[0]
    c = jnp.asarray(coords)
    a = np.full(K, np.log(lo))
    b = np.full(K, np.log(hi))
    ok_lo, U_lo = (np.asarray(x) for x in f(c, jnp.asarray(a)))
    ok_hi, U_hi = (np.asarray(x) for x in f(c, jnp.asarray(b)))
    a = np.where(ok_hi, b, a)  # feasible at the top of the bracket: report hi
    U_best = np.where(ok_hi, U_hi, U_lo)
    for _ in range(iters):
        mid = 0.5 * (a + b)
        ok, U = (np.asarray(x) for x in f(c, jnp.asarray(mid)))
        run = ok_lo & ~ok_hi
        a = np.where(run & ok, mid, a)
        b = np.where(run & ~ok, mid, b)
        U_best = np.where(run & ok, U, U_best)
    ae = np.where(ok_lo, np.exp(a), 0.0)
    return ae, np.where(ok_lo, U_best, np.inf)


def _build1(delta):
    def build(c, ae):
        q0 = c[0]
        return memory1_triplet(delta, q0, -q0 - delta * ae)
    return build


def _build2(delta):
    def build(c, ae):
        r1 = 1.0 - delta
        r2, q0, q1 = c[0], c[1], c[2]
        s, p = r1 + r2, r1 * r2
        q2 = -ae * (1.0 - s + p) - q0 - q1
        return memory2(s, p, q0, q1, q2)
    return build


def memory2_search(spectrum: Spectrum, delta: float, batch_size: float,
                   tau: Optional[Tuple[float, float]] = None, *, margin: float = 0.1,
                   r2: Optional[ArrayLike] = None, q0: Optional[ArrayLike] = None,
                   q1: Optional[ArrayLike] = None, m1_q0: Optional[ArrayLike] = None,
                   bounds: Tuple[float, float] = (1e-2, 1e4), iters: int = 14,
                   refine: int = 0, samples: int = 24, seed: int = 0) -> MemoryDesign:
    """Best memory-1 and memory-2 stationary methods at memory scale ``delta`` (theory §16).

    Grids (defaults in brackets): memory 1 over its ``q0`` (``m1_q0`` [``0.02 .. 3``, log]),
    memory 2 over the Cartesian product of ``r2`` [``-0.5, 0, 0.5``], ``q0`` [``-0.2, 0,
    0.2``] and ``q1`` [``m1_q0``]; the default grid contains the memory-1 slice
    ``r2 = q0 = 0``, so ``gain >= 1`` up to the bisection resolution. Each candidate's largest
    feasible ``alpha_eff`` by :func:`max_effective_learning_rate`. ``refine`` rounds of
    ``samples`` random perturbations of ``(r2, q0, q1)`` around the best point so far (the
    memory-1 optimum as the slice ``r2 = q0 = 0`` included) then search off the grid, with
    steps shrinking by 0.6 per round (``seed`` fixes them).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> d = ja.memory2_search(s, 0.05, 10.0, r2=[0.0], q0=[0.0], m1_q0=[0.3], iters=6)
        >>> d.memory1["alpha_eff"] > 0, len(d.P2)
        (True, 4)
    """
    check_spectrum(spectrum)
    V.check_real_number(delta, "delta")
    if not (0.0 < delta < 1.0):
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    m1 = np.geomspace(0.02, 3.0, 8) if m1_q0 is None else np.asarray(m1_q0, float)
    q1 = m1 if q1 is None else np.asarray(q1, float)
    q0 = np.array([-0.2, 0.0, 0.2]) if q0 is None else np.asarray(q0, float)
    r2 = np.array([-0.5, 0.0, 0.5]) if r2 is None else np.asarray(r2, float)
    if np.any(np.abs(r2) >= 1):
        raise ValueError("r2 must lie in (-1, 1) (a strictly stable memory)")
    c1 = m1[:, None]
    c2 = np.stack([m.ravel() for m in np.meshgrid(r2, q0, q1, indexing="ij")], axis=1)
    # memory 1 runs as the slice r2 = q0 = 0 of memory 2 (theory §16.1): one compiled program
    # serves both searches
    slice1 = np.column_stack([np.zeros_like(m1), np.zeros_like(m1), m1])
    lo, hi = (float(x) for x in bounds)
    if not (0 < lo < hi and np.isfinite(hi)):
        raise ValueError(f"bounds must satisfy 0 < lo < hi < inf, got {bounds!r}")
    if not (0.0 <= margin < 1.0):
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    refine = int(refine)
    if refine < 0:
        raise ValueError(f"refine must be >= 0, got {refine}")
    f = _feasible_fn(spectrum, _build2(delta), batch_size, tau, margin)
    ae, U = _bisect(f, np.concatenate([slice1, c2]), lo, hi, iters)
    ae1, U1, ae2, U2 = ae[: len(m1)], U[: len(m1)], ae[len(m1):], U[len(m1):]
    # local random refinement of memory 2 around the best point found so far (memory-1 slice
    # included), shrinking the steps each round
    rng = np.random.default_rng(seed)
    best_c = slice1[int(np.argmax(ae1))] if ae1.max() >= ae2.max() else c2[int(np.argmax(ae2))]
    best_a = max(ae1.max(), ae2.max())
    scale = np.array([0.3, 0.1, 0.3])
    extra_c, extra_a, extra_U = [], [], []
    for r in range(refine):
        cand = best_c + rng.normal(size=(samples, 3)) * scale * np.array([1, 1, abs(best_c[2]) + 0.05])
        cand[:, 0] = np.clip(cand[:, 0], -0.95, 0.95)
        a_r, U_r = _bisect(f, cand, lo, hi, iters)
        extra_c.append(cand); extra_a.append(a_r); extra_U.append(U_r)
        if a_r.max() > best_a:
            best_a, best_c = a_r.max(), cand[int(np.argmax(a_r))]
        scale = scale * 0.6
    if refine:
        c2 = np.concatenate([c2] + extra_c)
        ae2 = np.concatenate([ae2] + extra_a)
        U2 = np.concatenate([U2] + extra_U)
    i1, i2 = int(np.argmax(ae1)), int(np.argmax(ae2))
    alg1 = _build1(delta)(jnp.asarray(c1[i1]), ae1[i1])
    alg2 = _build2(delta)(jnp.asarray(c2[i2]), ae2[i2])
    P1, Q1 = (np.asarray(x) for x in characteristic_polynomials(alg1))
    P2, Q2 = (np.asarray(x) for x in characteristic_polynomials(alg2))
    best1 = dict(q0=float(c1[i1, 0]), alpha_eff=float(ae1[i1]), U=float(U1[i1]))
    r, q0b, q1b = (float(x) for x in c2[i2])
    best2 = dict(r2=r, q0=q0b, q1=q1b, q2=float(Q2[2]), alpha_eff=float(ae2[i2]), U=float(U2[i2]))
    gain = best2["alpha_eff"] / best1["alpha_eff"] if best1["alpha_eff"] > 0 else np.inf
    return MemoryDesign(float(delta), float(margin), best1, best2, P1, Q1, P2, Q2, float(gain),
                        np.column_stack([c1, ae1]), np.column_stack([c2, ae2]))
