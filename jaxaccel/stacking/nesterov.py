"""Momentum choices and the explicit reference methods (GD and Nesterov's AGD) in function space.

Theory: ``docs/theory/depth_stacking.md`` §B2 (``beta*``, the convex schedules, stacking = AGD) and §C6.3
item 3 (reference baselines). The references work on any problem of this package
(:class:`~jaxaccel.stacking.Quadratic` on the ensemble parameters ``Theta``, or
:class:`~jaxaccel.stacking.ResidualProblem` on the end-to-end matrix ``F``):

.. math:: y_t = x_t + \\beta_t (x_t - x_{t-1}),\\qquad x_{t+1} = y_t - \\eta\\nabla\\mathcal L(y_t),
   \\qquad x_{-1} = x_0 ,

which is gradient descent for ``beta = 0`` and constant-momentum AGD ("scheme III") for
``beta = beta*``, ``eta = 1/L``.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Optional, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Scalar
from jaxaccel.stacking import _checks as C
from jaxaccel.stacking._scan import flag_divergence, warn_if_diverged
from jaxaccel.stacking.problems import Quadratic, ResidualProblem


def optimal_beta(kappa: Union[Scalar, Float[ArrayLike, "*batch"]]) -> Float[Array, "*batch"]:
    """``beta* = (sqrt(kappa) - 1) / (sqrt(kappa) + 1)`` (§B2), elementwise, traceable.

    Args:
        kappa: condition number(s) ``>= 1``, any shape.

    Returns:
        ``beta*`` of the shape of ``kappa``, in ``[0, 1)``.

    Example:
        >>> from jaxaccel.stacking import optimal_beta
        >>> round(float(optimal_beta(100.0)), 12)
        0.818181818182
    """
    k = V.as_float_array(kappa, "kappa")
    V.check_finite(k, "kappa")
    if V.is_concrete(k) and np.any(np.asarray(k) < 1):
        raise ValueError(f"kappa must be >= 1, got min {np.asarray(k).min()!r}")
    s = jnp.sqrt(k)
    return (s - 1.0) / (s + 1.0)


def problem_beta(problem: Union[Quadratic, ResidualProblem]) -> Float[Array, ""]:
    """``beta*`` of a problem from ``L`` and ``mu``: ``(sqrt L - sqrt mu)/(sqrt L + sqrt mu)`` (1 if ``mu = 0``).

    :func:`optimal_beta` of ``kappa = L / mu`` (§B2), also defined for ``mu = 0``.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import Quadratic
        >>> from jaxaccel.stacking.nesterov import problem_beta
        >>> q = Quadratic(np.diag([1.0, 0.01]), np.zeros(2), np.ones(2), 1.0, 0.01)   # kappa = 100
        >>> round(float(problem_beta(q)), 12)
        0.818181818182
    """
    a, b = jnp.sqrt(problem.smoothness), jnp.sqrt(problem.strong_convexity)
    return (a - b) / (a + b)


def nesterov_beta_schedule(stages: int, kind: str = "t") -> Float[Array, "T"]:
    """Momentum schedule for smooth, not strongly convex problems (§B2); entry ``t`` is used when
    building stage ``t + 1`` from ``x_t`` and ``x_{t-1}``.

    * ``kind="t"``: ``beta_t = max(t - 1, 0) / (t + 2)``;
    * ``kind="lambda"``: ``beta_t = (lambda_t - 1) / lambda_{t+1}`` with ``lambda_0 = 1`` and
      ``lambda_{t+1} = (1 + sqrt(1 + 4 lambda_t^2)) / 2``.

    Args:
        stages: number of stages ``T``.
        kind: ``"t"`` or ``"lambda"``.

    Returns:
        ``(stages,)`` float array in ``[0, 1)``.

    Example:
        >>> from jaxaccel.stacking import nesterov_beta_schedule
        >>> [round(float(b), 4) for b in nesterov_beta_schedule(4)]
        [0.0, 0.0, 0.25, 0.4]
    """
    stages = V.check_positive_int(stages, "stages")
    C.check_choice(kind, "kind", ("t", "lambda"))
    t = np.arange(stages, dtype=np.float64)
    if kind == "t":
        b = np.maximum(t - 1.0, 0.0) / (t + 2.0)
    else:
        lam = np.empty(stages + 1)
        lam[0] = 1.0
        for i in range(stages):
            lam[i + 1] = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * lam[i] ** 2))
        b = (lam[:-1] - 1.0) / lam[1:]
    return jnp.asarray(b)


class IterateResult(NamedTuple):
    """Output of :func:`nesterov_agd` / :func:`gradient_descent`.

    Attributes:
        gaps: ``(T + 1,)`` ``L(x_t) - L*`` for ``t = 0..T`` (``+inf`` after divergence).
        final: ``x_T``.
        iterates: ``(T + 1, ...)`` ``x_t`` when ``record_iterates=True``, else ``None``.
        diverged: bool scalar.
        diverged_at: int scalar, first flagged stage (``-1`` if none).
    """

    gaps: jax.Array
    final: jax.Array
    iterates: Optional[jax.Array]
    diverged: jax.Array
    diverged_at: jax.Array


@partial(jax.jit, static_argnames=("record",))
def _agd_kernel(problem, betas, eta, threshold, record):
    x0 = problem.start

    def body(carry, beta):
        x, xp = carry
        y = x + beta * (x - xp)
        xn = y - eta * problem.grad(y)
        return (xn, x), ((problem.gap(xn), xn) if record else problem.gap(xn))

    (xT, _), out = jax.lax.scan(body, (x0, x0), betas)
    g, traj = out if record else (out, None)
    gaps = jnp.concatenate([problem.gap(x0)[None], g])
    if record:
        traj = jnp.concatenate([x0[None], traj])
    gaps, div, at = flag_divergence(gaps, threshold)
    return IterateResult(gaps, xT, traj, div, at)


def check_problem(problem: Union[Quadratic, ResidualProblem]) -> Union[Quadratic, ResidualProblem]:
    """Validate a :class:`Quadratic` or :class:`ResidualProblem` at the boundary (shapes, finiteness).

    Raises ``ValueError`` naming the offending field (theory §C6.1); returns ``problem``.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import ResidualProblem
        >>> from jaxaccel.stacking.nesterov import check_problem
        >>> p = ResidualProblem(np.eye(2), 2 * np.eye(2), 1.0, 1.0)
        >>> check_problem(p) is p
        True
        >>> check_problem(p._replace(target=np.eye(3)))
        Traceback (most recent call last):
            ...
        ValueError: problem.covariance and problem.target must be square of the same shape, got (2, 2) and (3, 3)
    """
    if isinstance(problem, Quadratic):
        h = C.finite_array(problem.hessian, "problem.hessian", 2)
        if h.shape[0] != h.shape[1]:
            raise ValueError(f"problem.hessian must be square, got shape {h.shape}")
        m = C.finite_array(problem.minimizer, "problem.minimizer", (1, 2))
        if m.shape[0] != h.shape[0]:
            raise ValueError(f"problem.minimizer must have {h.shape[0]} rows to match "
                             f"problem.hessian {h.shape}, got shape {m.shape}")
        s = C.finite_array(problem.start, "problem.start", (1, 2))
        if s.shape != m.shape:
            raise ValueError(f"problem.start must have shape {m.shape} like problem.minimizer, "
                             f"got {s.shape}")
    elif isinstance(problem, ResidualProblem):
        cov = C.finite_array(problem.covariance, "problem.covariance", 2)
        tgt = C.finite_array(problem.target, "problem.target", 2)
        if cov.shape[0] != cov.shape[1] or tgt.shape != cov.shape:
            raise ValueError(f"problem.covariance and problem.target must be square of the same "
                             f"shape, got {cov.shape} and {tgt.shape}")
    else:
        raise ValueError(f"problem must be a Quadratic or a ResidualProblem, got {type(problem).__name__}")
    C.scalar(problem.smoothness, "problem.smoothness", positive=True)
    C.scalar(problem.strong_convexity, "problem.strong_convexity", nonneg=True)
    return problem


def step_size(eta: Optional[Scalar], problem: Union[Quadratic, ResidualProblem]
              ) -> Float[Array, ""]:
    """``eta`` validated (``> 0``), default ``1 / L`` (the step of §B1.4).

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import Quadratic
        >>> from jaxaccel.stacking.nesterov import step_size
        >>> q = Quadratic(np.diag([2.0, 0.5]), np.zeros(2), np.ones(2), 2.0, 0.5)
        >>> float(step_size(None, q)), float(step_size(0.25, q))   # default 1 / L
        (0.5, 0.25)
    """
    if eta is None:
        return 1.0 / jnp.asarray(problem.smoothness)
    return C.scalar(eta, "eta", positive=True)


def nesterov_agd(problem: Union[Quadratic, ResidualProblem], stages: int, *,
                 beta: Union[None, Scalar, Float[ArrayLike, "T"]] = None,
                 eta: Optional[Scalar] = None,
                 allow_any_beta: bool = False, record_iterates: bool = False,
                 divergence_threshold: float = 1e6) -> IterateResult:
    """Explicit Nesterov AGD iterates (the reference stacking must reproduce, §B2).

    .. math:: y_t = x_t + \\beta_t(x_t - x_{t-1}),\\quad x_{t+1} = y_t - \\eta\\nabla\\mathcal L(y_t)

    Args:
        problem: a :class:`Quadratic` (``x = Theta``) or :class:`ResidualProblem` (``x = F``,
            ``x_0 = I``).
        stages: number of iterations ``T``.
        beta: ``()`` or ``(T,)`` momentum in ``[0, 1]``; default ``beta*`` of the problem.
        eta: ``() > 0`` step; default ``1 / L``.
        allow_any_beta: accept ``beta`` outside ``[0, 1]``.
        record_iterates: also return every ``x_t``.
        divergence_threshold: flag a gap that is non-finite or above this multiple of ``gap_0``.

    Returns:
        :class:`IterateResult`.

    Example:
        >>> import jax
        >>> from jaxaccel.stacking import quadratic_problem, nesterov_agd, gradient_descent
        >>> q = quadratic_problem(100.0, 8, jax.random.PRNGKey(0))
        >>> bool(nesterov_agd(q, 200).gaps[-1] < gradient_descent(q, 200).gaps[-1])
        True
    """
    check_problem(problem)
    stages = V.check_positive_int(stages, "stages")
    eta = step_size(eta, problem)
    betas = C.beta_schedule(problem_beta(problem) if beta is None else beta, stages, allow_any_beta)
    thr = C.divergence_threshold(divergence_threshold)
    res = _agd_kernel(problem, betas, eta, thr, bool(record_iterates))
    warn_if_diverged("nesterov_agd", res.diverged, res.diverged_at)
    return res


def gradient_descent(problem: Union[Quadratic, ResidualProblem], stages: int, *,
                     eta: Optional[Scalar] = None, record_iterates: bool = False,
                     divergence_threshold: float = 1e6) -> IterateResult:
    """Plain gradient descent ``x_{t+1} = x_t - eta grad L(x_t)`` (:func:`nesterov_agd` with ``beta = 0``).

    The zero-init / functional-GD reference of §B2 and §C6.3 item 3.

    Args:
        problem: a :class:`Quadratic` or :class:`ResidualProblem`.
        stages: number of iterations ``T``.
        eta: ``() > 0`` step; default ``1 / L``.
        record_iterates: also return every ``x_t``.
        divergence_threshold: flag a gap that is non-finite or above this multiple of ``gap_0``.

    Returns:
        :class:`IterateResult`.

    Example:
        >>> import jax
        >>> from jaxaccel.stacking import quadratic_problem, gradient_descent
        >>> q = quadratic_problem(10.0, 4, jax.random.PRNGKey(0))
        >>> bool(gradient_descent(q, 50).gaps[-1] < 1e-2)
        True
    """
    return nesterov_agd(problem, stages, beta=0.0, eta=eta, record_iterates=record_iterates,
                        divergence_threshold=divergence_threshold)
