"""Schedule search under a compute budget: free-form schedules optimised through the engine.

Theory: ``docs/theory/sgd_memory.md`` §15. A schedule of the learning rate, the momentum and
the batch size is piecewise linear in ``log(1+t)`` between ``K`` knots (``K`` free values per
schedule). With a compute budget ``B`` the batch sizes are

.. math::  b_t = B\\,\\frac{e^{s(t)}}{\\sum_{s<T} e^{s(s)}},

so ``sum_t b_t = B`` holds exactly for every parameter value (the constraint is built in, not
penalised). The objective is the log of the exact SE loss at the horizon (Algorithm A, theory
§3.4) plus a stability penalty on the running noise sum of theory §7.2/§8.3,

.. math::  J = \\log L_T + \\rho \\sum_j \\max\\big(0,\\ U_\\Sigma(t_j) - (1-m)\\big)^2,

at log-spaced check steps ``t_j`` (``m`` the noisy stability margin). ``jax.grad`` flows through
:func:`jaxaccel.simulate` and :func:`jaxaccel.running_noise_sum`; Adam steps that make the run
diverge are rejected and the step size halved.

Families (the knot values are unconstrained reals):

* ``"am1_form"`` -- decoupled momentum (250): ``log alpha_eff``, ``log delta`` (``beta = 1 -
  delta``) and ``log eta'`` (the kick; ``eta = delta (alpha_eff - eta')``); its default start is
  the AM1 schedule of theory §7.2, which this parametrisation represents exactly (power laws are
  linear in ``log(1+t)``);
* ``"heavy_ball"`` -- ``log alpha`` and ``logit beta``.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Tuple

import numpy as np
import jax
import jax.numpy as jnp
import optax

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.algorithms.presets import am1_form, heavy_ball
from jaxaccel.moments.simulate import simulate
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum
from jaxaccel.theory.monitors import running_noise_sum

__all__ = ["FAMILIES", "ScheduleSearch", "schedule_knots", "schedule_from_knots",
           "schedule_objective", "optimize_schedule", "am1_knots"]

#: the schedule families and their knot parameters
FAMILIES = {"am1_form": ("log_alpha_eff", "log_delta", "log_kick"),
            "heavy_ball": ("log_alpha", "logit_beta")}


class ScheduleSearch(NamedTuple):
    """Result of :func:`optimize_schedule`.

    Attributes:
        family: the family name.
        params: ``{name: (K,)}`` the optimal knot values (and ``"log_batch"`` with a budget).
        knots: ``(K,)`` knot positions in ``log(1+t)``.
        algorithm: the optimal schedule as a :class:`MemoryAlgorithm` of ``horizon`` steps.
        batch_size: ``(T,)`` per-step batch sizes (a constant array without a budget).
        loss: the SE loss ``L_T`` at the horizon.
        objective: the objective ``J`` at the optimum.
        penalty: the stability penalty at the optimum.
        U_max: the largest running ``U_Sigma`` at the check steps.
        budget_used: ``sum_t b_t`` (``= budget`` to rounding).
        history: ``(iters + 1,)`` the objective after each Adam step (rejected steps repeat
            the previous value); the result is the best point of the history.
        rejected: the number of Adam steps rejected (divergence or non-finite gradient).
    """

    family: str
    params: Dict[str, np.ndarray]
    knots: np.ndarray
    algorithm: MemoryAlgorithm
    batch_size: jax.Array
    loss: float
    objective: float
    penalty: float
    U_max: float
    budget_used: float
    history: np.ndarray
    rejected: int


def schedule_knots(horizon: int, n_knots: int) -> np.ndarray:
    """``(K,)`` knot positions equally spaced in ``log(1+t)`` over ``[0, log(1+horizon)]``.

    Example:
        >>> [round(float(x), 6) for x in schedule_knots(99, 3)]
        [0.0, 2.302585, 4.60517]
    """
    horizon = V.check_positive_int(horizon, "horizon")
    n_knots = V.check_positive_int(n_knots, "knots")
    if n_knots < 2:
        raise ValueError(f"knots must be >= 2, got {n_knots}")
    return np.linspace(0.0, np.log1p(horizon), n_knots)


def _interp(knots, values, logt):
    return jnp.interp(logt, jnp.asarray(knots), values)


def schedule_from_knots(params: Dict[str, jax.Array], family: str, horizon: int,
                        knots: Float[ArrayLike, "K"], *, budget: Optional[float] = None,
                        batch_size: Optional[float] = None
                        ) -> Tuple[MemoryAlgorithm, jax.Array]:
    """The schedule (``MemoryAlgorithm`` of ``horizon`` steps) and ``(T,)`` batch sizes of knot
    values ``params`` (theory §15).

    Example:
        >>> import jaxaccel as ja, jax.numpy as jnp
        >>> k = ja.schedule_knots(9, 2)
        >>> p = {"log_alpha": jnp.log(jnp.array([0.5, 0.5])), "logit_beta": jnp.zeros(2),
        ...      "log_batch": jnp.zeros(2)}
        >>> alg, b = ja.schedule_from_knots(p, "heavy_ball", 10, k, budget=50.0)
        >>> alg.num_steps, round(float(b.sum()), 12), float(alg.D[0, 0, 0])
        (10, 50.0, 0.5)
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    logt = jnp.log1p(jnp.arange(horizon, dtype=jnp.result_type(float)))
    f = {name: _interp(knots, params[name], logt) for name in FAMILIES[family]}
    if family == "am1_form":
        a_eff = jnp.exp(f["log_alpha_eff"])
        delta = jnp.exp(f["log_delta"])
        kick = jnp.exp(f["log_kick"])
        alg = am1_form(delta * (a_eff - kick), kick, 1.0 - delta)
    else:
        alg = heavy_ball(jnp.exp(f["log_alpha"]), jax.nn.sigmoid(f["logit_beta"]))
    if budget is not None:
        w = jax.nn.softmax(_interp(knots, params["log_batch"], logt))
        b = budget * w
    else:
        b = jnp.full((horizon,), batch_size, dtype=logt.dtype)
    return alg, b


