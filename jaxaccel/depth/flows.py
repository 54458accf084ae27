r"""Continuous-time dynamics (docs/theory/depth_stacking.md §A1.3 eq. 6 and §A2 Theorem 1).

Both flows keep ``eta`` inside the vector field, so time is measured in iterations:

.. math::
    \dot W_j = -\eta\lambda W_j - \eta\,\frac{\partial L^N}{\partial W_j},\qquad
    \dot W_e = -\eta\lambda N W_e - \eta\,\mathcal P_N(W_e)[\nabla L^1(W_e)] .

Theorem 1: for a balanced start, the product of the layer flow *is* the end-to-end flow.
Integration is classical fourth-order Runge-Kutta in one jitted ``lax.scan``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Scalar
from jaxaccel.depth.end_to_end import Depth, check_depth, end_to_end_velocity
from jaxaccel.depth.losses import LossLike, as_loss
from jaxaccel.depth.networks import (Layers, LayersLike, check_layers, end_to_end_matrix,
                                     layer_velocity)


def _rk4(field, y0, h, n):
    def step(y, _):
        k1 = field(y)
        k2 = field(jax.tree_util.tree_map(lambda a, b: a + 0.5 * h * b, y, k1))
        k3 = field(jax.tree_util.tree_map(lambda a, b: a + 0.5 * h * b, y, k2))
        k4 = field(jax.tree_util.tree_map(lambda a, b: a + h * b, y, k3))
        y = jax.tree_util.tree_map(
            lambda a, b1, b2, b3, b4: a + h / 6.0 * (b1 + 2 * b2 + 2 * b3 + b4), y, k1, k2, k3, k4
        )
        return y, None

    y, _ = jax.lax.scan(step, y0, None, length=n)
    return y


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _network_flow(layers, loss, lr, wd, h, *, num_steps):
    def field(ls):
        G = loss.grad(end_to_end_matrix(ls))
        return layer_velocity(ls, G, lr, wd)

    return _rk4(field, layers, h, num_steps)


@functools.partial(jax.jit, static_argnames=("num_steps", "method"))
def _e2e_flow(W, loss, lr, depth, wd, h, *, num_steps, method):
    return _rk4(lambda X: end_to_end_velocity(X, loss.grad(X), lr, depth, wd, method), W, h, num_steps)


def _check_time(horizon, num_steps):
    if not (jnp.isfinite(horizon) and horizon > 0):
        raise ValueError(f"horizon must be finite and > 0, got {horizon!r}")
    return V.check_positive_int(num_steps, "num_steps")


def integrate_network_flow(
    layers: LayersLike, loss: LossLike, lr: Scalar, horizon: float, num_steps: int,
    weight_decay: Scalar = 0.0,
) -> Layers:
    r"""RK4 integration of the layer ODE (spec eq. 6) up to time ``horizon``.

    Args:
        layers: ``(W_1, ..., W_N)``. loss: a loss of ``W_e``. lr: ``eta > 0``.
        horizon: final time (in iterations). num_steps: RK4 steps (``h = horizon / num_steps``).
        weight_decay: ``lambda >= 0``.

    Returns:
        The layers at time ``horizon``.

    Example:
        A balanced depth-2 scalar network on ``L(W) = (W - 1)^2 / 2`` follows the logistic
        ODE ``dW/dt = -2 W (W - 1)`` (Theorem 1 with ``N = 2``):

        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import CustomLoss, end_to_end_matrix, integrate_network_flow
        >>> loss = CustomLoss(lambda W: 0.5 * jnp.sum((W - 1.0) ** 2))
        >>> layers = (jnp.array([[0.5]]), jnp.array([[0.5]]))         # balanced, W_e = 0.25
        >>> ls = integrate_network_flow(layers, loss, 1.0, 1.0, 20)
        >>> round(float(end_to_end_matrix(ls)[0, 0]), 4)   # 1 / (1 + 3 exp(-2))
        0.7112
    """
    layers = check_layers(layers)
    num_steps = _check_time(horizon, num_steps)
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    return _network_flow(layers, as_loss(loss), lr, weight_decay, horizon / num_steps,
                         num_steps=num_steps)


def integrate_end_to_end_flow(
    W: Float[ArrayLike, "k d"], loss: LossLike, lr: Scalar, depth: Depth, horizon: float,
    num_steps: int, weight_decay: Scalar = 0.0, method: str = "svd",
) -> Float[Array, "k d"]:
    r"""RK4 integration of the end-to-end ODE of Theorem 1 (theory §A2) up to time ``horizon``.

    Args:
        W: ``(k, d)`` initial end-to-end matrix. depth: ``N``. method: ``"svd"``,
            ``"vector"`` (``k = 1``) or ``"eigh"``. Others as in :func:`integrate_network_flow`.

    Returns:
        ``W_e`` at time ``horizon``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxaccel.depth import (init_balanced, end_to_end_matrix, lp_regression,
        ...     integrate_network_flow, integrate_end_to_end_flow)
        >>> X = jax.random.normal(jax.random.PRNGKey(0), (20, 3)); Y = X @ jnp.ones((3, 2))
        >>> loss = lp_regression(X, Y, p=2)
        >>> ls = init_balanced(jax.random.PRNGKey(1), (3, 4, 4, 2), scale=0.5)
        >>> a = end_to_end_matrix(integrate_network_flow(ls, loss, 0.1, 3.0, 200))
        >>> b = integrate_end_to_end_flow(end_to_end_matrix(ls), loss, 0.1, 3, 3.0, 200)
        >>> bool(jnp.linalg.norm(a - b) < 1e-7 * jnp.linalg.norm(a))
        True
    """
    W = V.as_float_array(W, "W")
    V.check_ndim(W, "W", 2)
    V.check_finite(W, "W")
    check_depth(depth)
    num_steps = _check_time(horizon, num_steps)
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if method == "eigh":
        depth = int(depth)
        fn = jax.jit(lambda X, lo: _rk4(
            lambda Y: end_to_end_velocity(Y, lo.grad(Y), lr, depth, weight_decay, "eigh"),
            X, horizon / num_steps, num_steps))
        return fn(W, as_loss(loss))
    return _e2e_flow(W, as_loss(loss), lr, jnp.asarray(depth, W.dtype), weight_decay,
                     horizon / num_steps, num_steps=num_steps, method=method)
