r"""Training runs: one jitted ``lax.scan`` per run, losses recorded only at requested steps.

* :func:`train_network` -- a depth-``N`` linear network trained by gradient descent with weight
  decay (spec eq. 5, :math:`W_j \leftarrow (1-\eta\lambda)W_j - \eta\,\partial L^N/\partial W_j`)
  or by an optax optimizer (AdaGrad, AdaDelta, Adam, ... with TF1-compatible defaults).
* :func:`train_end_to_end` -- the end-to-end rule (spec eq. 10) on a single matrix ``W_e``.
* :func:`sweep_network`, :func:`sweep_end_to_end` -- the same runs ``vmap``-ped over a grid of
  learning rates and a batch of initialisations (seeds), and for the end-to-end rule over
  depths as well (the rule's shapes do not depend on ``N``).

Divergence (theory §C6.1): a run whose loss becomes non-finite or exceeds
``divergence_threshold * L_0`` is frozen at that step and reported with ``diverged=True`` and
``diverged_at``; its recorded losses from that step on are ``+inf`` (never NaN).
Thresholds: ``hit_at[i]`` is the first step ``t`` with ``L_t < thresholds[i]`` (``-1`` if never),
tracked inside the scan, so iterations-to-threshold are exact without storing the curve.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import numpy as np
import jax
import jax.numpy as jnp
import optax

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Int, Scalar
from jaxaccel.record import RecordSpec, record_steps
from jaxaccel.depth.end_to_end import Depth, check_depth, end_to_end_update
from jaxaccel.depth.losses import LossLike, LpRegression, as_loss
from jaxaccel.depth.networks import LayersLike, check_layers, end_to_end_matrix, layer_gradients

#: Loss thresholds for the iterations-to-threshold counters ``hit_at``.
Thresholds = Union[Sequence[float], Float[ArrayLike, "n_thresholds"]]
#: ``"gd"``, an optax optimizer's name, or a callable ``lr -> optax.GradientTransformation``.
OptimizerSpec = Union[str, Callable[[Scalar], optax.GradientTransformation]]


class Run(NamedTuple):
    """Result of a training run (leading batch axes for sweeps).

    Attributes:
        steps: ``(R,)`` recorded steps.
        loss: ``(..., R)`` training loss ``L^1(W_e)`` at the recorded steps (``+inf`` from the
            divergence step on).
        diverged: ``(...)`` bool.
        diverged_at: ``(...)`` int, first divergent step, ``-1`` if none.
        hit_at: ``(..., n_thresholds)`` int, first step with loss below each threshold
            (``-1`` if never).
        params: final parameters (the layer tuple, ``W_e``, or ``(layers, opt_state)``'s layers).
        recorded: parameters at the recorded steps (leading axis ``R``) if asked, else ``None``.
        thresholds: ``(n_thresholds,)`` the loss thresholds of ``hit_at``.
    """

    steps: jax.Array
    loss: jax.Array
    diverged: jax.Array
    diverged_at: jax.Array
    hit_at: jax.Array
    params: Any
    recorded: Any = None
    thresholds: Any = None


# ----------------------------------------------------------------------------- optimizers
_OPTAX = ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "adam", "rmsprop")


def make_optimizer(name: str, lr: Scalar) -> optax.GradientTransformation:
    """An optax optimizer by name with TF1-compatible defaults (theory §A9.2 E5, §C6.1).

    ``adagrad``: initial accumulator 0.1; ``adadelta``: ``rho = 0.95``, ``eps = 1e-8``;
    ``adam``: ``(0.9, 0.999, 1e-8)``; ``rmsprop``: decay 0.9, ``eps = 1e-10``;
    ``momentum`` / ``nesterov``: momentum 0.9; ``sgd``: plain. ``lr`` may be traced.

    Args:
        name: ``sgd``, ``momentum``, ``nesterov``, ``adagrad``, ``adadelta``, ``adam`` or
            ``rmsprop``.
        lr: the learning rate.

    Returns:
        An ``optax.GradientTransformation``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import make_optimizer
        >>> opt = make_optimizer("adam", 0.1)
        >>> upd, _ = opt.update(jnp.array([2.0, -0.5]), opt.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in upd.tolist()]   # Adam's first step is -lr * sign(g)
        [-0.1, 0.1]
    """
    if name == "sgd":
        return optax.sgd(lr)
    if name == "momentum":
        return optax.sgd(lr, momentum=0.9)
    if name == "nesterov":
        return optax.sgd(lr, momentum=0.9, nesterov=True)
    if name == "adagrad":
        return optax.adagrad(lr, initial_accumulator_value=0.1)
    if name == "adadelta":
        return optax.adadelta(lr, rho=0.95, eps=1e-8)
    if name == "adam":
        return optax.adam(lr, b1=0.9, b2=0.999, eps=1e-8)
    if name == "rmsprop":
        return optax.rmsprop(lr, decay=0.9, eps=1e-10)
    raise ValueError(f"optimizer must be 'gd', one of {_OPTAX} or a callable lr -> optax optimizer; got {name!r}")


def _check_optimizer(optimizer):
    if optimizer == "gd" or (isinstance(optimizer, str) and optimizer in _OPTAX):
        return optimizer
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer
    raise ValueError(f"optimizer must be 'gd', one of {_OPTAX} or a callable lr -> optax optimizer; got {optimizer!r}")


# ----------------------------------------------------------------------------- the driver
def _tree_where(c, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(c, x, y), a, b)


def _drive(state0, step_fn, value_fn, params_of, rec, thr, div_factor, steps, record_params):
    """Scan ``steps`` steps of ``step_fn: state -> (L(state), new_state)`` with bookkeeping."""
    n_rec = rec.shape[0]
    rec_pad = jnp.concatenate([rec, jnp.full((1,), -1, rec.dtype)])
    L0 = value_fn(state0)
    dtype = jnp.result_type(L0)
    limit = div_factor * jnp.maximum(jnp.abs(L0), jnp.finfo(dtype).tiny)
    buf0 = jnp.zeros(n_rec + 1, dtype)
    pbuf0 = (
        jax.tree_util.tree_map(lambda x: jnp.zeros((n_rec + 1,) + x.shape, x.dtype), params_of(state0))
        if record_params else None
    )

    def book(t, L, state, buf, pbuf, ptr, div_at, hit_at):
        bad = ~jnp.isfinite(L) | (L > limit)
        div_at = jnp.where((div_at < 0) & bad, t, div_at)
        ok = div_at < 0
        hit = rec_pad[ptr] == t
        idx = jnp.where(hit, ptr, n_rec)
        buf = buf.at[idx].set(L)
        if record_params:
            pbuf = jax.tree_util.tree_map(lambda b, x: b.at[idx].set(x), pbuf, params_of(state))
        hit_at = jnp.where((hit_at < 0) & ok & (L < thr), t, hit_at)
        return buf, pbuf, ptr + hit.astype(ptr.dtype), div_at, hit_at

    def body(carry, _):
        state, t, buf, pbuf, ptr, div_at, hit_at = carry
        L, new = step_fn(state)
        buf, pbuf, ptr, div_at, hit_at = book(t, L, state, buf, pbuf, ptr, div_at, hit_at)
        state = _tree_where(div_at >= 0, state, new)
        return (state, t + 1, buf, pbuf, ptr, div_at, hit_at), None

    carry0 = (state0, jnp.int32(0), buf0, pbuf0, jnp.int32(0), jnp.int32(-1),
              jnp.full(thr.shape, -1, jnp.int32))
    (state, t, buf, pbuf, ptr, div_at, hit_at), _ = jax.lax.scan(body, carry0, None, length=steps)
    buf, pbuf, ptr, div_at, hit_at = book(t, value_fn(state), state, buf, pbuf, ptr, div_at, hit_at)
    diverged = div_at >= 0
    loss = buf[:n_rec]
    loss = jnp.where((diverged & (rec >= div_at)) | ~jnp.isfinite(loss), jnp.inf, loss)
    recorded = jax.tree_util.tree_map(lambda b: b[:n_rec], pbuf) if record_params else None
    return loss, diverged, div_at, hit_at, params_of(state), recorded


# ----------------------------------------------------------------------------- kernels
def _network_kernel(layers, loss, lr, wd, rec, thr, div_factor, *, steps, optimizer, record_params):
    def value_fn(state):
        return loss.value(end_to_end_matrix(state[0]))

    def grads_of(ls):
        L, G = loss.value_and_grad(end_to_end_matrix(ls))
        return L, layer_gradients(ls, G)

    if optimizer == "gd":
        def step_fn(state):
            ls = state[0]
            L, g = grads_of(ls)
            return L, (tuple((1.0 - lr * wd) * W - lr * gW for W, gW in zip(ls, g)), None)
        state0 = (layers, None)
    else:
        opt = make_optimizer(optimizer, lr) if isinstance(optimizer, str) else optimizer(lr)

        def step_fn(state):
            ls, os = state
            L, g = grads_of(ls)
            g = tuple(gW + wd * W for W, gW in zip(ls, g))
            upd, os = opt.update(g, os, ls)
            return L, (optax.apply_updates(ls, upd), os)
        state0 = (layers, opt.init(layers))

    return _drive(state0, step_fn, value_fn, lambda s: s[0], rec, thr, div_factor, steps, record_params)


def _e2e_kernel(W0, loss, lr, depth, wd, rec, thr, div_factor, *, steps, method, record_params):
    def step_fn(W):
        L, G = loss.value_and_grad(W)
        return L, end_to_end_update(W, G, lr, depth, wd, method)

    return _drive(W0, step_fn, loss.value, lambda W: W, rec, thr, div_factor, steps, record_params)


@functools.partial(jax.jit, static_argnames=("steps", "optimizer", "record_params", "batched"))
def _network_run(layers, loss, lr, wd, rec, thr, div_factor, *, steps, optimizer, record_params, batched):
    def f(ls, e):
        return _network_kernel(ls, loss, e, wd, rec, thr, div_factor, steps=steps,
                               optimizer=optimizer, record_params=record_params)
    if batched:  # lr (E,), layers with a leading seed axis (S,) -> (E, S)
        f = jax.vmap(jax.vmap(f, in_axes=(0, None)), in_axes=(None, 0))
    return f(layers, lr)


@functools.partial(
    jax.jit,
    static_argnames=("steps", "method", "record_params", "batched", "depth_batched", "static_depth"),
)
def _e2e_run(W0, loss, lr, depth, wd, rec, thr, div_factor, *, steps, method, record_params,
             batched, depth_batched, static_depth=None):
    def f(W, e, n):
        n = n if static_depth is None else static_depth  # the eigh path needs a Python int
        return _e2e_kernel(W, loss, e, n, wd, rec, thr, div_factor, steps=steps, method=method,
                           record_params=record_params)
    if batched:  # lr (E,), W0 (S, k, d) -> (E, S)
        f = jax.vmap(jax.vmap(f, in_axes=(0, None, None)), in_axes=(None, 0, None))
    if depth_batched:  # depth (D,) -> (D, ...)
        f = jax.vmap(f, in_axes=(None, None, 0))
    return f(W0, lr, depth)


# ----------------------------------------------------------------------------- validation
def _check_scalar(x, name, allow_zero=False):
    if not V.is_concrete(x):
        return x
    arr = np.asarray(x)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a real scalar, got {x!r}")
    if not np.isfinite(arr) or (arr < 0 if allow_zero else arr <= 0):
        raise ValueError(f"{name} must be finite and {'>= 0' if allow_zero else '> 0'}, got {x!r}")
    return x


def _check_grid(x, name):
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and > 0 everywhere, got {arr!r}")
    return jnp.asarray(arr)


def _common(loss, steps, record, thresholds, divergence_threshold, divergence_factor=None):
    loss = as_loss(loss)
    steps = V.check_positive_int(steps, "steps")
    rec = jnp.asarray(record_steps(record, steps), jnp.int32)
    thr = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if thr.ndim != 1 or np.any(np.isnan(thr)):
        raise ValueError(f"thresholds must be a 1-D array of numbers, got {thresholds!r}")
    if divergence_factor is not None:  # the old name of the argument
        warnings.warn("divergence_factor is deprecated: use divergence_threshold (the name of "
                      "the same rule in simulate and jaxaccel.stacking)", DeprecationWarning,
                      stacklevel=3)
        divergence_threshold = divergence_factor
    if not (np.isfinite(divergence_threshold) and divergence_threshold > 1):
        raise ValueError("divergence_threshold must be finite and > 1, got "
                         f"{divergence_threshold!r}")
    return loss, steps, rec, jnp.asarray(thr), jnp.asarray(float(divergence_threshold))


def _check_match(loss, in_dim, out_dim, name):
    if isinstance(loss, LpRegression) and (in_dim, out_dim) != (loss.in_dim, loss.out_dim):
        raise ValueError(
            f"{name} maps {in_dim} inputs to {out_dim} outputs but the loss has "
            f"{loss.in_dim} features and {loss.out_dim} outputs"
        )


def _warn_diverged(run, what):
    if V.is_concrete(run.diverged) and np.ndim(run.diverged) == 0 and bool(run.diverged):
        import warnings

        warnings.warn(f"{what}: the run diverged at step {int(run.diverged_at)}", RuntimeWarning,
                      stacklevel=3)


# ----------------------------------------------------------------------------- public API
def train_network(
    layers: LayersLike, loss: LossLike, lr: Scalar, steps: int, *, weight_decay: Scalar = 0.0,
    optimizer: OptimizerSpec = "gd", record: RecordSpec = "log", thresholds: Thresholds = (),
    record_params: bool = False, divergence_threshold: float = 1e6,
    divergence_factor: Optional[float] = None,
) -> Run:
    r"""Train a deep linear network on a loss of its end-to-end matrix (spec eq. 5).

    .. math::
        W_j^{(t+1)} = (1-\eta\lambda)W_j^{(t)} - \eta\,\frac{\partial L^1(W_N\cdots W_1)}{\partial W_j}

    with ``optimizer="gd"``; any other optimizer gets the gradient plus ``lambda W_j``.

    Args:
        layers: ``(W_1, ..., W_N)``, ``W_j`` of shape ``(n_j, n_{j-1})``; ``N = 1`` is the
            linear model.
        loss: an :class:`~jaxaccel.depth.LpRegression`, a :class:`~jaxaccel.depth.CustomLoss`
            or a callable ``W_e -> scalar``.
        lr: learning rate ``eta > 0`` (may be traced).
        steps: number of updates ``T``.
        weight_decay: ``lambda >= 0``.
        optimizer: ``"gd"``, an optax name (``sgd, momentum, nesterov, adagrad, adadelta, adam,
            rmsprop``; TF1 defaults, see :func:`make_optimizer`) or a callable
            ``lr -> optax.GradientTransformation``.
        record: which steps to record: ``"all"``, ``"log"``, ``("log", n)``, an int stride or
            an array of steps in ``[0, T]``.
        thresholds: losses for the iterations-to-threshold counters ``hit_at``.
        record_params: also return the layers at the recorded steps.
        divergence_threshold: divergence when ``L_t > divergence_threshold * L_0`` or
            non-finite (the rule of :func:`jaxaccel.simulate`).
        divergence_factor: deprecated name of ``divergence_threshold`` (warns).

    Returns:
        A :class:`Run`; ``params`` is the final layer tuple.

    Raises:
        ValueError: naming the argument for bad layers/shapes, a non-positive ``lr``, etc.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxaccel.depth import init_balanced, lp_regression, train_network
        >>> X = jax.random.normal(jax.random.PRNGKey(0), (50, 4)); y = X @ jnp.arange(4.0)
        >>> layers = init_balanced(jax.random.PRNGKey(1), (4, 6, 1), scale=0.1)
        >>> run = train_network(layers, lp_regression(X, y, p=2), 0.05, 500)
        >>> bool(run.loss[-1] < 1e-3 * run.loss[0]), bool(run.diverged)
        (True, False)
    """
    layers = check_layers(layers)
    loss, steps, rec, thr, div = _common(loss, steps, record, thresholds, divergence_threshold,
                                         divergence_factor)
    _check_match(loss, layers[0].shape[1], layers[-1].shape[0], "layers")
    _check_scalar(lr, "lr")
    _check_scalar(weight_decay, "weight_decay", allow_zero=True)
    optimizer = _check_optimizer(optimizer)
    out = _network_run(layers, loss, jnp.asarray(lr, layers[0].dtype), jnp.asarray(weight_decay, layers[0].dtype),
                       rec, thr, div, steps=steps, optimizer=optimizer,
                       record_params=bool(record_params), batched=False)
    run = Run(rec, *out, thresholds=thr)
    _warn_diverged(run, "train_network")
    return run


def _resolve_method(method, k):
    if method == "auto":
        return "vector" if k == 1 else "svd"
    if method not in ("svd", "vector", "eigh"):
        raise ValueError(f"method must be 'auto', 'svd', 'vector' or 'eigh', got {method!r}")
    if method == "vector" and k != 1:
        raise ValueError(f"method='vector' needs a single output (k = 1), got k = {k}")
    return method


def train_end_to_end(
    W0: Float[ArrayLike, "k d"], loss: LossLike, lr: Scalar, depth: Depth, steps: int, *,
    weight_decay: Scalar = 0.0, method: str = "auto", record: RecordSpec = "log",
    thresholds: Thresholds = (), record_params: bool = False, divergence_threshold: float = 1e6,
    divergence_factor: Optional[float] = None,
) -> Run:
    r"""Run the discrete end-to-end update rule (arXiv eq. 10, theory §A3):

    .. math::
        W_e^{(t+1)} = (1-\eta\lambda N)W_e^{(t)} - \eta\sum_{j=1}^{N}[W_eW_e^\top]^{\frac{j-1}{N}}
        \nabla L^1(W_e)\,[W_e^\top W_e]^{\frac{N-j}{N}} .

    Args:
        W0: ``(k, d)`` initial end-to-end matrix (non-zero for ``N >= 2``: 0 is a fixed point).
        loss: as in :func:`train_network`.
        lr: ``eta > 0``. depth: ``N >= 1``. steps: ``T``.
        weight_decay: ``lambda >= 0``.
        method: ``"auto"`` (``"vector"`` for ``k = 1``, else ``"svd"``), ``"svd"``,
            ``"vector"`` (theory §A5) or ``"eigh"`` (reference).
        record, thresholds, record_params, divergence_threshold, divergence_factor: as in
            :func:`train_network`.

    Returns:
        A :class:`Run`; ``params`` is the final ``W_e``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import train_end_to_end, two_point_problem
        >>> loss = two_point_problem()
        >>> run = train_end_to_end(jnp.array([[0.01, 0.01]]), loss, 0.01, 2, 3000, thresholds=[1e-2])
        >>> bool(run.hit_at[0] > 0), bool(run.diverged)
        (True, False)
    """
    W0 = V.as_float_array(W0, "W0")
    V.check_ndim(W0, "W0", 2)
    V.check_finite(W0, "W0")
    loss, steps, rec, thr, div = _common(loss, steps, record, thresholds, divergence_threshold,
                                         divergence_factor)
    _check_match(loss, W0.shape[1], W0.shape[0], "W0")
    _check_scalar(lr, "lr")
    _check_scalar(weight_decay, "weight_decay", allow_zero=True)
    check_depth(depth)
    method = _resolve_method(method, W0.shape[0])
    static_depth = int(depth) if method == "eigh" else None
    out = _e2e_run(W0, loss, jnp.asarray(lr, W0.dtype), jnp.asarray(depth, W0.dtype),
                   jnp.asarray(weight_decay, W0.dtype), rec, thr, div, steps=steps, method=method,
                   record_params=bool(record_params), batched=False, depth_batched=False,
                   static_depth=static_depth)
    run = Run(rec, *out, thresholds=thr)
    _warn_diverged(run, "train_end_to_end")
    return run


def sweep_network(
    layers: Sequence[Float[ArrayLike, "S _n_out _n_in"]], loss: LossLike,
    lrs: Float[ArrayLike, "E"], steps: int, *, weight_decay: Scalar = 0.0,
    optimizer: OptimizerSpec = "gd", record: RecordSpec = "log", thresholds: Thresholds = (),
    record_params: bool = False, divergence_threshold: float = 1e6,
    divergence_factor: Optional[float] = None,
) -> Run:
    """:func:`train_network` over a learning-rate grid and a batch of initialisations
    (spec eq. 5; the lr, seed sweeps of §C6.1 and §A9.2).

    One compiled, ``vmap``-ped scan for the whole grid.

    Args:
        layers: ``(W_1, ..., W_N)`` with a leading seed axis ``S`` on every layer
            (e.g. ``jax.vmap(lambda k: init_balanced(k, widths, s))(keys)``).
        lrs: ``(E,)`` learning rates, all ``> 0``.
        Others: as in :func:`train_network`.

    Returns:
        A :class:`Run` whose arrays have leading axes ``(E, S)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import lp_regression, sweep_network
        >>> loss = lp_regression(jnp.eye(2), jnp.array([1.0, 2.0]))
        >>> layers = (jnp.full((2, 1, 2), 0.1), jnp.stack([jnp.ones((1, 1)), 2 * jnp.ones((1, 1))]))
        >>> run = sweep_network(layers, loss, [0.1, 0.2], 20, record="all")   # E = 2, S = 2
        >>> run.loss.shape, bool((run.loss[..., -1] < run.loss[..., 0]).all())
        ((2, 2, 21), True)
    """
    if not isinstance(layers, (tuple, list)) or len(layers) == 0:
        raise ValueError("layers must be a non-empty tuple of layer stacks (S, n_j, n_{j-1})")
    ls = tuple(V.as_float_array(W, f"layers[{j}]") for j, W in enumerate(layers))
    for j, W in enumerate(ls):
        V.check_ndim(W, f"layers[{j}]", 3)
        V.check_finite(W, f"layers[{j}]")
    if len({W.shape[0] for W in ls}) != 1:
        raise ValueError("layers must share the leading seed axis")
    check_layers(tuple(W[0] for W in ls))
    loss, steps, rec, thr, div = _common(loss, steps, record, thresholds, divergence_threshold,
                                         divergence_factor)
    _check_match(loss, ls[0].shape[2], ls[-1].shape[1], "layers")
    lrs = _check_grid(lrs, "lrs").astype(ls[0].dtype)
    _check_scalar(weight_decay, "weight_decay", allow_zero=True)
    optimizer = _check_optimizer(optimizer)
    out = _network_run(ls, loss, lrs, jnp.asarray(weight_decay, ls[0].dtype), rec, thr, div,
                       steps=steps, optimizer=optimizer, record_params=bool(record_params), batched=True)
    return Run(rec, *out, thresholds=thr)


def sweep_end_to_end(
    W0: Float[ArrayLike, "S k d"], loss: LossLike, lrs: Float[ArrayLike, "E"],
    depth: Union[Depth, Int[ArrayLike, "D"], Float[ArrayLike, "D"]], steps: int, *,
    weight_decay: Scalar = 0.0, method: str = "auto", record: RecordSpec = "log",
    thresholds: Thresholds = (), record_params: bool = False, divergence_threshold: float = 1e6,
    divergence_factor: Optional[float] = None,
) -> Run:
    """:func:`train_end_to_end` over learning rates, initialisations and (optionally) depths
    (the end-to-end rule, theory §A3 / eq. 10, swept as in §C6.1 and §A9.2).

    Args:
        W0: ``(S, k, d)`` initial end-to-end matrices (one per seed).
        lrs: ``(E,)`` learning rates.
        depth: an int ``N``, or a 1-D array of depths ``(D,)`` (vmapped; not with ``"eigh"``).
        Others: as in :func:`train_end_to_end`.

    Returns:
        A :class:`Run` with leading axes ``(E, S)``, or ``(D, E, S)`` for an array of depths.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import sweep_end_to_end, two_point_problem
        >>> W0 = jnp.array([[[0.1, 0.1]], [[0.2, 0.1]]])                  # S = 2 seeds
        >>> run = sweep_end_to_end(W0, two_point_problem(p=2), [0.1, 0.2], jnp.array([1, 2]), 10,
        ...                        record="all", thresholds=[1.0])
        >>> run.loss.shape, run.hit_at.shape, bool(run.diverged.any())   # (D, E, S, ...)
        ((2, 2, 2, 11), (2, 2, 2, 1), False)
    """
    W0 = V.as_float_array(W0, "W0")
    V.check_ndim(W0, "W0", 3)
    V.check_finite(W0, "W0")
    loss, steps, rec, thr, div = _common(loss, steps, record, thresholds, divergence_threshold,
                                         divergence_factor)
    _check_match(loss, W0.shape[2], W0.shape[1], "W0")
    lrs = _check_grid(lrs, "lrs").astype(W0.dtype)
    _check_scalar(weight_decay, "weight_decay", allow_zero=True)
    check_depth(depth)
    method = _resolve_method(method, W0.shape[1])
    depth_batched = np.ndim(depth) == 1
    if np.ndim(depth) > 1:
        raise ValueError(f"depth must be an int or a 1-D array, got shape {np.shape(depth)}")
    if method == "eigh" and depth_batched:
        raise ValueError("depth: method='eigh' needs a single integer depth")
    static_depth = int(depth) if method == "eigh" else None
    out = _e2e_run(W0, loss, lrs, jnp.asarray(depth, W0.dtype), jnp.asarray(weight_decay, W0.dtype),
                   rec, thr, div, steps=steps, method=method, record_params=bool(record_params),
                   batched=True, depth_batched=depth_batched, static_depth=static_depth)
    return Run(rec, *out, thresholds=thr)