def am1_knots(knots: Float[ArrayLike, "K"], delta0: float = 0.5, kappa: float = 0.9,
              alpha0: float = 1.0, theta: float = 0.4, eta_kick: float = 0.5
              ) -> Dict[str, jax.Array]:
    """Knot values of ``"am1_form"`` that reproduce the AM1 schedule of theory §7.2 exactly
    (``t0 = 1``): ``log alpha_eff = log alpha0 + theta log(1+t)``, ``log delta = log delta0 -
    kappa log(1+t)``, ``eta' = eta_kick``.

    Example:
        >>> import jaxaccel as ja, numpy as np
        >>> k = ja.schedule_knots(99, 4)
        >>> alg, _ = ja.schedule_from_knots(ja.am1_knots(k), "am1_form", 100, k, batch_size=10.0)
        >>> ref = ja.am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0, 100)
        >>> bool(np.allclose(alg.b, ref.b, rtol=1e-12, atol=0))
        True
    """
    k = jnp.asarray(knots)
    la = jnp.log(alpha0) + theta * k
    ld = jnp.log(delta0) - kappa * k
    return {"log_alpha_eff": la, "log_delta": ld, "log_kick": jnp.full(k.shape, jnp.log(eta_kick))}


def _check_steps(horizon, n=16):
    return np.unique(np.round(np.geomspace(1, horizon, n)).astype(int) - 1)


def schedule_objective(spectrum: Spectrum, family: str, horizon: int, *,
                       budget: Optional[float] = None, batch_size: Optional[float] = None,
                       tau: Optional[Tuple[float, float]] = None,
                       knots: Optional[Float[ArrayLike, "K"]] = None, margin: float = 0.05,
                       penalty: float = 100.0,
                       check_steps: Optional[ArrayLike] = None) -> Callable:
    """The objective ``J(params)`` of theory §15 (a pure, jit-able, differentiable function).

    ``J = log L_T + penalty * sum_j relu(U_Sigma(t_j) - (1 - margin))^2``; ``+inf`` when the run
    diverges or a check step is not strictly stable. ``penalty = 0`` leaves the monitor out
    (``U_max`` is then reported as NaN).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> k = ja.schedule_knots(50, 3)
        >>> J = ja.schedule_objective(s, "am1_form", 50, batch_size=10.0, knots=k, penalty=0.0)
        >>> bool(J(ja.am1_knots(k)) < 0)
        True
    """
    check_spectrum(spectrum)
    horizon = V.check_positive_int(horizon, "horizon")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    if budget is None and batch_size is None:
        raise ValueError("budget or batch_size must be given")
    if budget is not None:
        V.check_real_number(budget, "budget")
        if not (np.isfinite(budget) and budget > 0):
            raise ValueError(f"budget must be a positive number (sum of batch sizes), got {budget!r}")
    if batch_size is not None and budget is None:
        V.check_real_number(batch_size, "batch_size")
        if not batch_size > 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size!r}")
    if not (0.0 <= margin < 1.0):
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    if not penalty >= 0:
        raise ValueError(f"penalty must be >= 0, got {penalty!r}")
    knots = schedule_knots(horizon, 8) if knots is None else np.asarray(knots, float)
    chk = _check_steps(horizon) if check_steps is None else np.asarray(check_steps)
    tau = (1.0, -1.0) if tau is None else tau

    def J(params):
        return J_aux(params)[0]

    def J_aux(params):
        alg, b = schedule_from_knots(params, family, horizon, knots, budget=budget,
                                     batch_size=batch_size)
        r = simulate(spectrum, alg, horizon, batch_size=b, tau=tau, record=np.array([horizon]),
                     kernel="xla", unroll=1)
        logL = jnp.log(r.loss[-1])
        logL = jnp.where(r.diverged, jnp.inf, logL)
        if penalty == 0:  # no monitor at all (cheaper to compile)
            return logL, (logL, jnp.zeros_like(logL), jnp.full_like(logL, jnp.nan))
        mon = running_noise_sum(spectrum, alg, b, tau, steps=chk, method="general")
        U = jnp.where(mon.stable, mon.U_tilde, jnp.inf)
        pen = penalty * jnp.sum(jnp.maximum(U - (1.0 - margin), 0.0) ** 2)
        return logL + pen, (logL, pen, jnp.max(U))

    J.with_parts = J_aux  # (J, (log L_T, penalty, max U~)) for the optimiser
    return J


