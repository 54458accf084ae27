"""A small non-linear residual MLP trained stagewise on the scikit-learn digits (§B5 E-B2, §C6.3 (d)).

The paper's open question is whether stacking, and a trainable scale ``beta`` on each new block's
output, help beyond the linear theory. This module measures it on a ReLU residual MLP:

.. math:: z_0 = x E + e,\\qquad z_i = z_{i-1} + s_i\\, \\mathrm{relu}(z_{i-1} U_i + c_i) V_i,
   \\qquad \\text{logits} = z_T R + r .

Stage 0 trains the embedding and readout; stage ``t >= 1`` appends block ``t`` and trains only it
(its weights and, when trainable, its scale), with everything below and the readout frozen -- the
theory's setting -- or, with ``train_old=True``, trains every active block, the embedding and
the readout (gradual stacking). Each stage is a fixed number of full-batch Adam steps (the early
stopping of §B1.4). The new block starts, for an :class:`MLPInit` ``(copy, gamma, sigma0,
scale_init, train_scale)``, from

.. math:: U^0_t = U_{t-1}\\ (\\text{copy})\\ \\text{or fresh},\\quad
   V^0_t = \\text{copy}\\cdot\\gamma\\, s_{t-1} V_{t-1} + \\sigma_0\\xi,\\quad s^0_t = s_{\\rm init},

so that ``f^0_t = s_init * gamma * f_{t-1}``: zero init (``V = 0``, the new block is the zero
function), random init (``V = sigma0 xi``) and stacking ``f^0_t = beta f_{t-1}`` with ``beta``
either fixed (``gamma = beta``, ``s = 1`` not trained) or trainable (``gamma = 1``, ``s`` trained
from ``beta``). The first block has no predecessor and starts as the zero function (§B2,
``f^0_1 = 0``) unless random.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Optional, Union

import numpy as np
import jax
import jax.numpy as jnp
import optax

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Int, Scalar
from jaxaccel.reference.digits import digit_images
from jaxaccel.stacking import _checks as C
from jaxaccel.stacking._scan import warn_if_diverged


class DigitsData(NamedTuple):
    """Standardised scikit-learn digits, split into train and test sets.

    Attributes:
        x_train: ``(n, 64)`` float features; ``y_train``: ``(n,)`` int labels in ``0..9``.
        x_test: ``(m, 64)``; ``y_test``: ``(m,)``.
    """

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array


def digits_split(test_fraction: float = 0.25, seed: int = 0) -> DigitsData:
    """The digits (:func:`jaxaccel.reference.digits.digit_images`), split and standardised.

    Features are standardised with the training mean and standard deviation (constant pixels are
    only centred).

    Args:
        test_fraction: fraction in ``(0, 1)`` held out for testing.
        seed: seed of the random split.

    Example:
        >>> from jaxaccel.stacking import digits_split
        >>> d = digits_split()
        >>> d.x_train.shape, d.x_test.shape
        ((1348, 64), (449, 64))
    """
    if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    x, y = digit_images()
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    mean, std = x[tr].mean(0), x[tr].std(0)
    std = np.where(std > 0, std, 1.0)
    xs = (x - mean) / std
    return DigitsData(jnp.asarray(xs[tr]), jnp.asarray(y[tr]), jnp.asarray(xs[te]),
                      jnp.asarray(y[te]))


class MLPInit(NamedTuple):
    """Initialisation policy of a new block, as arrays (so policies can be stacked and vmapped).

    Attributes:
        copy: ``()`` 1 to copy the previous block's ``U, c`` and (scaled) ``V``, 0 for fresh.
        gamma: ``()`` multiplier on the copied ``s_{t-1} V_{t-1}``.
        sigma0: ``()`` std of the random part of ``V``.
        scale_init: ``()`` initial output scale ``s_t`` of the new block.
        train_scale: ``()`` 1 if ``s_t`` is trained, 0 if it is frozen.
    """

    copy: jax.Array
    gamma: jax.Array
    sigma0: jax.Array
    scale_init: jax.Array
    train_scale: jax.Array


def block_init(init: str, *, beta: Optional[Scalar] = None, sigma0: Optional[Scalar] = None,
             trainable_beta: bool = False, allow_any_beta: bool = False) -> MLPInit:
    """Build an :class:`MLPInit` for ``init`` in ``{"zero", "random", "stack"}`` (§B2, §B5 E-B2).

    Args:
        init: the policy.
        beta: stacking scale in ``[0, 1]`` (``"stack"`` only; the initial value when trainable).
        sigma0: ``() > 0`` random-init std (``"random"`` only).
        trainable_beta: train the new block's output scale (initialised at ``beta``, or at 1 for
            zero / random init).
        allow_any_beta: accept ``beta`` outside ``[0, 1]``.

    Returns:
        :class:`MLPInit` ``(copy, gamma, sigma0, scale_init, train_scale)``.

    Example:
        >>> from jaxaccel.stacking import block_init
        >>> [float(v) for v in block_init("stack", beta=0.5, trainable_beta=True)]
        [1.0, 1.0, 0.0, 0.5, 1.0]
    """
    C.check_init(init, ("zero", "random", "stack"))
    betas, s0 = C.init_hyperparameters(init, beta, sigma0, jax.random.PRNGKey(0), 1,
                                       allow_any_beta, 1.0)
    b = betas[0]
    f = jnp.asarray(1.0 if trainable_beta else 0.0)
    one, zero = jnp.ones(()), jnp.zeros(())
    if init == "stack":
        if trainable_beta:
            return MLPInit(one, one, zero, b, f)
        return MLPInit(one, b, zero, one, f)
    return MLPInit(zero, zero, s0, one, f)


class MLPParams(NamedTuple):
    """Parameters of the residual MLP with ``T`` block slots (inactive slots are masked)."""

    embed_w: jax.Array   # (d_in, h)
    embed_b: jax.Array   # (h,)
    up: jax.Array        # (T, h, m)
    up_b: jax.Array      # (T, m)
    down: jax.Array      # (T, m, h)
    scale: jax.Array     # (T,)
    out_w: jax.Array     # (h, c)
    out_b: jax.Array     # (c,)


class MLPResult(NamedTuple):
    """Output of :func:`train_residual_mlp` (stage 0 is the block-free model).

    Attributes:
        train_loss: ``(T + 1,)`` training cross-entropy at the end of each stage.
        start_loss: ``(T + 1,)`` training cross-entropy right after each stage's initialisation.
        test_loss: ``(T + 1,)``; ``test_accuracy``: ``(T + 1,)``.
        curve: ``((T + 1) * S,)`` training loss at every inner step.
        scale: ``(T,)`` the blocks' output scales ``s_t`` after training (realised beta when
            trainable).
        params: final :class:`MLPParams`.
        diverged: bool scalar; ``diverged_at``: first stage with a non-finite loss (``-1``).
        stage_params: :class:`MLPParams` with a leading ``(T + 1,)`` axis, the parameters at the
            end of every stage, when ``record_stage_params=True``; else ``None``.
    """

    train_loss: jax.Array
    start_loss: jax.Array
    test_loss: jax.Array
    test_accuracy: jax.Array
    curve: jax.Array
    scale: jax.Array
    params: MLPParams
    diverged: jax.Array
    diverged_at: jax.Array
    stage_params: Optional[MLPParams] = None


def residual_stream(params: MLPParams, x: Float[ArrayLike, "n d_in"],
                    active: Union[int, Int[ArrayLike, ""]]) -> Float[Array, "n h"]:
    """Residual stream ``z`` after the embedding and the first ``active`` blocks; ``(n, d_in) -> (n, h)``.

    ``z_0 = x E + e``, ``z_i = z_{i-1} + s_i relu(z_{i-1} U_i + c_i) V_i`` (module docstring,
    §B5 E-B2); blocks ``i >= active`` are masked out.

    Args:
        params: :class:`MLPParams` with ``T`` block slots.
        x: ``(n, d_in)`` inputs.
        active: number of active blocks ``0..T`` (may be traced).

    Returns:
        ``(n, h)`` residual stream.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import MLPParams, residual_stream
        >>> T, d, h, m, c = 2, 3, 4, 4, 10
        >>> p = MLPParams(np.ones((d, h)), np.zeros(h), np.ones((T, h, m)), np.zeros((T, m)),
        ...               np.ones((T, m, h)) / m, np.ones(T), np.ones((h, c)), np.zeros(c))
        >>> z = residual_stream(p, np.ones((2, d)), 2)   # z_0 = 3, each block: z <- z + 4 z
        >>> z.shape, float(z[0, 0])
        ((2, 4), 75.0)
    """
    z = x @ params.embed_w + params.embed_b

    def block(z, xs):
        i, u, c, v, s = xs
        on = (i < active).astype(z.dtype)
        return z + on * s * (jax.nn.relu(z @ u + c) @ v), None

    T = params.up.shape[0]
    z, _ = jax.lax.scan(block, z, (jnp.arange(T), params.up, params.up_b, params.down, params.scale))
    return z


def mlp_forward(params: MLPParams, x: Float[ArrayLike, "n d_in"],
                active: Union[int, Int[ArrayLike, ""]]) -> Float[Array, "n c"]:
    """Logits of the residual MLP using the first ``active`` blocks; ``(n, d_in) -> (n, c)``.

    ``logits = z_T R + r`` with ``z_T`` the :func:`residual_stream` (module docstring, §B5 E-B2).

    Args:
        params: :class:`MLPParams` with ``T`` block slots.
        x: ``(n, d_in)`` inputs.
        active: number of active blocks ``0..T`` (may be traced).

    Returns:
        ``(n, c)`` logits.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import MLPParams, mlp_forward
        >>> T, d, h, m, c = 2, 3, 4, 4, 10
        >>> p = MLPParams(np.ones((d, h)), np.zeros(h), np.ones((T, h, m)), np.zeros((T, m)),
        ...               np.ones((T, m, h)) / m, np.ones(T), np.ones((h, c)), np.zeros(c))
        >>> out = mlp_forward(p, np.ones((2, d)), 1)   # one active block: stream entries 15
        >>> out.shape, float(out[0, 0])                # readout sums the 4 entries
        ((2, 10), 60.0)
    """
    return residual_stream(params, x, active) @ params.out_w + params.out_b


def _xent(logits, y):
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))


def _loss(params, x, y, active):
    return _xent(mlp_forward(params, x, active), y)


class _Block(NamedTuple):
    up: jax.Array
    up_b: jax.Array
    down: jax.Array
    scale: jax.Array


@partial(jax.jit, static_argnames=("blocks", "width", "hidden", "steps", "train_old", "classes",
                                   "record"))
def _mlp_kernel(data, arm, key, lr, blocks, width, hidden, steps, train_old, classes, record):
    dt = data.x_train.dtype
    d_in = data.x_train.shape[1]
    k_e, k_o, k_u, k_r = jax.random.split(key, 4)
    fresh_u = jax.random.normal(k_u, (blocks, width, hidden), dt) * jnp.sqrt(2.0 / width)
    noise_v = jax.random.normal(k_r, (blocks, hidden, width), dt)
    params = MLPParams(
        jax.random.normal(k_e, (d_in, width), dt) / jnp.sqrt(d_in), jnp.zeros(width, dt),
        jnp.zeros((blocks, width, hidden), dt), jnp.zeros((blocks, hidden), dt),
        jnp.zeros((blocks, hidden, width), dt), jnp.ones(blocks, dt),
        jax.random.normal(k_o, (width, classes), dt) / jnp.sqrt(width), jnp.zeros(classes, dt))
    opt = optax.adam(lr)
    xtr, ytr = data.x_train, data.y_train
    one = jnp.ones((), dt)

    def descend(loss_fn, tree, mask):
        """``steps`` masked Adam steps; returns the trained tree, the loss before every step and
        the final loss."""
        state = opt.init(tree)

        def step(carry, _):
            p, s = carry
            loss, g = jax.value_and_grad(loss_fn)(p)
            g = jax.tree.map(lambda a, m: a * m, g, mask)
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), loss

        (tree, _), curve = jax.lax.scan(step, (tree, state), None, length=steps)
        return tree, curve, loss_fn(tree)

    def train_base(params):
        # stage 0: the block-free model (embedding + readout); no block enters the loss
        def loss_fn(b):
            ew, eb, ow, ob = b
            return _xent((xtr @ ew + eb) @ ow + ob, ytr)

        base = (params.embed_w, params.embed_b, params.out_w, params.out_b)
        (ew, eb, ow, ob), curve, final = descend(loss_fn, base, (one, one, one, one))
        return params._replace(embed_w=ew, embed_b=eb, out_w=ow, out_b=ob), curve, final

    def train_new_block(params, stage):
        # old blocks, embedding and readout frozen: the residual stream below the new block is
        # computed once per stage and only the new block (and its scale) is trained.
        i = stage - 1
        z = residual_stream(params, xtr, i)

        def loss_fn(b):
            zz = z + b.scale * (jax.nn.relu(z @ b.up + b.up_b) @ b.down)
            return _xent(zz @ params.out_w + params.out_b, ytr)

        blk = _Block(params.up[i], params.up_b[i], params.down[i], params.scale[i])
        blk, curve, final = descend(loss_fn, blk, _Block(one, one, one, arm.train_scale))
        return params._replace(up=params.up.at[i].set(blk.up), up_b=params.up_b.at[i].set(blk.up_b),
                               down=params.down.at[i].set(blk.down),
                               scale=params.scale.at[i].set(blk.scale)), curve, final

    def train_all(params, stage):
        # gradual stacking: every active block, the embedding and the readout are trained.
        on = (jnp.arange(blocks) < stage).astype(dt)
        mask = MLPParams(one, one, on[:, None, None], on[:, None], on[:, None, None],
                         on * jnp.where(jnp.arange(blocks) == stage - 1, arm.train_scale, 0.0),
                         one, one)
        return descend(lambda p: _loss(p, xtr, ytr, stage), params, mask)

    def add_block(params, stage):
        i = stage - 1
        prev = jnp.maximum(i - 1, 0)
        copy = arm.copy * (i > 0)
        up = copy * params.up[prev] + (1 - copy) * fresh_u[i]
        up_b = copy * params.up_b[prev]
        down = copy * arm.gamma * params.scale[prev] * params.down[prev] + arm.sigma0 * noise_v[i]
        return params._replace(up=params.up.at[i].set(up), up_b=params.up_b.at[i].set(up_b),
                               down=params.down.at[i].set(down),
                               scale=params.scale.at[i].set(arm.scale_init))

    def evaluate(params, stage):
        logits = mlp_forward(params, data.x_test, stage)
        acc = jnp.mean((jnp.argmax(logits, -1) == data.y_test).astype(dt))
        return _xent(logits, data.y_test), acc

    # the first entry of a stage's curve is the loss before its first step: the loss right
    # after the new block's initialisation
    def stage_fn(params, stage):
        params = add_block(params, stage)
        params, curve, final = (train_all if train_old else train_new_block)(params, stage)
        return params, (curve[0], final, *evaluate(params, stage), curve,
                        params if record else None)

    params, curve0, final0 = train_base(params)
    out0 = (curve0[0], final0, *evaluate(params, 0), curve0, params if record else None)
    params, outs = jax.lax.scan(stage_fn, params, jnp.arange(1, blocks + 1))
    start, trl, tel, acc, curve, hist = jax.tree.map(
        lambda a, b: jnp.concatenate([a[None], b]), out0, outs)
    bad = ~jnp.isfinite(trl) | ~jnp.all(jnp.isfinite(curve), axis=1)
    div = jnp.any(bad)
    at = jnp.where(div, jnp.argmax(bad), -1)
    return MLPResult(trl, start, tel, acc, curve.reshape(-1), params.scale, params, div, at, hist)


def train_residual_mlp(data: DigitsData, init: MLPInit, key: Array, *, blocks: int = 4,
                       width: int = 32, hidden: int = 32, steps_per_stage: int = 100,
                       learning_rate: Scalar = 3e-3,
                       train_old: bool = False, record_stage_params: bool = False) -> MLPResult:
    """Stagewise training of the residual ReLU MLP on ``data`` (one jitted ``lax.scan`` over stages).

    ``init``, ``key`` and ``learning_rate`` may be traced: ``vmap`` over a stacked
    :class:`MLPInit` (``jax.tree.map(lambda *a: jnp.stack(a), *inits)``) and over keys compares the
    policies across seeds in one compiled run.

    Args:
        data: :class:`DigitsData` (or any ``(n, d)`` features with integer labels).
        init: :class:`MLPInit` from :func:`block_init`.
        key: PRNG key (weights of the base model, fresh blocks and random init).
        blocks: number of stages / blocks ``T``.
        width: residual stream width ``h``; hidden: block hidden width ``m``.
        steps_per_stage: full-batch Adam steps ``S`` per stage.
        learning_rate: ``() > 0`` Adam step size.
        train_old: also train the older blocks, the embedding and the readout (gradual
            stacking) instead of freezing them (the theory's setting).
        record_stage_params: also return the parameters at the end of every stage.

    Returns:
        :class:`MLPResult`.

    Example:
        >>> import jax
        >>> from jaxaccel.stacking import digits_split, block_init, train_residual_mlp
        >>> r = train_residual_mlp(digits_split(), block_init("stack", beta=0.5), jax.random.PRNGKey(0),
        ...                        blocks=2, steps_per_stage=20)
        >>> r.train_loss.shape, bool(r.train_loss[-1] < r.train_loss[0])
        ((3,), True)
    """
    if not isinstance(data, DigitsData):
        raise ValueError(f"data must be DigitsData, got {type(data).__name__}")
    xtr = C.finite_array(data.x_train, "data.x_train", 2)
    xte = C.finite_array(data.x_test, "data.x_test", 2)
    if xte.shape[1] != xtr.shape[1]:
        raise ValueError(f"data.x_test must have {xtr.shape[1]} columns like data.x_train, got {xte.shape}")
    for name, y, x in (("data.y_train", data.y_train, xtr), ("data.y_test", data.y_test, xte)):
        y = jnp.asarray(y)
        if y.ndim != 1 or y.shape[0] != x.shape[0] or not jnp.issubdtype(y.dtype, jnp.integer):
            raise ValueError(f"{name} must be integer labels of shape ({x.shape[0]},), "
                             f"got {y.dtype} {y.shape}")
    ytr = np.asarray(data.y_train)
    if V.is_concrete(data.y_train) and ytr.min() < 0:
        raise ValueError("data.y_train must be non-negative class labels")
    classes = int(max(ytr.max(), np.asarray(data.y_test).max())) + 1
    if not isinstance(init, MLPInit):
        raise ValueError(f"init must be an MLPInit (see block_init), got {type(init).__name__}")
    for f in init._fields:
        C.finite_array(getattr(init, f), f"init.{f}", 0)
    blocks = V.check_positive_int(blocks, "blocks")
    width = V.check_positive_int(width, "width")
    hidden = V.check_positive_int(hidden, "hidden")
    steps = V.check_positive_int(steps_per_stage, "steps_per_stage")
    lr = C.scalar(learning_rate, "learning_rate", positive=True)
    data = DigitsData(xtr, jnp.asarray(data.y_train), xte, jnp.asarray(data.y_test))
    res = _mlp_kernel(data, init, key, lr, blocks, width, hidden, steps, bool(train_old), classes,
                      bool(record_stage_params))
    warn_if_diverged("train_residual_mlp", res.diverged, res.diverged_at)
    return res
