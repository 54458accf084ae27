r"""Depth without expressiveness in a non-linear net: factorised dense layers (theory §A9.2, E7).

The paper's non-linear experiment replaces each dense layer ``x -> x W + b`` of the TensorFlow
MNIST tutorial convnet by ``x -> x W_a W_b + b`` with inner width ``min(n_in, n_out)``: the set of
functions is unchanged, gradient descent is not (the layer is a depth-2 linear network, theory
§A3). Here the same construction on a small convnet for the 8x8 scikit-learn digits (MNIST is
not available offline):

    conv 3x3, 1 -> 32 (ReLU) -> max-pool 2 -> FC 512 -> 80 (ReLU, dropout) -> FC 80 -> 10,

42 170 parameters; factorising both dense layers adds 80x80 + 10x10 = 6 500 (+15.4%, the
paper's "about +15%"). Training follows the tutorial: softmax cross-entropy plus
``5e-4 x`` the squared L2 norm of every dense factor and bias, momentum 0.9, learning rate
``0.01 * 0.95^epoch``, batch 64, truncated-normal init (std 0.1). Cross-entropy and the penalty
are logged separately (the penalty's geometry changes under factorisation, theory §A9.3).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Tuple

import numpy as np
import jax
import jax.numpy as jnp
import optax
from jax.typing import DTypeLike
from jaxtyping import PRNGKeyArray

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float
from jaxaccel.reference.digits import digit_images

_FACTOR_INITS = ("gaussian", "identity")


class Dense(NamedTuple):
    """A dense layer ``x -> x F_1 F_2 ... F_q + b`` (``q = 1``: the ordinary layer).

    Attributes:
        factors: the matrices ``F_1 (n_in, r), ..., F_q (r, n_out)``.
        bias: ``(n_out,)``.
    """

    factors: Tuple[jax.Array, ...]
    bias: jax.Array


def _trunc_normal(key, shape, std, dtype):
    return std * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


def init_dense(
    key: PRNGKeyArray, n_in: int, n_out: int, *, factorised: bool = False,
    inner: Optional[int] = None, std: float = 0.1, bias: float = 0.1,
    factor_init: str = "gaussian", dtype: DTypeLike = jnp.float64,
) -> Dense:
    """A dense layer, plain or factorised into two matrices (theory §A9.2, E7).

    The first factor (or the plain matrix) is truncated-normal with ``std`` (the TF tutorial's
    init); the extra factor is truncated-normal too (``factor_init="gaussian"``, the engine
    default) or the identity (``"identity"``, needs ``inner`` = ``n_in`` or ``n_out``; the
    identity then takes the first or the second place), in which case the
    factorised layer computes exactly the plain layer drawn from the same key.

    Args:
        key: PRNG key. n_in, n_out: sizes ``>= 1``.
        factorised: write the matrix as ``F_1 F_2`` with inner width ``inner``.
        inner: inner width (default ``min(n_in, n_out)``).
        std: init std ``> 0``. bias: initial bias value.
        factor_init: ``"gaussian"`` or ``"identity"``.
        dtype: floating dtype.

    Returns:
        A :class:`Dense`.

    Example:
        >>> import jax
        >>> from jaxaccel.depth import init_dense
        >>> [F.shape for F in init_dense(jax.random.PRNGKey(0), 6, 3, factorised=True).factors]
        [(6, 3), (3, 3)]
    """
    n_in = V.check_positive_int(n_in, "n_in")
    n_out = V.check_positive_int(n_out, "n_out")
    if not (np.isfinite(std) and std > 0):
        raise ValueError(f"std must be finite and > 0, got {std!r}")
    if factor_init not in _FACTOR_INITS:
        raise ValueError(f"factor_init must be one of {_FACTOR_INITS}, got {factor_init!r}")
    k1, k2 = jax.random.split(key)
    b = jnp.full((n_out,), bias, dtype)
    if not factorised:
        return Dense((_trunc_normal(k1, (n_in, n_out), std, dtype),), b)
    r = min(n_in, n_out) if inner is None else V.check_positive_int(inner, "inner")
    if factor_init == "identity":
        W = _trunc_normal(k1, (n_in, n_out), std, dtype)
        if r == n_out:
            return Dense((W, jnp.eye(r, dtype=dtype)), b)
        if r == n_in:
            return Dense((jnp.eye(r, dtype=dtype), W), b)
        raise ValueError(f"inner: factor_init='identity' needs inner = n_in or n_out "
                         f"({n_in} or {n_out}), got {r}")
    return Dense((_trunc_normal(k1, (n_in, r), std, dtype), _trunc_normal(k2, (r, n_out), std, dtype)), b)


def dense_matrix(layer: Dense) -> jax.Array:
    """The layer's end-to-end matrix ``F_1 F_2 ... F_q`` (theory §A1.1).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import Dense, dense_matrix
        >>> dense_matrix(Dense((jnp.ones((2, 1)), 3 * jnp.ones((1, 2))), jnp.zeros(2))).tolist()
        [[3.0, 3.0], [3.0, 3.0]]
    """
    return functools.reduce(jnp.matmul, layer.factors)


def dense_apply(layer: Dense, x: Float[ArrayLike, "... n_in"]) -> jax.Array:
    """``x F_1 ... F_q + b`` applied factor by factor (theory §A9.2, E7).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import Dense, dense_apply
        >>> dense_apply(Dense((jnp.eye(2), 2 * jnp.eye(2)), jnp.ones(2)), jnp.array([1.0, 2.0])).tolist()
        [3.0, 5.0]
    """
    for F in layer.factors:
        x = x @ F
    return x + layer.bias


class ConvNet(NamedTuple):
    """Parameters of the digits convnet: ``conv_w (3, 3, 1, C)``, ``conv_b (C,)``, two
    :class:`Dense` layers ``fc1 (C * 16 -> H)`` and ``fc2 (H -> 10)``."""

    conv_w: jax.Array
    conv_b: jax.Array
    fc1: Dense
    fc2: Dense


def init_convnet(
    key: PRNGKeyArray, *, factorised: bool = False, channels: int = 32, hidden: int = 80,
    factor_init: str = "gaussian", std: float = 0.1, dtype: DTypeLike = jnp.float64,
) -> ConvNet:
    """The digits convnet (theory §A9.2, E7), plain or with both dense layers factorised.

    Args:
        key: PRNG key (the same key gives the same conv and first factors either way).
        factorised: factorise ``fc1`` and ``fc2`` (inner width ``min(n_in, n_out)``).
        channels: conv channels ``C``. hidden: width ``H`` of ``fc1``.
        factor_init, std, dtype: as in :func:`init_dense`.

    Returns:
        A :class:`ConvNet`.

    Example:
        >>> import jax
        >>> from jaxaccel.depth import convnet_size, init_convnet
        >>> k = jax.random.PRNGKey(0)
        >>> [convnet_size(jax.eval_shape(lambda: init_convnet(k, factorised=f))) for f in (0, 1)]
        [42170, 48670]
    """
    channels = V.check_positive_int(channels, "channels")
    hidden = V.check_positive_int(hidden, "hidden")
    init_dense(key, 1, 1, factorised=factorised, factor_init=factor_init, std=std)  # validates
    return _init_convnet(key, factorised=bool(factorised), channels=channels, hidden=hidden,
                         factor_init=factor_init, std=float(std), dtype=jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("factorised", "channels", "hidden", "factor_init",
                                             "std", "dtype"))
def _init_convnet(key, *, factorised, channels, hidden, factor_init, std, dtype):
    k0, k1, k2 = jax.random.split(key, 3)
    kw = dict(factorised=factorised, factor_init=factor_init, std=std, dtype=dtype)
    return ConvNet(_trunc_normal(k0, (3, 3, 1, channels), std, dtype), jnp.zeros(channels, dtype),
                   init_dense(k1, 16 * channels, hidden, **kw), init_dense(k2, hidden, 10, **kw))


def convnet_size(params: ConvNet) -> int:
    """Number of scalar parameters (also of a ``jax.eval_shape`` result).

    Example:
        >>> import jax
        >>> from jaxaccel.depth import convnet_size, init_convnet
        >>> convnet_size(jax.eval_shape(lambda: init_convnet(jax.random.PRNGKey(0), hidden=4)))
        2422
    """
    return int(sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params)))


def convnet_apply(
    params: ConvNet, images: Float[ArrayLike, "n 8 8"], *, dropout_key: Optional[PRNGKeyArray] = None,
    dropout: float = 0.5,
) -> Float[Array, "n 10"]:
    """Logits of the digits convnet; dropout on the hidden layer when ``dropout_key`` is given
    (theory §A9.2, E7).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxaccel.depth import convnet_apply, init_convnet
        >>> net = jax.eval_shape(lambda: init_convnet(jax.random.PRNGKey(0), channels=2, hidden=3))
        >>> jax.eval_shape(convnet_apply, net, jnp.zeros((5, 8, 8))).shape   # shapes only
        (5, 10)
    """
    x = jnp.asarray(images)[..., None]
    x = jax.lax.conv_general_dilated(x, params.conv_w, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = jax.nn.relu(x + params.conv_b)
    x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    h = jax.nn.relu(dense_apply(params.fc1, x.reshape(x.shape[0], -1)))
    if dropout_key is not None:
        keep = jax.random.bernoulli(dropout_key, 1.0 - dropout, h.shape)
        h = jnp.where(keep, h / (1.0 - dropout), 0.0)
    return dense_apply(params.fc2, h)


def convnet_loss(
    params: ConvNet, images: Float[ArrayLike, "n 8 8"], labels: ArrayLike, *, l2: float = 5e-4,
    dropout_key: Optional[PRNGKeyArray] = None, dropout: float = 0.5,
) -> Tuple[jax.Array, Tuple[jax.Array, jax.Array]]:
    """``(CE + l2 * R, (CE, R))``: mean softmax cross-entropy and ``R`` = sum of squared entries of
    every dense factor and bias (the tutorial's regulariser, theory §A9.2 E7).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxaccel.depth import convnet_loss, init_convnet
        >>> net = init_convnet(jax.random.PRNGKey(0), channels=1, hidden=2)
        >>> total, (ce, reg) = jax.jit(convnet_loss)(net, jnp.zeros((4, 8, 8)), jnp.arange(4))
        >>> bool(jnp.isclose(total, ce + 5e-4 * reg))
        True
    """
    logits = convnet_apply(params, images, dropout_key=dropout_key, dropout=dropout)
    ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    reg = sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves((params.fc1, params.fc2)))
    return ce + l2 * reg, (ce, reg)


class ConvNetRun(NamedTuple):
    """Per-step minibatch cross-entropy ``ce (T,)``, penalty ``reg (T,)`` (``loss = ce + l2 reg``),
    and ``val_error``: the final validation error rate; ``params``: final parameters."""

    ce: jax.Array
    reg: jax.Array
    loss: jax.Array
    val_error: jax.Array
    params: ConvNet


def digits_images(num_val: int = 297) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The scikit-learn digits as ``(train_x (n, 8, 8), train_y, val_x, val_y)``, pixels scaled to
    ``[-0.5, 0.5]`` like the tutorial's MNIST; the last ``num_val`` images are for validation
    (theory §A9.2, E7: the MNIST stand-in).

    Example:
        >>> from jaxaccel.depth import digits_images
        >>> tx, ty, vx, vy = digits_images()
        >>> tx.shape, vx.shape, float(tx.min()), float(tx.max())
        ((1500, 8, 8), (297, 8, 8), -0.5, 0.5)
    """
    x, y = digit_images()
    x = x.reshape(-1, 8, 8) / 16.0 - 0.5
    n = x.shape[0] - V.check_positive_int(num_val, "num_val")
    return x[:n], y[:n], x[n:], y[n:]


@functools.partial(jax.jit, static_argnames=("steps", "batch"))
def _train(params, key, tx, ty, vx, vy, lr, l2, dropout, *, steps, batch):
    n = tx.shape[0]
    per_epoch = n // batch
    epochs = -(-steps // per_epoch)
    kp, kd = jax.random.split(key)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n)[: per_epoch * batch])(
        jax.random.split(kp, epochs)).reshape(-1, batch)[:steps]
    sched = lambda t: lr * 0.95 ** jnp.floor(t / per_epoch)  # noqa: E731
    opt = optax.sgd(sched, momentum=0.9)

    def step(carry, inp):
        p, s = carry
        idx, k = inp
        (tot, (ce, reg)), g = jax.value_and_grad(convnet_loss, has_aux=True)(
            p, tx[idx], ty[idx], l2=l2, dropout_key=k, dropout=dropout)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), (ce, reg, tot)

    (p, _), (ce, reg, tot) = jax.lax.scan(step, (params, opt.init(params)),
                                          (perms, jax.random.split(kd, steps)))
    err = jnp.mean(jnp.argmax(convnet_apply(p, vx), -1) != vy)
    return ConvNetRun(ce, reg, tot, err, p)


