"""Stability maps: margin, radius, noise sums and the loss constant on parameter grids.

Theory: ``docs/theory/sgd_memory.md`` §5-§6. :func:`stability_map` evaluates, on a grid of the
parameters of an algorithm family, the strict stability margin and radius (:mod:`.stability`),
the noise sums ``U_Sigma``, ``U~_Sigma`` (:mod:`jaxaccel.propagators.sums`), ``alpha_eff`` and
the predicted loss constant ``C_L`` (:func:`jaxaccel.theory.asymptotics.loss_constant`):
``vmap`` inside chunks, ``lax.map`` over chunks, under a memory budget.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.algorithms.memory1_forms import triplet_from_effective
from jaxaccel.algorithms.polynomials import memory2
from jaxaccel.algorithms.presets import am1_form, gd, heavy_ball, memory1_triplet, nesterov
from jaxaccel.moments.grid import simulate_grid, validate_grid
from jaxaccel.noise import NoiseModel, as_noise_model
from jaxaccel.progress import MIN_SECONDS, Progress, in_parts, predicted_seconds
from jaxaccel.propagators.sums import memory1_sums, propagator_sums
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum
from jaxaccel.theory.asymptotics import loss_constant, power_law_phase
from jaxaccel.theory.stability import strict_core


# ============================================================================ stability maps
class StabilityMap(NamedTuple):
    """Stability quantities on a parameter grid; every array has shape ``grid_shape``.

    Attributes:
        family: name of the family (``"callable"`` for a user function).
        axes: ordered ``{name: values}``; array axis ``i`` runs over the ``i``-th entry.
        fixed: parameters held fixed (scalars).
        margin: :attr:`StrictStability.margin` (``> 0``: strictly stable on ``(0, lambda_max]``).
        radius: :attr:`StrictStability.radius` (max over the spectrum's hull).
        U, U_tilde: noise sums ``U_Sigma``, ``U~_Sigma`` (``+inf`` where unstable on a node).
        alpha_eff: effective learning rate (22).
        C_L: predicted loss constant (:func:`~jaxaccel.predict_loss`, eqs. (181)/(182)),
            ``+inf`` where not stable.
        stable: bool, strictly and noisily stable.
        strictly_stable: bool, ``margin > 0``.
        loss_exponent: exponent of ``C_L``'s phase (``L_t ~ C_L t^-loss_exponent``).
        phase: ``"signal"``, ``"noise"``, ``"boundary"`` or ``"unknown"``.
    """

    family: str
    axes: Dict[str, np.ndarray]
    fixed: Dict[str, float]
    margin: jax.Array
    radius: jax.Array
    U: jax.Array
    U_tilde: jax.Array
    alpha_eff: jax.Array
    C_L: jax.Array
    stable: jax.Array
    strictly_stable: jax.Array
    loss_exponent: float
    phase: str


_NOISE_AXES = ("batch_size", "tau1", "tau2")
_PAD_MIN, _PAD_MAX = 16, 256  # grids of <= _PAD_MAX points are padded to a power of two
_MEMORY1_NAMES = ("delta", "q0", "q1", "alpha_eff")
# memory 2 (theory §16): the memory polynomial mu^2 - s mu + p from (s, p) or from its roots
# (r1, r2), the numerator Q = q0 + q1 mu + q2 mu^2 from three of (q0, q1, q2, alpha_eff)
_MEMORY2_NAMES = ("s", "p", "r1", "r2", "q0", "q1", "q2", "alpha_eff")


def _memory2_params(p):
    """``(s, p, q0, q1, q2)`` of the ``"memory2"`` family from its given coordinates."""
    if "r1" in p:
        s_, p_ = p["r1"] + p["r2"], p["r1"] * p["r2"]
    else:
        s_, p_ = p["s"], p["p"]
    q = {k: p[k] for k in ("q0", "q1", "q2") if k in p}
    if "alpha_eff" in p:  # alpha_eff = -Q(1) / P'(1), P'(1) = 1 - s + p
        (missing,) = {"q0", "q1", "q2"} - set(q)
        q[missing] = -p["alpha_eff"] * (1.0 - s_ + p_) - sum(q.values())
    return s_, p_, q["q0"], q["q1"], q["q2"]


def _memory1_params(p):
    """``(delta, q0, q1)`` from exactly three of ``delta, q0, q1, alpha_eff``."""
    if "alpha_eff" not in p:
        return p["delta"], p["q0"], p["q1"]
    if "delta" not in p:  # delta = -(q0 + q1) / alpha_eff
        return -(p["q0"] + p["q1"]) / p["alpha_eff"], p["q0"], p["q1"]
    if "q1" not in p:
        return tuple(triplet_from_effective(p["delta"], p["alpha_eff"], p["q0"]))
    # q0 = -q1 - delta alpha_eff
    return p["delta"], -p["q1"] - p["delta"] * p["alpha_eff"], p["q1"]


def _family(family):
    """``(name, allowed names, build(params) -> alg, sums(spectrum, params, alg, b, tau, tau2_zero))``."""
    def generic(spec, p, alg, b, t, t2zero):
        return propagator_sums(spec, alg, b, t)

    def mem1_sums(spec, d, q0, q1, alg, b, t, t2zero):
        if t2zero:
            return memory1_sums(spec, d, q0, q1, b, t[0])
        return propagator_sums(spec, alg, b, t)

    if callable(family) and not isinstance(family, str):
        try:
            sig = inspect.signature(family).parameters
        except (TypeError, ValueError):
            raise ValueError("family must be a named family or a function params -> MemoryAlgorithm")
        names = {k for k, v in sig.items() if v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)}
        required = {k for k in names if sig[k].default is inspect.Parameter.empty}

        def build(p):
            alg = family(**p)
            if not isinstance(alg, MemoryAlgorithm):
                raise ValueError("family must return a MemoryAlgorithm")
            return alg

        return "callable", names, required, build, generic
    if family == "gd":
        return ("gd", {"alpha"}, {"alpha"}, lambda p: gd(p["alpha"]), "hb")
    if family == "heavy_ball":
        return ("heavy_ball", {"alpha", "beta"}, {"alpha", "beta"},
                lambda p: heavy_ball(p["alpha"], p["beta"]), "hb")
    if family == "nesterov":
        return ("nesterov", {"alpha", "beta"}, {"alpha", "beta"},
                lambda p: nesterov(p["alpha"], p["beta"]), generic)
    if family == "memory1":
        return ("memory1", set(_MEMORY1_NAMES), None,
                lambda p: memory1_triplet(*_memory1_params(p)),
                lambda s, p, a, b, t, z: mem1_sums(s, *_memory1_params(p), a, b, t, z))
    if family == "memory2":
        return ("memory2", set(_MEMORY2_NAMES), None,
                lambda p: memory2(*_memory2_params(p)), generic)
    if family == "am1":
        def am1_sums(s, p, a, b, t, z):
            beta = p["beta"]
            return mem1_sums(s, 1.0 - beta, beta * p["eta_prime"], -(p["eta"] + p["eta_prime"]),
                             a, b, t, z)

        return ("am1", {"eta", "eta_prime", "beta"}, {"eta", "eta_prime", "beta"},
                lambda p: am1_form(p["eta"], p["eta_prime"], p["beta"]), am1_sums)
    raise ValueError(
        f"family must be 'gd', 'heavy_ball', 'nesterov', 'memory1', 'memory2', 'am1' or a function "
        f"params -> MemoryAlgorithm, got {family!r}"
    )


def _check_names(fname, allowed, required, given):
    unknown = sorted(set(given) - set(allowed) - set(_NOISE_AXES))
    if unknown:
        raise ValueError(
            f"grid/fixed parameter(s) {unknown} are not parameters of family {fname!r} "
            f"(parameters {sorted(allowed)}, or {list(_NOISE_AXES)})"
        )
    algo = set(given) - set(_NOISE_AXES)
    if fname == "memory1":
        if len(algo) != 3:
            raise ValueError(
                "grid/fixed must give exactly three of ('delta', 'q0', 'q1', 'alpha_eff') for "
                f"family 'memory1', got {sorted(algo)}"
            )
        return
    if fname == "memory2":
        pairs = [k for k in (("s", "p"), ("r1", "r2")) if set(k) <= algo]
        mem = algo & {"s", "p", "r1", "r2"}
        num = algo & {"q0", "q1", "q2", "alpha_eff"}
        if len(pairs) != 1 or len(mem) != 2 or len(num) != 3:
            raise ValueError(
                "grid/fixed must give (s, p) or (r1, r2) and exactly three of "
                f"('q0', 'q1', 'q2', 'alpha_eff') for family 'memory2', got {sorted(algo)}"
            )
        return
    missing = sorted(set(required) - algo)
    if missing:
        raise ValueError(f"grid/fixed is missing parameter(s) {missing} of family {fname!r}")


def _chunk(n_points, n_nodes, memory, n_eval, budget):
    """Grid points per ``vmap`` chunk so that the per-point temporaries fit ``budget`` bytes."""
    P = (memory + 1) * (memory + 2) // 2
    per_node = 12 + 3 * P * P  # sums: closed forms ~12 arrays; the general solve ~P^2 each
    per_point = 8 * (per_node * n_nodes + 40 * n_eval)
    return int(max(1, min(n_points, budget // per_point)))


def _hb_grid_sums(lam, m, c2, alpha, beta, inv_b, tau1, tau2, *, need_V: bool, rows: int):
    """Heavy Ball sums (theory §5.3) for ``G`` grid points at once: ``(U, V)``, each ``(G,)``.

    The map's fast path (no per-node stability test: :func:`_strict_core` already decides
    strict stability of ``S`` and ``A`` on the whole interval, which contains every node).
    With ``d_k = 2(1 - beta^2) - alpha lambda_k (1 - beta) + (tau2/b) alpha lambda_k (1 + beta)
    = c0 - c1 lambda_k``:

    .. math::  U_\\Sigma = \\frac{\\tau_1}{b}\\alpha(1+\\beta)\\sum_k \\frac{m_k\\lambda_k}{d_k},
               \\qquad V_\\Sigma = \\sum_k c_k^2\\,\\frac{2\\beta\\alpha\\lambda_k
               + (1-\\beta)(1-\\beta^2)}{\\alpha\\, d_k}.

    Layout: ``lax.map`` over the grid points, ``rows`` at a time; each point reduces along the
    contiguous node axis (a ``(rows, N)`` fused reduction, ``rows x N`` bounded by the
    memory budget). Equal to :func:`jaxaccel.propagators.heavy_ball_sums` on strictly stable
    points (tested).
    """
    c0 = 2.0 * (1.0 - beta * beta)
    c1 = alpha * ((1.0 - beta) - tau2 * inv_b * (1.0 + beta))
    e0 = (1.0 - beta) * (1.0 - beta * beta)
    e1 = 2.0 * beta * alpha
    ml = m * lam

    def one(x):
        c0_, c1_, e0_, e1_ = x
        r = 1.0 / (c0_ - c1_ * lam)
        u = jnp.sum(ml * r)
        v = jnp.sum(c2 * (e1_ * lam + e0_) * r) if need_V else jnp.zeros_like(u)
        return u, v

    u, v = jax.lax.map(one, (c0, c1, e0, e1), batch_size=rows)
    return tau1 * inv_b * alpha * (1.0 + beta) * u, v / alpha


@functools.lru_cache(maxsize=32)
def _map_program(family, names, fixed_names, with_A, t2_zero, n_log, n_lin, refine, chunk,
                 rows, pl):
    """The jitted map program for one static configuration (cached: no recompilation when only
    values change)."""
    _, _, _, build, sums_fn = _family(family)
    need_V = power_law_phase(pl)[0] == "noise"

    def params(fixed_vals, b0, tau0, vals):
        p = dict(zip(fixed_names, fixed_vals))
        p.update(dict(zip(names, vals)))
        b = p.pop("batch_size", b0 + 0.0 * vals[0])
        t1 = p.pop("tau1", tau0[0] + 0.0 * vals[0])
        t2 = p.pop("tau2", tau0[1] + 0.0 * vals[0])
        return p, b, t1, t2

    def point(spec, fixed_vals, b0, tau0, vals):
        p, b, t1, t2 = params(fixed_vals, b0, tau0, vals)
        alg = build(p)
        lam_lo, lam_max = jnp.min(spec.eigenvalues), jnp.max(spec.eigenvalues)
        strict = strict_core(alg, lam_lo, lam_max, t2 / b, with_A=with_A, n_log=n_log,
                              n_lin=n_lin, refine=refine)
        if sums_fn == "hb":
            return strict
        sums = sums_fn(spec, p, alg, b, (t1, t2), t2_zero)
        return strict, sums

    def finish(strict, U, Ut, V, Vt, node_ok, b, t1):
        ok = strict.stable & node_ok & (Ut < 1.0) & jnp.isfinite(U)
        C = loss_constant(pl, strict.alpha_eff, U, Ut, Vt, t1 / b)
        return (strict.margin, strict.radius, U, Ut, strict.alpha_eff, jnp.where(ok, C, jnp.inf),
                ok, strict.stable)

    @jax.jit
    def run(spec, fixed_vals, b0, tau0, cols):
        out = jax.lax.map(lambda v: point(spec, fixed_vals, b0, tau0, v), cols, batch_size=chunk)
        p, b, t1, t2 = params(fixed_vals, b0, tau0, cols)
        if sums_fn == "hb":
            strict = out
            alpha = p["alpha"]
            beta = p.get("beta", jnp.zeros_like(alpha))
            U, V = _hb_grid_sums(spec.eigenvalues, spec.weights, spec.c2, alpha, beta, 1.0 / b,
                                 t1, t2, need_V=need_V, rows=rows)
            U = jnp.where(strict.stable, U, jnp.inf)
            V = jnp.where(strict.stable, V, jnp.inf) if need_V else jnp.full_like(U, jnp.nan)
            return finish(strict, U, U, V, V, strict.stable, b, t1)
        strict, sums = out
        return finish(strict, sums.U, sums.U_tilde, sums.V, sums.V_tilde, sums.stable, b, t1)

    return run


def stability_map(
    spectrum: Spectrum,
    family: Union[str, Callable[..., MemoryAlgorithm]],
    grid: Dict[str, Float[ArrayLike, "n"]],
    batch_size: Union[Scalar, NoiseModel] = 1.0,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    *,
    fixed: Optional[Dict[str, float]] = None,
    memory_budget: float = 2**28,
    grid_size: int = 128,
    refine_steps: int = 30,
    progress: bool = False,
) -> StabilityMap:
    """Strict-stability margin, radius, ``U_Sigma``, ``alpha_eff`` and ``C_L`` on a parameter grid.

    For every point of the Cartesian product of the ``grid`` axes: :func:`strict_stability`
    on ``(0, lambda_max]`` (theory §5, §6.2), the noise sums of theory §5.3 (closed forms
    ``heavy_ball_sums`` for ``"gd"``/``"heavy_ball"`` with any ``tau``, eq. (25)
    ``memory1_sums`` for ``"memory1"``/``"am1"`` when ``tau2 = 0``, the general
    ``propagator_sums`` otherwise), and the loss constant ``C_L`` of :func:`predict_loss`
    (:func:`~jaxaccel.theory.asymptotics.loss_constant`; signal phase with ``a = 0``:
    :math:`Q\\Gamma(\\zeta+1)(2\\alpha_{\\rm eff})^{-\\zeta}/(2(1-U_\\Sigma))`).
    One jitted program: ``vmap`` inside chunks, ``lax.map`` over chunks, the chunk sized so
    that the ``chunk x N`` temporaries stay within ``memory_budget``.

    Args:
        spectrum: the problem (``N`` nodes, positive eigenvalues; power-law metadata for
            ``C_L``).
        family: ``"gd"`` (``alpha``), ``"heavy_ball"`` / ``"nesterov"`` (``alpha, beta``),
            ``"memory1"`` (exactly three of ``delta, q0, q1, alpha_eff``), ``"memory2"``
            (``s, p`` or ``r1, r2`` and three of ``q0, q1, q2, alpha_eff``, theory §16), ``"am1"``
            (``eta, eta_prime, beta``: form 250), or a function ``f(**params) ->
            MemoryAlgorithm`` built from ``jax.numpy`` operations.
        grid: ``{name: 1-D values}``, non-empty finite axes; the names ``batch_size``,
            ``tau1``, ``tau2`` sweep the noise model instead.
        batch_size: positive batch size (unless it is a grid axis), or a
            :class:`~jaxaccel.NoiseModel`.
        tau: ``(tau1, tau2)`` (unless they are grid axes); ``None`` means ``(1, -1)``.
        fixed: ``{name: scalar}`` parameters held fixed (not axes).
        memory_budget: bytes for the simultaneous temporaries of one chunk.
        grid_size, refine_steps: ``lambda`` grid and refinement of :func:`strict_stability`.
        progress: report progress on stderr (in ~10 parts of the grid) when the map is
            predicted to take more than 10 s (:mod:`jaxaccel.progress`).

    Returns:
        :class:`StabilityMap`.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> m = stability_map(s, "heavy_ball", {"alpha": [0.5, 5.0], "beta": [0.0, 0.9]},
        ...                   batch_size=10)
        >>> m.margin.shape, m.stable.tolist()
        ((2, 2), [[True, True], [False, False]])
    """
    check_spectrum(spectrum)
    lam = spectrum.eigenvalues
    V.check_finite(lam, "spectrum.eigenvalues")
    V.check_positive(lam, "spectrum.eigenvalues")
    fname, allowed, required, build, sums_fn = _family(family)
    axes = validate_grid(grid, set(allowed) | set(_NOISE_AXES))
    fixed = {} if fixed is None else dict(fixed)
    if not isinstance(fixed, dict):
        raise ValueError("fixed must be a dict {name: scalar}")
    for k, v in fixed.items():
        a = np.asarray(v, dtype=np.float64)
        if a.ndim != 0 or not np.isfinite(a):
            raise ValueError(f"fixed[{k!r}] must be a finite scalar, got {v!r}")
        if k in axes:
            raise ValueError(f"{k!r} is both a grid axis and a fixed parameter")
        fixed[k] = float(a)
    _check_names(fname, allowed, required or set(), list(axes) + list(fixed))
    sweeps_b = "batch_size" in axes or "batch_size" in fixed
    if sweeps_b and not isinstance(batch_size, NoiseModel):
        batch_size = None  # the grid or `fixed` gives it
    noise = as_noise_model(batch_size, tau, required=not sweeps_b)
    tau_arr = noise.tau()
    if not (np.isfinite(memory_budget) and memory_budget > 0):
        raise ValueError("memory_budget must be a positive number of bytes")
    n_log = V.check_positive_int(grid_size, "grid_size")
    refine = V.check_positive_int(refine_steps, "refine_steps")
    t2_val = fixed.get("tau2", float(tau_arr[1]))
    t2_zero = "tau2" not in axes and t2_val == 0.0
    with_A = not t2_zero
    names = list(axes)
    shape = tuple(v.size for v in axes.values())
    flat = [m.ravel() for m in np.meshgrid(*axes.values(), indexing="ij")]
    n_grid = flat[0].size
    # small grids are padded (repeating the first point) to a power of two, so that sweeps of
    # different small sizes share one compiled program; the padding is cut off below
    n_pts = n_grid if n_grid > _PAD_MAX else max(_PAD_MIN, 1 << (n_grid - 1).bit_length())
    dtype = spectrum.dtype
    probe = {k: jnp.asarray(v[0], dtype) for k, v in zip(names, flat) if k not in _NOISE_AXES}
    probe.update({k: jnp.asarray(v, dtype) for k, v in fixed.items() if k not in _NOISE_AXES})
    memory = build(probe).memory
    n_nodes = 0 if sums_fn == "hb" else spectrum.size  # HB sums: own row-chunked pass below
    chunk = _chunk(n_pts, n_nodes, memory, n_log * 3 // 2 + 2 * refine, memory_budget)
    # equal chunks (padding < one chunk): lax.map then has no remainder, which would be a
    # second copy of the per-point program
    n_chunks = -(-n_pts // chunk)
    chunk = -(-n_pts // n_chunks)
    n_pts = n_chunks * chunk
    flat = [np.pad(f, (0, n_pts - n_grid), mode="edge") for f in flat]
    pl = spectrum.power_law
    # HB sums: rows x N temporaries (a few arrays of 8 bytes) within the budget, equal batches
    rows = int(max(1, min(n_pts, memory_budget // (8 * 4 * spectrum.size))))
    rows = -(-n_pts // -(-n_pts // rows))
    run = _map_program(family, tuple(names), tuple(sorted(fixed)), with_A, t2_zero, n_log,
                       max(2, n_log // 2), refine, chunk, rows, pl)
    fixed_vals = tuple(jnp.asarray(fixed[k], dtype) for k in sorted(fixed))
    cols = tuple(jnp.asarray(f, dtype) for f in flat)
    b_model = 1.0 if noise.is_full_batch else noise.batch_size
    b0 = jnp.asarray(1.0 if "batch_size" in axes else fixed.get("batch_size", b_model), dtype)
    tau0 = tau_arr.astype(dtype)
    # a rough cost: every point evaluates ~n_log + refine spectra-sized sums
    if progress and predicted_seconds(n_pts * spectrum.size * (n_log + refine), False) > MIN_SECONDS:
        out = in_parts(lambda *part: run(spectrum, fixed_vals, b0, tau0, part), cols,
                       chunk * max(1, -(-n_chunks // 10)),  # ~10 parts of whole chunks
                       Progress("stability_map (grid points)", n_grid), lambda rows: rows)
    else:
        out = run(spectrum, fixed_vals, b0, tau0, cols)
    out = [x[:n_grid].reshape(shape) for x in out]
    phase, xi = power_law_phase(pl)
    return StabilityMap(fname, axes, fixed, *out, loss_exponent=xi, phase=phase)


class BestPoint(NamedTuple):
    """The best grid point of :func:`best_grid_point`.

    Attributes:
        params: ``{axis name: value}`` of the point.
        index: its index in the grid.
        loss: the simulated ``L_T`` there.
        losses: ``grid_shape`` simulated ``L_T`` (``+inf`` where excluded).
        stability: the :class:`StabilityMap` of the grid.
    """

    params: Dict[str, float]
    index: Tuple[int, ...]
    loss: float
    losses: np.ndarray
    stability: StabilityMap


def best_grid_point(spectrum: Spectrum, family: Callable[..., MemoryAlgorithm],
                    grid: Dict[str, Float[ArrayLike, "n"]], horizon: int,
                    batch_size: Union[Scalar, NoiseModel] = 1.0,
                    tau: Optional[Tuple[Scalar, Scalar]] = None, *, stable_only: bool = True,
                    memory_budget: float = 2**28) -> BestPoint:
    """The grid point with the smallest simulated loss ``L_T`` at ``horizon`` (by
    :func:`jaxaccel.simulate_grid`), among the points the stability map calls (strictly and
    noisily) stable when ``stable_only``; runs flagged as diverged are excluded. Works on any
    spectrum (also without power-law metadata, where the map's ``C_L`` cannot rank points).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(200, nu=2.0, zeta=0.5)
        >>> b = best_grid_point(s, ja.heavy_ball, {"alpha": [0.2, 1.0, 5.0], "beta": [0.0, 0.5]},
        ...                     100, batch_size=10.0)
        >>> b.params["alpha"] < 5.0, bool(b.loss < float(s.initial_loss))
        (True, True)
    """
    if not callable(family) or isinstance(family, str):
        raise ValueError("family must be a function params -> MemoryAlgorithm (e.g. ja.heavy_ball)")
    horizon = V.check_positive_int(horizon, "horizon")
    smap = stability_map(spectrum, family, grid, batch_size, tau, memory_budget=memory_budget)
    res = simulate_grid(spectrum, family, grid, horizon, batch_size, tau,
                        record=np.array([horizon]), memory_budget=memory_budget)
    final = np.asarray(res.loss)[..., -1]
    ok = np.isfinite(final) & ~np.asarray(res.diverged)
    if stable_only:
        ok &= np.asarray(smap.stable)
    losses = np.where(ok, final, np.inf)
    if not ok.any():
        raise ValueError("no grid point is stable and non-divergent: widen the grid"
                         + (" or pass stable_only=False" if stable_only else ""))
    idx = np.unravel_index(int(np.argmin(losses)), losses.shape)
    params = {name: float(vals[i]) for (name, vals), i in zip(res.axes.items(), idx)}
    return BestPoint(params, tuple(int(i) for i in idx), float(losses[idx]), losses, smap)
