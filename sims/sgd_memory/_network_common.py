"""Shared by the network sims of ``sims/sgd_memory`` (``digits.py``, ``network.py``): the
one-hidden-layer ReLU network of theory §9 trained by mini-batch SGD with memory through the
optax transforms of :mod:`jaxaccel.optim`, every optimizer and seed in one jitted program.
"""

from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp
import optax

import jaxaccel as ja
from jaxaccel import optim

DIVERGENCE_FACTOR = 1e6  # a run whose loss exceeds this multiple of L_0 is reported as diverged


def stack_algorithms(algs):
    """Stack algorithms of one structure along a new leading axis (for ``vmap``)."""
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *algs)


def initial_networks(key, d_in, width, d_out, seeds):
    """``seeds`` independent initialisations (:func:`jaxaccel.ntk_mlp_init`), stacked on axis 0.

    Drawn eagerly, outside the training program, so every optimizer starts from the same
    networks and the compiled program holds no Gaussian sampler.
    """
    nets = [ja.ntk_mlp_init(jax.random.fold_in(key, s), d_in, width, d_out) for s in range(seeds)]
    return stack_algorithms(nets)


def train_network(algorithms, X, Y, params0, batch, record, key):
    """Mini-batch training of the one-hidden-layer network, every optimizer and seed at once.

    Each optimizer runs as the optax transform :func:`jaxaccel.optim.from_algorithm` of its
    schedule. One jitted ``lax.scan`` over the recorded steps (a ``fori_loop`` of steps between
    them), ``vmap``-ed over the optimizers (leading axis of ``algorithms``) and the seeds
    (leading axis of ``params0``); seed ``s`` uses the same initial network and batch sequence
    for every optimizer. Batches are ``batch`` distinct training points drawn afresh each step.
    The full training loss :math:`|f(X) - Y|^2 / (2n)` is evaluated at the weights ``w_t``
    (:func:`jaxaccel.optim.weights_from_state`).

    Returns:
        ``(loss (A, S, R), diverged (A, S) bool, diverged_at (A, S) int)`` for ``A`` optimizers,
        ``S`` seeds and ``R`` recorded steps; ``diverged_at`` is the first recorded step with a
        non-finite loss or one above ``DIVERGENCE_FACTOR * L_0`` (``-1`` if none), and losses
        from there on are ``inf``.
    """
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    n = X.shape[0]
    rec = jnp.asarray(record, jnp.int32)
    L0 = 0.5 * float(jnp.sum(Y * Y)) / n

    def full_loss(p):
        r = ja.ntk_mlp_apply(p, X) - Y
        return 0.5 * jnp.sum(r * r) / n

    def batch_loss(p, idx):
        r = ja.ntk_mlp_apply(p, X[idx]) - Y[idx]
        return 0.5 * jnp.sum(r * r) / idx.shape[0]

    def run(alg, p0, k):
        opt = optim.from_algorithm(alg)

        def step(t, carry):
            p, st = carry
            idx = jax.random.choice(jax.random.fold_in(k, t), n, (batch,), replace=False)
            upd, st = opt.update(jax.grad(batch_loss)(p, idx), st, p)
            return optax.apply_updates(p, upd), st

        def segment(carry, t_next):
            p, st, t_prev, bad, bad_at = carry
            p, st = jax.lax.fori_loop(t_prev, t_next, step, (p, st))
            L = full_loss(optim.weights_from_state(p, st))
            now_bad = ~jnp.isfinite(L) | (L > DIVERGENCE_FACTOR * L0)
            bad_at = jnp.where(now_bad & ~bad, t_next, bad_at)
            bad = bad | now_bad
            return (p, st, t_next, bad, bad_at), jnp.where(bad, jnp.inf, L)

        carry = (p0, opt.init(p0), jnp.int32(0), jnp.zeros((), bool), jnp.int32(-1))
        (_, _, _, bad, bad_at), losses = jax.lax.scan(segment, carry, rec)
        return losses, bad, bad_at

    seeds = jax.tree_util.tree_leaves(params0)[0].shape[0]
    keys = jax.random.split(key, seeds)
    over_seeds = jax.vmap(run, in_axes=(None, 0, 0))
    losses, bad, bad_at = jax.jit(jax.vmap(over_seeds, in_axes=(0, None, None)))(
        algorithms, params0, keys)
    return np.asarray(losses), np.asarray(bad), np.asarray(bad_at)


def slope(steps, loss, t_max):
    """Least-squares log-log slope over the last decade ``[t_max / 10, t_max]``.

    ``nan`` when the loss is not positive and finite there (a diverged run).
    """
    try:
        return float(ja.fit_power_law(steps, loss, (t_max / 10.0, t_max)).exponent)
    except ValueError:
        return float("nan")


def blow_up_step(steps, loss, factor=10.0):
    """First recorded step from which the loss stays above ``factor`` times its running minimum
    up to the end (``-1`` if none): a blow-up, also when the loss saturates below the
    divergence threshold (a ReLU network's loss need not reach ``inf``)."""
    loss = np.where(np.isfinite(loss), loss, np.inf)
    above = loss > factor * np.minimum.accumulate(loss)
    stays = np.flip(np.cumprod(np.flip(above))) > 0
    return int(np.asarray(steps)[np.argmax(stays)]) if stays.any() else -1
