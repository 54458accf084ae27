"""Deep linear residual networks trained stagewise, one new block per stage (§B4).

Theory: ``docs/theory/depth_stacking.md`` §B4.1–§B4.4 and the exact-Nesterov initialisation of §B2.
The network is ``F_T = (I + W_T) ... (I + W_1)`` with ``F_0 = I``; stage ``t + 1`` freezes
``F_t``, initialises the new block as

.. math:: W^0_{t+1} = \\beta_t W_t + \\sigma_0 Z \\quad(\\text{zero / random / stacking}),\\qquad
   W^0_{t+1} = \\beta_t (F_t - F_{t-1}) F_t^{-1} \\quad(\\text{exact Nesterov, §B2}),

and takes ``K`` gradient steps on ``W`` with ``Y = (I + W) F_t``:

* ``flavour="param"``: ``W <- W - eta grad L(Y) F_t^T`` (plain GD on the block's weights;
  end to end ``F_{t+1} = Y - eta grad L(Y) F_t^T F_t``);
* ``flavour="func"``: ``W <- W - eta grad L(Y) F_t^{-1}`` (the exact functional step;
  ``F_{t+1} = Y - eta grad L(Y)``).

Stacking is AGD with the perturbed momentum point ``Y_t = F_t + beta (F_t - F_{t-1}) + Delta_t``,
``Delta_t = beta W_t (F_t - F_{t-1})`` (§B4.2–§B4.3); the exact-Nesterov init removes ``Delta_t``.
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
from jaxaccel.stacking.problems import ResidualProblem


class ResidualResult(NamedTuple):
    """Output of :func:`train_residual`.

    Attributes:
        gaps: ``(T + 1,)`` ``L(F_t) - L*`` (``+inf`` after divergence).
        final: ``(d, d)`` end-to-end matrix ``F_T``.
        block_norm: ``(T,)`` ``||W_t||_2`` of each trained block.
        perturbation: ``(T,)`` ``||Delta_t||_F / ||F_t - F_{t-1}||_F`` with
            ``Delta_t = W^0_{t+1} F_t - beta_t (F_t - F_{t-1})`` (0 at the first stage).
        gram_deviation: ``(T,)`` ``||F_t^T F_t - I||_2`` after each stage.
        iterates: ``(T + 1, d, d)`` ``F_t`` when ``record_iterates=True``, else ``None``.
        blocks: ``(T, d, d)`` trained blocks ``W_t`` when ``record_iterates=True``, else ``None``.
        diverged: bool scalar.
        diverged_at: int scalar (``-1`` if none).
    """

    gaps: jax.Array
    final: jax.Array
    block_norm: jax.Array
    perturbation: jax.Array
    gram_deviation: jax.Array
    iterates: Optional[jax.Array]
    blocks: Optional[jax.Array]
    diverged: jax.Array
    diverged_at: jax.Array


def _right_solve(a, f):
    """``a F^{-1}`` via a linear solve (no explicit inverse)."""
    return jnp.linalg.solve(f.T, a.T).T


@partial(jax.jit, static_argnames=("exact", "random", "flavour", "inner_steps", "record"))
def _residual_kernel(problem, betas, sigma0, eta, key, threshold, exact, random, flavour,
                     inner_steps, record):
    eye = problem.start
    stages = betas.shape[0]
    keys = jax.random.split(key, stages) if random else jnp.zeros((stages,))

    def precondition(g, f):
        return g @ f.T if flavour == "param" else _right_solve(g, f)

    def stage(carry, xs):
        f, fprev, w = carry
        beta, k = xs
        diff = f - fprev
        if exact:
            w0 = beta * _right_solve(diff, f)
        else:
            w0 = beta * w
        if random:
            w0 = w0 + sigma0 * jax.random.normal(k, w0.shape, w0.dtype)
        delta = w0 @ f - beta * diff
        dn = jnp.linalg.norm(diff)
        ratio = jnp.where(dn > 0, jnp.linalg.norm(delta) / jnp.where(dn > 0, dn, 1.0), 0.0)
        wn = jax.lax.fori_loop(
            0, inner_steps, lambda _, v: v - eta * precondition(problem.grad(f + v @ f), f), w0)
        fn = f + wn @ f
        outs = (problem.gap(fn), jnp.linalg.norm(wn, 2), ratio,
                jnp.linalg.norm(fn.T @ fn - eye, 2))
        if record:
            outs = outs + (fn, wn)
        return (fn, f, wn), outs

    (fT, _, _), outs = jax.lax.scan(stage, (eye, eye, jnp.zeros_like(eye)), (betas, keys))
    g, wnorm, ratio, gram = outs[:4]
    gaps = jnp.concatenate([problem.gap(eye)[None], g])
    traj = blocks = None
    if record:
        traj = jnp.concatenate([eye[None], outs[4]])
        blocks = outs[5]
    gaps, div, at = flag_divergence(gaps, threshold)
    return ResidualResult(gaps, fT, wnorm, ratio, gram, traj, blocks, div, at)


def train_residual(problem: ResidualProblem, stages: int, *, init: str = "stack",
                   beta: Union[None, Scalar, Float[ArrayLike, "T"]] = None,
                   sigma0: Optional[Scalar] = None, eta: Optional[Scalar] = None,
                   flavour: str = "func", inner_steps: int = 1, key: Optional[Array] = None,
                   allow_any_beta: bool = False, record_iterates: bool = False,
                   divergence_threshold: float = 1e6) -> ResidualResult:
    """Stagewise training of a deep linear residual network ``F_T = (I + W_T) ... (I + W_1)`` (§B4.3).

    .. math:: F_{t+1} = (I + W_{t+1}) F_t,\\qquad W_{t+1} = W^0_{t+1} - \\eta\\,
       \\nabla\\mathcal L\\big((I + W^0_{t+1})F_t\\big)\\,P(F_t),\\quad
       P(F) = F^\\top\\ (\\text{param})\\ \\text{or}\\ F^{-1}\\ (\\text{func})

    One jitted ``lax.scan`` over stages, vmappable over ``beta``, ``sigma0``, ``eta``, ``key`` and
    the problem's arrays (hence ``kappa``).

    Args:
        problem: :class:`~jaxaccel.stacking.ResidualProblem` (``Sigma``, ``F*`` ``(d, d)``).
        stages: number of blocks ``T``.
        init: ``"zero"``, ``"random"`` (``sigma0 Z``), ``"stack"`` (``beta W_t``: the previous block
            copied and scaled) or ``"nesterov"`` (``beta (F_t - F_{t-1}) F_t^{-1}``, exact AGD with
            ``flavour="func"``).
        beta: ``()`` or ``(T,)`` in ``[0, 1]`` (stack / nesterov); default ``beta*`` of ``Sigma``.
        sigma0: ``() > 0`` (random only).
        eta: ``() > 0`` step; default ``1/L``.
        flavour: ``"func"`` or ``"param"``.
        inner_steps: ``K`` gradient steps on the new block per stage.
        key: PRNG key (random only).
        allow_any_beta: accept ``beta`` outside ``[0, 1]``.
        record_iterates: also return every ``F_t`` and ``W_t``.
        divergence_threshold: flag a gap that is non-finite or above this multiple of ``gap_0``.

    Returns:
        :class:`ResidualResult`.

    Example:
        >>> import jax
        >>> from jaxaccel.stacking import residual_problem, train_residual
        >>> p = residual_problem(1000.0, 10, 0.3, jax.random.PRNGKey(0))
        >>> zero, stack = train_residual(p, 200, init="zero"), train_residual(p, 200, init="stack")
        >>> bool(stack.gaps[-1] < 1e-2 * zero.gaps[-1])
        True
    """
    if not isinstance(problem, ResidualProblem):
        raise ValueError(f"problem must be a ResidualProblem, got {type(problem).__name__}")
    check_problem(problem)
    stages = V.check_positive_int(stages, "stages")
    C.check_init(init)
    C.check_choice(flavour, "flavour", ("func", "param"))
    inner_steps = V.check_positive_int(inner_steps, "inner_steps")
    eta = step_size(eta, problem)
    betas, sigma0 = C.init_hyperparameters(init, beta, sigma0, key, stages, allow_any_beta,
                                           problem_beta(problem))
    thr = C.divergence_threshold(divergence_threshold)
    res = _residual_kernel(problem, betas, sigma0, eta,
                           key if init == "random" else jax.random.PRNGKey(0), thr,
                           init == "nesterov", init == "random", flavour, inner_steps,
                           bool(record_iterates))
    warn_if_diverged("train_residual", res.diverged, res.diverged_at)
    return res