def train_convnet(
    params: ConvNet, key: PRNGKeyArray, steps: int, *, batch: int = 64, lr: float = 0.01,
    l2: float = 5e-4, dropout: float = 0.5, num_val: int = 297,
) -> ConvNetRun:
    """Train the digits convnet as the TF tutorial trains its MNIST net (theory §A9.2, E7):
    momentum 0.9, learning rate ``lr * 0.95^epoch``, minibatches of ``batch`` from a fresh
    permutation every epoch, dropout on the hidden layer, L2 on the dense parameters.

    Args:
        params: a :class:`ConvNet` (plain or factorised).
        key: PRNG key (minibatch order and dropout).
        steps: iterations ``>= 1``. batch: minibatch size. lr: initial learning rate ``> 0``.
        l2: penalty weight ``>= 0``. dropout: drop rate in ``[0, 1)``. num_val: validation images.

    Returns:
        A :class:`ConvNetRun`.

    Example:
        >>> import jax
        >>> from jaxaccel.depth import init_convnet, train_convnet
        >>> net = jax.eval_shape(lambda: init_convnet(jax.random.PRNGKey(0), channels=2, hidden=3))
        >>> run = jax.eval_shape(lambda n: train_convnet(n, jax.random.PRNGKey(1), 5), net)
        >>> run.ce.shape, run.val_error.shape          # shapes only (tracing, no training)
        ((5,), ())
    """
    steps = V.check_positive_int(steps, "steps")
    batch = V.check_positive_int(batch, "batch")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    if not (np.isfinite(l2) and l2 >= 0):
        raise ValueError(f"l2 must be finite and >= 0, got {l2!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    tx, ty, vx, vy = digits_images(num_val)
    if batch > tx.shape[0]:
        raise ValueError(f"batch must be <= the {tx.shape[0]} training images, got {batch}")
    dt = params.conv_w.dtype
    return _train(params, key, jnp.asarray(tx, dt), jnp.asarray(ty), jnp.asarray(vx, dt),
                  jnp.asarray(vy), jnp.asarray(lr, dt), jnp.asarray(l2, dt),
                  jnp.asarray(dropout, dt), steps=steps, batch=batch)