def optimize_schedule(spectrum: Spectrum, family: str = "am1_form", horizon: int = 10_000, *,
                      budget: Optional[float] = None, batch_size: Optional[float] = None,
                      tau: Optional[Tuple[float, float]] = None, knots: int = 8, iters: int = 40, lr: float = 0.05,
                      margin: float = 0.05, penalty: float = 100.0,
                      init: Optional[Dict[str, ArrayLike]] = None) -> ScheduleSearch:
    """Optimise a free-form schedule by gradient through the engine (theory §15).

    Args:
        spectrum: the problem.
        family: ``"am1_form"`` (default) or ``"heavy_ball"`` (:data:`FAMILIES`).
        horizon: ``T`` steps; the objective is ``log L_T`` (+ penalty).
        budget: compute budget ``sum_t b_t`` (then the batch-size schedule is optimised too and
            the budget holds exactly); ``None``: constant ``batch_size``.
        batch_size: the constant batch size when ``budget`` is ``None``; with a budget, the
            start is the constant schedule ``b_t = budget / T``.
        tau: SE noise model ``(tau1, tau2)`` (default ``(1, -1)``).
        knots: number of knots ``K`` per schedule.
        iters: Adam steps.
        lr: Adam step size (halved after each rejected step).
        margin, penalty: the stability penalty (see :func:`schedule_objective`).
        init: start knot values (default: AM1 of theory §7.2 for ``"am1_form"``, HB with
            ``alpha = 0.5, beta = 0.5`` for ``"heavy_ball"``; zeros for ``"log_batch"``).

    Returns:
        :class:`ScheduleSearch`.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
        >>> res = ja.optimize_schedule(s, "am1_form", 80, budget=800.0, knots=3, iters=0,
        ...                            penalty=0.0)      # iters=0: the start (AM1), evaluated
        >>> round(res.budget_used, 9), res.algorithm.num_steps, bool(res.loss < s.initial_loss)
        (800.0, 80, True)
    """
    iters = int(iters)
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be > 0, got {lr!r}")
    J = schedule_objective(spectrum, family, horizon, budget=budget, batch_size=batch_size,
                           tau=tau, knots=schedule_knots(horizon, knots), margin=margin,
                           penalty=penalty)
    kn = schedule_knots(horizon, knots)
    if init is None:
        if family == "am1_form":
            params = am1_knots(kn)
        else:
            params = {"log_alpha": jnp.full(knots, np.log(0.5)), "logit_beta": jnp.zeros(knots)}
    else:
        params = {k: jnp.asarray(v, jnp.result_type(float)) for k, v in init.items()}
    if budget is not None:
        params.setdefault("log_batch", jnp.zeros(knots))
    missing = set(FAMILIES[family]) - set(params)
    if missing:
        raise ValueError(f"init is missing the knot values {sorted(missing)}")
    for k, v in params.items():
        if v.shape != (knots,):
            raise ValueError(f"init[{k!r}] must have shape ({knots},), got {v.shape}")
    if iters == 0:  # evaluation only: no gradient program to compile
        f, aux = jax.jit(J.with_parts)(params)
        g = None
    else:
        vga = jax.jit(jax.value_and_grad(J.with_parts, has_aux=True))

        def vg(x):
            (val, aux_), grad = vga(x)
            return val, grad, aux_

        f, g, aux = vg(params)
    if not np.isfinite(float(f)):
        raise ValueError("the start schedule diverges or is not strictly stable: pass init=")
    opt = optax.adam(lr)
    state = opt.init(params)
    history, rejected, step = [float(f)], 0, lr
    best = (float(f), params, aux)  # the best accepted point is returned
    for _ in range(iters):
        upd, new_state = opt.update(g, state, params)
        cand = optax.apply_updates(params, upd)
        fc, gc, auxc = vg(cand)
        ok = np.isfinite(float(fc)) and all(bool(jnp.all(jnp.isfinite(x)))
                                             for x in jax.tree_util.tree_leaves(gc))
        if ok and float(fc) <= history[-1] + 1.0:
            params, state, f, g, aux = cand, new_state, fc, gc, auxc
            if float(f) < best[0]:
                best = (float(f), params, aux)
        else:
            rejected += 1
            step *= 0.5
            opt = optax.adam(step)
            state = opt.init(params)
        history.append(float(f))
    f, params, aux = best
    alg, b = schedule_from_knots(params, family, horizon, kn, budget=budget,
                                 batch_size=batch_size)
    logL, pen, umax = (float(x) for x in aux)
    return ScheduleSearch(family, {k: np.asarray(v) for k, v in params.items()}, kn, alg, b,
                          float(np.exp(logL)), float(f), pen, umax, float(jnp.sum(b)),
                          np.asarray(history), rejected)

