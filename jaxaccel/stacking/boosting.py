"""Stagewise training of additive ensembles (boosting) with zero, random and stacking initialisation.

Theory: ``docs/theory/depth_stacking.md`` §B1.2–§B1.4, §B2, §B3. Stage ``t + 1`` adds a learner
``f_{t+1}(x) = theta_{t+1}^T phi(x)`` to the frozen ensemble ``F_t = Theta_t^T phi``, starting from

.. math:: \\theta^0_{t+1} = \\beta_t\\,\\theta_t + \\sigma_0\\,\\xi_{t+1},\\qquad \\xi_{t+1}\\sim\\mathcal N(0, I)

(zero init: ``beta = sigma0 = 0``; random init: ``beta = 0``; stacking: ``sigma0 = 0``,
``f^0_{t+1} = beta f_t``), and training it with early stopping, modelled either as

* ``inner="gd"``: ``K`` gradient steps ``theta <- theta - eta grad L(Theta_t + theta)``; with
  ``K = 1`` this is the linearised ``l2``-regularised stage of §B1.4 (boxed formula), or
* ``inner="prox"``: the exact ``l2``-regularised stage
  ``argmin_theta L(Theta_t + theta) + ||theta - theta^0||^2 / (2 eta)``, i.e. for the quadratic
  ``theta = theta^0 - eta (I + eta H)^{-1} grad L(Theta_t + theta^0)``.

With one gradient step per stage the three policies are exactly functional GD (zero), stochastic
functional GD on the smoothed loss (random) and Nesterov's AGD (stacking,
``y_t = F_t + beta (F_t - F_{t-1})``, ``F_{t+1} = y_t - eta grad L(y_t)``) -- §B2.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Scalar
from jaxaccel.stacking import _checks as C
from jaxaccel.stacking._scan import flag_divergence, warn_if_diverged
from jaxaccel.stacking.nesterov import check_problem, problem_beta, step_size
from jaxaccel.stacking.problems import Quadratic


class BoostingResult(NamedTuple):
    """Output of :func:`boost`.

    Attributes:
        gaps: ``(T + 1,)`` ``L(F_t) - L*`` for ``t = 0..T`` (``+inf`` after divergence).
        params: final ensemble parameters ``Theta_T`` (shape of ``problem.minimizer``).
        learner: parameters ``theta_T`` of the last stage's learner.
        trajectory: ``(T + 1, ...)`` ``Theta_t`` when ``record_params=True``, else ``None``.
        diverged: bool scalar.
        diverged_at: int scalar, first flagged stage (``-1`` if none).
    """

    gaps: jax.Array
    params: jax.Array
    learner: jax.Array
    trajectory: Optional[jax.Array]
    diverged: jax.Array
    diverged_at: jax.Array


@partial(jax.jit, static_argnames=("inner", "inner_steps", "random", "record"))
def _boost_kernel(problem, betas, sigma0, eta, key, threshold, inner, inner_steps, random, record):
    theta_start = problem.start
    p = problem.hessian.shape[0]
    if inner == "prox":
        precond = jnp.linalg.solve(jnp.eye(p, dtype=problem.hessian.dtype) + eta * problem.hessian,
                                   jnp.eye(p, dtype=problem.hessian.dtype))
    stages = betas.shape[0]
    keys = jax.random.split(key, stages) if random else jnp.zeros((stages,))

    def stage(carry, xs):
        ens, last = carry
        beta, k = xs
        th = beta * last
        if random:
            th = th + sigma0 * jax.random.normal(k, th.shape, th.dtype)
        if inner == "gd":
            th = jax.lax.fori_loop(0, inner_steps,
                                   lambda _, v: v - eta * problem.grad(ens + v), th)
        else:
            th = th - eta * (precond @ problem.grad(ens + th))
        ens = ens + th
        out = (problem.gap(ens), ens) if record else problem.gap(ens)
        return (ens, th), out

    (ens, last), out = jax.lax.scan(stage, (theta_start, jnp.zeros_like(theta_start)), (betas, keys))
    g, traj = out if record else (out, None)
    gaps = jnp.concatenate([problem.gap(theta_start)[None], g])
    if record:
        traj = jnp.concatenate([theta_start[None], traj])
    gaps, div, at = flag_divergence(gaps, threshold)
    return BoostingResult(gaps, ens, last, traj, div, at)


def boost(problem: Quadratic, stages: int, *, init: str = "stack",
          beta: Union[None, Scalar, Float[ArrayLike, "T"]] = None,
          sigma0: Optional[Scalar] = None, eta: Optional[Scalar] = None, inner: str = "gd",
          inner_steps: int = 1, key: Optional[Array] = None, allow_any_beta: bool = False,
          record_params: bool = False, divergence_threshold: float = 1e6) -> BoostingResult:
    """Stagewise (boosting) training of an additive ensemble of linear-in-feature learners (§B1–§B2).

    .. math:: \\theta^0_{t+1} = \\beta_t\\theta_t + \\sigma_0\\xi_{t+1},\\qquad
       \\Theta_{t+1} = \\Theta_t + \\theta_{t+1}

    One jitted ``lax.scan`` over stages; ``beta``, ``sigma0``, ``eta``, ``key`` and the problem's
    arrays may be traced, so the function can be ``vmap``-ped over them.

    Args:
        problem: :class:`~jaxaccel.stacking.Quadratic` (``H`` ``(p, p)``, ``Theta*`` ``(p,)`` or
            ``(p, c)``).
        stages: number of stages ``T``.
        init: ``"zero"`` (``f^0 = 0``), ``"random"`` (``f^0 = sigma0 xi``) or ``"stack"``
            (``f^0_{t+1} = beta f_t``).
        beta: ``()`` or ``(T,)`` stacking scale in ``[0, 1]`` (``init="stack"`` only); default
            ``beta* = (sqrt(kappa) - 1)/(sqrt(kappa) + 1)`` of the problem.
        sigma0: ``() > 0`` random-init standard deviation (``init="random"`` only).
        eta: ``() > 0`` step (``K`` GD steps) or regularisation ``1/(2 eta)`` (prox); default ``1/L``.
        inner: ``"gd"`` or ``"prox"``.
        inner_steps: ``K`` GD steps per stage (``inner="gd"``).
        key: PRNG key (``init="random"``).
        allow_any_beta: accept ``beta`` outside ``[0, 1]``.
        record_params: also return ``Theta_t`` for every stage.
        divergence_threshold: flag a gap that is non-finite or above this multiple of ``gap_0``.

    Returns:
        :class:`BoostingResult`.

    Example:
        >>> import jax
        >>> from jaxaccel.stacking import boost, quadratic_problem
        >>> q = quadratic_problem(1000.0, 10, jax.random.PRNGKey(0))
        >>> fgd, stack = boost(q, 300, init="zero"), boost(q, 300, init="stack")
        >>> bool(stack.gaps[-1] < 1e-3 * fgd.gaps[-1]), bool(stack.diverged)
        (True, False)
    """
    if not isinstance(problem, Quadratic):
        raise ValueError(f"problem must be a Quadratic, got {type(problem).__name__}")
    check_problem(problem)
    stages = V.check_positive_int(stages, "stages")
    C.check_init(init, ("zero", "random", "stack"))
    C.check_choice(inner, "inner", ("gd", "prox"))
    inner_steps = V.check_positive_int(inner_steps, "inner_steps")
    if inner == "prox" and inner_steps != 1:
        raise ValueError("inner_steps must be 1 with inner='prox' (the stage is solved exactly)")
    eta = step_size(eta, problem)
    betas, sigma0 = C.init_hyperparameters(init, beta, sigma0, key, stages, allow_any_beta,
                                           problem_beta(problem))
    thr = C.divergence_threshold(divergence_threshold)
    random = init == "random"
    res = _boost_kernel(problem, betas, sigma0, eta, key if random else jax.random.PRNGKey(0),
                        thr, inner, inner_steps, random, bool(record_params))
    warn_if_diverged("boost", res.diverged, res.diverged_at)
    return res
