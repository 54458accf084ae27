"""Optax gradient transformations for every memory-M algorithm of the engine.

Theory: ``docs/theory/sgd_memory.md`` §2 (general form (3) and special cases), §7.1 (AM1, form (250)),
§7.2 (AM1 schedule), §8.1 (Jacobi Heavy Ball).

**The change of variables (gradient shift).** Form (3) evaluates the gradient at the shifted
point :math:`w_t + a_t^T u_t`, but an optax optimizer only ever sees the gradient at the
parameters it stores. The transforms of this module therefore store the *gradient point*

.. math::  y_t := w_t + a_t^T u_t \\qquad(\\text{so } y_0 = w_0 \\text{ since } u_0 = 0),

and the memory :math:`u_t` in their state. With :math:`g_t = \\nabla L(y_t)` (a mini-batch
gradient for SGD), substituting :math:`w_{t+1} = w_t - \\alpha_t g_t + b_t^T u_t` and
:math:`u_{t+1} = c_t g_t + D_t u_t` into :math:`y_{t+1} = w_{t+1} + a_{t+1}^T u_{t+1}` gives
the exact update of the stored parameters in terms of the gradient at them,

.. math::
    y_{t+1} - y_t = -\\alpha'_t\\, g_t + {b'_t}^T u_t,\\qquad u_{t+1} = c_t g_t + D_t u_t,
    \\qquad \\alpha'_t = \\alpha_t - a_{t+1}^T c_t,\\qquad b'_t = b_t + D_t^T a_{t+1} - a_t,

and the user's iterate is recovered as :math:`w_t = y_t - a_t^T u_t` (:func:`weights_from_state`).
This holds for time-dependent parameters; it needs the *next* shift :math:`a_{t+1}` at step
``t``, so the state keeps the shift :math:`a_t` currently built into the stored parameters and
the transform evaluates the shift schedule one step ahead. In the variable ``y`` the algorithm is
thus form (3) without shift and with :math:`(\\alpha', b')` in place of :math:`(\\alpha, b)`.

**Hyperparameters.** Every hyperparameter is a number/array or an optax schedule (a callable of
the step count). Values are traced arrays: the transforms work under ``jax.jit``, ``jax.vmap``
over hyperparameters and ``optax.inject_hyperparams``. ``inject_hyperparams`` evaluates
schedules at the current count before the transform sees them, so a *time-dependent shift*
``a`` needs its next value passed explicitly (``a_next=lambda n: a(n + 1)``, or keep ``a`` out
of the injection with ``static_args=("a",)``); otherwise the shift takes effect one step late.
Schedules passed directly (without ``inject_hyperparams``) are always exact. (Some optax
schedules, e.g. ``optax.linear_schedule``, return float32 values even in float64 mode; the
coefficients then carry float32 rounding.)

All parameters are validated eagerly when concrete (schedules at step 0) and ``ValueError``
names the offending argument: negative learning rates, wrong shapes, non-finite values,
mismatched pytree structures between gradients, parameters and state.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import numpy as np
import jax
import jax.numpy as jnp
import optax
from jaxtyping import PyTree

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.algorithms.schedules import am1_schedule, jacobi_schedule
from jaxaccel.algorithms import rivals

__all__ = [
    "MemoryState",
    "memory_m",
    "memory1",
    "sgd",
    "heavy_ball",
    "nesterov",
    "decoupled_momentum",
    "am1",
    "jacobi_heavy_ball",
    "from_algorithm",
    "weights_from_state",
    # rivals (theory §14)
    "dana", "dana_constant", "dana_decay", "accsgd", "accsgd_torch", "varre_flammarion",
    "flammarion_bach", "schedule_free_sgd",
]

Hyper = Union[float, jax.Array, np.ndarray, Callable[[Any], Any]]


class MemoryState(NamedTuple):
    """State of a memory-M transform.

    Attributes:
        count: int32 scalar, the number of steps taken ``t``.
        memory: the memory ``u_t``: a pytree like the parameters, each leaf with a leading axis
            of length ``M``.
        shift: ``(M,)`` the gradient shift ``a_t`` built into the stored parameters
            ``y_t = w_t + a_t^T u_t``.
    """

    count: jax.Array
    memory: Any
    shift: jax.Array


# ----------------------------------------------------------------------------- hyperparameters
def _schedule(x: Hyper, name: str, ndim: int, shape=None, nonneg: bool = False):
    """``(fn, value_at_0)`` for a constant or a schedule, validated at step 0 when concrete."""
    if callable(x) and not isinstance(x, (jax.Array, np.ndarray)):
        fn = x
        try:
            x0 = fn(0)
        except Exception as err:  # noqa: BLE001 - re-raised with the argument's name
            raise ValueError(f"{name}: the schedule failed when evaluated at step 0: {err}") from err
        x0 = V.as_float_array(x0, name)
    else:
        x0 = V.as_float_array(x, name)
        fn = None
    if x0.ndim != ndim:
        raise ValueError(f"{name} must have ndim {ndim}, got shape {x0.shape}")
    if shape is not None and x0.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {x0.shape}")
    V.check_finite(x0, name)
    if nonneg:
        V.check_positive(x0, name, strict=False)
    if fn is None:
        const = x0
        return (lambda count: const), x0
    return (lambda count: V.as_float_array(fn(count), name)), x0


def _reshape(fn, shape):
    return lambda count: jnp.reshape(fn(count), shape)


# ----------------------------------------------------------------------------- core transform
def _memory_transform(coefficients, shift0, M: int) -> optax.GradientTransformation:
    """Form (3) on the gradient point ``y`` (module docstring).

    ``coefficients(count) -> (alpha_t, b_t (M,), c_t (M,), D_t (M, M), a_{t+1} (M,))``.
    """

    def init(params):
        memory = jax.tree_util.tree_map(
            lambda p: jnp.zeros((M,) + jnp.shape(p), jnp.result_type(p)), params
        )
        return MemoryState(jnp.zeros([], jnp.int32), memory, jnp.asarray(shift0))

    def update(updates, state, params=None):
        if not isinstance(state, MemoryState):
            raise ValueError(f"state must be a MemoryState, got {type(state).__name__}")
        _check_structure(updates, state.memory, "updates")
        if params is not None:
            _check_structure(params, state.memory, "params")
        alpha, b, c, D, a_next = coefficients(state.count)
        a_now = state.shift
        alpha_p = alpha - jnp.dot(a_next, c)  # alpha'_t = alpha_t - a_{t+1}^T c_t
        b_p = b + D.T @ a_next - a_now  # b'_t = b_t + D_t^T a_{t+1} - a_t

        def leaf(g, u):
            g = jnp.asarray(g)
            dt = g.dtype
            step = -alpha_p.astype(dt) * g + jnp.tensordot(b_p.astype(dt), u, axes=1)
            u_new = c.astype(dt).reshape((M,) + (1,) * jnp.ndim(g)) * g[None] + jnp.tensordot(
                D.astype(dt), u, axes=1
            )
            return step, u_new

        pairs = jax.tree_util.tree_map(leaf, updates, state.memory)
        treedef = jax.tree_util.tree_structure(updates)
        flat = treedef.flatten_up_to(pairs)
        new_updates = treedef.unflatten([p[0] for p in flat])
        new_memory = treedef.unflatten([p[1] for p in flat])
        count = optax.safe_int32_increment(state.count)
        return new_updates, MemoryState(count, new_memory, a_next.astype(state.shift.dtype))

    return optax.GradientTransformation(init, update)


def _check_structure(tree, memory, name):
    s_tree = jax.tree_util.tree_structure(tree)
    s_mem = jax.tree_util.tree_structure(memory)
    if s_tree != s_mem:
        raise ValueError(
            f"{name} pytree structure {s_tree} does not match the optimizer state {s_mem} "
            "(was the state initialised with other parameters?)"
        )
    for x, u in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(memory)):
        if jnp.shape(x) != u.shape[1:]:
            raise ValueError(
                f"{name} leaf shape {jnp.shape(x)} does not match the optimizer state "
                f"leaf shape {u.shape[1:]}"
            )


def weights_from_state(params: PyTree[ArrayLike], state: PyTree[Any]) -> PyTree[Array]:
    """The user's iterate ``w_t = y_t - a_t^T u_t`` from the stored parameters and the state.

    Inverts the change of variables ``y_t = w_t + a_t^T u_t`` of the module docstring (form (3)
    of theory §2.1 with gradient shift ``a``).

    ``state`` may be a :class:`MemoryState` or any optax state containing exactly one (e.g.
    the state of ``optax.inject_hyperparams`` or ``optax.chain``). Without a shift (``a = 0``)
    this returns ``params`` unchanged (up to a copy).

    Args:
        params: pytree of the stored parameters ``y_t``.
        state: the optimizer state after ``t`` steps.

    Returns:
        pytree like ``params``: the iterate ``w_t``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel import optim
        >>> opt = optim.nesterov(0.1, 0.5)
        >>> y = jnp.array([1.0, -2.0]); st = opt.init(y)
        >>> upd, st = opt.update(y, st, y)            # gradient of |y|^2 / 2
        >>> y = y + upd
        >>> [round(float(v), 12) for v in weights_from_state(y, st)]   # w_1 = w_0 - 0.1 w_0
        [0.9, -1.8]
    """
    found = [
        s
        for s in jax.tree_util.tree_leaves(state, is_leaf=lambda x: isinstance(x, MemoryState))
        if isinstance(s, MemoryState)
    ]
    if len(found) != 1:
        raise ValueError(f"state must contain exactly one MemoryState, found {len(found)}")
    st = found[0]
    _check_structure(params, st.memory, "params")
    shift = st.shift

    def leaf(p, u):
        p = jnp.asarray(p)
        dt = p.dtype
        return p - jnp.tensordot(shift.astype(dt), u, axes=1)

    return jax.tree_util.tree_map(leaf, params, st.memory)


# ----------------------------------------------------------------------------- public transforms
def memory_m(alpha: Hyper, a: Hyper, b: Hyper, c: Hyper, D: Hyper,
             a_next: Optional[Hyper] = None) -> optax.GradientTransformation:
    """General memory-M algorithm (3) with gradient shift, as an optax transform.

    .. math::
        \\begin{pmatrix} w_{t+1}-w_t \\\\ u_{t+1} \\end{pmatrix}
        = \\begin{pmatrix} -\\alpha_t & b_t^T \\\\ c_t & D_t \\end{pmatrix}
          \\begin{pmatrix} \\nabla L(w_t + a_t^T u_t) \\\\ u_t \\end{pmatrix},\\qquad u_0 = 0.

    The stored parameters are the gradient points ``y_t = w_t + a_t^T u_t`` and the returned
    updates are ``y_{t+1} - y_t = -alpha'_t g_t + b'_t^T u_t`` with
    ``alpha' = alpha_t - a_{t+1}^T c_t`` and ``b' = b_t + D_t^T a_{t+1} - a_t`` (derivation in
    the module docstring); ``w_t`` is :func:`weights_from_state`. The coefficients act on every
    leaf of the parameter pytree alike.

    Args:
        alpha: learning rate ``>= 0``, scalar or schedule ``count -> scalar``.
        a: gradient shift, ``(M,)`` or schedule.
        b: memory-to-weights vector, ``(M,)`` or schedule.
        c: gradient-to-memory vector, ``(M,)`` or schedule.
        D: memory transition, ``(M, M)`` or schedule.
        a_next: the shift of the next step ``a_{t+1}`` as seen at step ``t`` (``(M,)`` or
            schedule). Default: ``a(count + 1)`` when ``a`` is a schedule, ``a`` when it is
            constant. Needed only under ``optax.inject_hyperparams`` with a time-dependent
            shift: pass ``a_next=lambda n: a(n + 1)`` there.

    Returns:
        ``optax.GradientTransformation`` with state :class:`MemoryState`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel import optim
        >>> opt = optim.memory_m(0.5, jnp.array([0.2]), jnp.array([0.3]),
        ...                      jnp.array([-0.5]), jnp.array([[0.3]]))
        >>> y = jnp.array(1.0); st = opt.init(y)
        >>> upd, st = opt.update(y, st)        # L = y^2 / 2: gradient y
        >>> round(float(y + upd), 12)          # w_1 + a u_1 = 0.5 + 0.2 * (-0.5)
        0.4
    """
    fa, a0 = _schedule(a, "a", 1)
    M = a0.shape[0]
    falpha, _ = _schedule(alpha, "alpha", 0, nonneg=True)
    fb, _ = _schedule(b, "b", 1, (M,))
    fc, _ = _schedule(c, "c", 1, (M,))
    fD, _ = _schedule(D, "D", 2, (M, M))
    if a_next is not None:
        fnext, _ = _schedule(a_next, "a_next", 1, (M,))
    elif callable(a) and not isinstance(a, (jax.Array, np.ndarray)):
        fnext = lambda count: fa(count + 1)  # noqa: E731
    else:
        fnext = fa

    def coefficients(count):
        return falpha(count), fb(count), fc(count), fD(count), fnext(count)

    return _memory_transform(coefficients, a0, M)


def memory1(alpha: Hyper, a: Hyper, b: Hyper, c: Hyper, D: Hyper,
            a_next: Optional[Hyper] = None) -> optax.GradientTransformation:
    """Memory-1 algorithm from its five scalars (theory §2.2); see :func:`memory_m`.

    Args:
        alpha, a, b, c, D: scalars or schedules ``count -> scalar`` (``alpha >= 0``).
        a_next: optional next shift (scalar or schedule), see :func:`memory_m`.

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.memory1(0.5, 0.0, 0.9, -0.5, 0.9)   # Heavy Ball
        >>> opt.init(1.0).memory.shape
        (1,)
    """
    args = {}
    for name, x in (("alpha", alpha), ("a", a), ("b", b), ("c", c), ("D", D), ("a_next", a_next)):
        if x is None:
            args[name] = None
            continue
        f, _ = _schedule(x, name, 0, nonneg=(name == "alpha"))
        is_sched = callable(x) and not isinstance(x, (jax.Array, np.ndarray))
        shape = () if name == "alpha" else ((1, 1) if name == "D" else (1,))
        args[name] = _reshape(f, shape) if is_sched else jnp.reshape(f(0), shape)
    return memory_m(**args)


def sgd(learning_rate: Hyper) -> optax.GradientTransformation:
    """Plain (S)GD, ``w_{t+1} = w_t - alpha_t g_t`` (memory ``M = 0``, theory §2.2).

    Args:
        learning_rate: ``>= 0``, scalar or schedule.

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.sgd(0.1)
        >>> upd, _ = opt.update(2.0, opt.init(1.0))
        >>> round(float(upd), 12)
        -0.2
    """
    flr, _ = _schedule(learning_rate, "learning_rate", 0, nonneg=True)
    dtype = jnp.result_type(float)
    z1, z2 = jnp.zeros((0,), dtype), jnp.zeros((0, 0), dtype)

    def coefficients(count):
        return flr(count), z1, z1, z2, z1

    return _memory_transform(coefficients, z1, 0)


def heavy_ball(learning_rate: Hyper, momentum: Hyper) -> optax.GradientTransformation:
    """Heavy Ball (4): ``w_{t+1} = w_t - alpha_t g_t + beta_t (w_t - w_{t-1})``.

    Matrix form ``b = D = beta, c = -alpha, a = 0`` (theory §2.2); the memory holds
    ``u_t = w_t - w_{t-1}``. With constant parameters this equals
    ``optax.sgd(alpha, momentum=beta)`` (PyTorch-style momentum).

    Args:
        learning_rate: ``alpha >= 0``, scalar or schedule.
        momentum: ``beta``, scalar or schedule.

    Example:
        >>> import jax.numpy as jnp
        >>> import optax
        >>> from jaxaccel import optim
        >>> opt = optax.inject_hyperparams(optim.heavy_ball)(
        ...     learning_rate=optax.cosine_decay_schedule(0.1, 100), momentum=0.9)
        >>> w = jnp.array(1.0)
        >>> st = opt.init(w)
        >>> upd, st = opt.update(w, st, w)
        >>> round(float(upd), 12)
        -0.1
    """
    flr, _ = _schedule(learning_rate, "learning_rate", 0, nonneg=True)
    fbeta, _ = _schedule(momentum, "momentum", 0)
    dtype = jnp.result_type(float)
    zero = jnp.zeros((1,), dtype)

    def coefficients(count):
        lr, beta = flr(count), fbeta(count)
        return lr, beta[None], -lr[None], beta[None, None], zero

    return _memory_transform(coefficients, zero, 1)


def nesterov(learning_rate: Hyper, momentum: Hyper) -> optax.GradientTransformation:
    """Nesterov (5): Heavy Ball with the gradient taken at ``w_t + beta_t u_t`` (``a = beta``).

    The stored parameters are the look-ahead points ``y_t = w_t + beta_t (w_t - w_{t-1})``
    (use :func:`weights_from_state` for ``w_t``). A ``momentum`` schedule passed directly is
    exact; under ``optax.inject_hyperparams`` a scheduled momentum enters the shift one step
    late (see the module docstring).

    Args:
        learning_rate: ``alpha >= 0``, scalar or schedule.
        momentum: ``beta``, scalar or schedule.

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.nesterov(0.1, 0.9)
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)    # y_1 - y_0 = -alpha (1 + beta) g
        -0.19
    """
    flr, _ = _schedule(learning_rate, "learning_rate", 0, nonneg=True)
    fbeta, beta0 = _schedule(momentum, "momentum", 0)
    scheduled = callable(momentum) and not isinstance(momentum, (jax.Array, np.ndarray))

    def coefficients(count):
        lr, beta = flr(count), fbeta(count)
        beta_next = fbeta(count + 1) if scheduled else beta
        return lr, beta[None], -lr[None], beta[None, None], beta_next[None]

    return _memory_transform(coefficients, beta0[None], 1)


def decoupled_momentum(eta: Hyper, eta_prime: Hyper, momentum: Hyper) -> optax.GradientTransformation:
    """Decoupled momentum, form (250): ``v <- beta v + g;  w <- w - eta v - eta' g``.

    Matrix form ``alpha = eta + eta', b = -eta beta, c = 1, D = beta, a = 0`` (theory §7.1);
    ``alpha_eff = eta / (1 - beta) + eta'``. PyTorch/optax Nesterov momentum is
    ``eta = lr mu, eta' = lr``.

    Args:
        eta: ``>= 0``, learning rate of the momentum buffer, scalar or schedule.
        eta_prime: ``>= 0``, the gradient "kick", scalar or schedule.
        momentum: ``beta``, scalar or schedule.

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.decoupled_momentum(0.05, 0.5, 0.9)
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)
        -0.55
    """
    feta, _ = _schedule(eta, "eta", 0, nonneg=True)
    fkick, _ = _schedule(eta_prime, "eta_prime", 0, nonneg=True)
    fbeta, _ = _schedule(momentum, "momentum", 0)
    dtype = jnp.result_type(float)
    zero, one = jnp.zeros((1,), dtype), jnp.ones((1,), dtype)

    def coefficients(count):
        e, k, beta = feta(count), fkick(count), fbeta(count)
        return e + k, (-e * beta)[None], one, beta[None, None], zero

    return _memory_transform(coefficients, zero, 1)


def am1(delta0: Hyper, kappa: Hyper, alpha0: Hyper, theta: Hyper, eta_kick: Hyper,
        t0: Hyper = 1.0) -> optax.GradientTransformation:
    """AM1, accelerated memory-1 (theory §7.1-7.2), as an optax transform.

    Decoupled momentum (250) with the schedule of :func:`jaxaccel.am1_schedule`:

    .. math::
        \\delta_t=\\delta_0(t+t_0)^{-\\kappa},\\quad \\beta_t = 1-\\delta_t,\\quad
        \\alpha_{{\\rm eff},t}=\\alpha_0(t+t_0)^{\\vartheta},\\quad
        \\eta_t=\\delta_t(\\alpha_{{\\rm eff},t}-\\eta'),\\quad \\eta'_t=\\eta'.

    The step count of the transform is ``t``, so ``n`` updates reproduce
    ``jaxaccel.am1(..., steps=n)``.

    Args:
        delta0, kappa, alpha0, theta, eta_kick, t0: scalars as in
            :func:`jaxaccel.am1_schedule` (``theta`` is ``vartheta`` of the spec).

    Raises:
        ValueError: naming the argument, for parameters rejected by the schedule, for
            ``eta_0 < 0`` (``alpha0 (t0)^theta < eta_kick``) and for ``theta < 0`` with
            ``eta_kick > 0`` (``eta_t`` eventually becomes a negative learning rate).

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.am1(0.5, 0.9, 1.0, 0.2, 0.5)
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)    # -(eta_0 + eta') g = -(0.5 (1 - 0.5) + 0.5)
        -0.75
    """
    sch = am1_schedule(delta0, kappa, alpha0, theta, eta_kick, t0)
    eta0 = sch.eta(0)
    if V.is_concrete(eta0) and float(eta0) < 0:
        raise ValueError(
            f"alpha0 too small: eta_0 = delta_0 (alpha0 t0^theta - eta_kick) = {float(eta0)!r} "
            "is a negative learning rate"
        )
    th, ek = jnp.asarray(theta), jnp.asarray(eta_kick)
    if V.is_concrete(th) and V.is_concrete(ek) and float(th) < 0 and float(ek) > 0:
        raise ValueError(
            f"theta must be >= 0 when eta_kick > 0: with theta={float(th)!r} alpha_eff,t decays "
            "below eta_kick and eta_t becomes a negative learning rate"
        )
    return decoupled_momentum(sch.eta, sch.eta_prime, sch.beta)


def jacobi_heavy_ball(a: Hyper, b: Hyper, L: Hyper) -> optax.GradientTransformation:
    """Heavy Ball with the Jacobi schedule (Brakhage 1987; theory §8.1) as an optax transform.

    Parameters of :func:`jaxaccel.jacobi_schedule` at the step count ``n = t``, so
    ``n`` updates reproduce ``jaxaccel.jacobi_heavy_ball(a, b, L, steps=n)``.

    Args:
        a, b: Jacobi parameters ``> -1`` (scalars).
        L: upper edge of the spectrum, ``> 0``.

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.jacobi_heavy_ball(0.5, 0.0, 2.0)
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)    # -alpha_0 = -(a+b+2)/(L(a+1))
        -0.833333333333
    """
    sch = jacobi_schedule(a, b, L)
    return heavy_ball(sch.alpha, sch.beta)


def from_algorithm(algorithm: MemoryAlgorithm) -> optax.GradientTransformation:
    """The optax transform of a :class:`~jaxaccel.algorithms.MemoryAlgorithm`.

    A stationary algorithm gives constant coefficients; a schedule of length ``T`` uses its
    step-``t`` parameters at update ``t`` (and ``a`` of step ``t + 1`` for the next gradient
    point). Beyond the schedule the parameters of its last step are held.

    Args:
        algorithm: a :class:`~jaxaccel.algorithms.MemoryAlgorithm` with ``alpha >= 0``.

    Example:
        >>> import jaxaccel as ja
        >>> from jaxaccel import optim
        >>> opt = optim.from_algorithm(ja.heavy_ball(0.1, 0.9))
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)
        -0.1
    """
    check_algorithm(algorithm, finite=False)
    V.check_positive(algorithm.alpha, "algorithm.alpha (learning rate)", strict=False)
    if algorithm.is_stationary:
        return memory_m(algorithm.alpha, algorithm.a, algorithm.b, algorithm.c, algorithm.D)
    T = algorithm.num_steps

    def at(count):
        return algorithm.at(jnp.clip(jnp.asarray(count), 0, T - 1))

    return memory_m(
        lambda n: at(n).alpha, lambda n: at(n).a, lambda n: at(n).b,
        lambda n: at(n).c, lambda n: at(n).D,
    )


# ----------------------------------------------------------------------------- rivals (issue 20)
# The accelerated SGD methods of the literature (theory §14): each transform evaluates the same
# per-step parameter function as its MemoryAlgorithm constructor in ``algorithms.rivals``.
def _rival_transform(params_at) -> optax.GradientTransformation:
    """Memory-1 transform from ``params_at(count) -> (alpha, a, b, c, D)`` (scalars)."""

    def coefficients(count):
        n = jnp.asarray(count, jnp.result_type(float))
        alpha, _, b, c, D = (jnp.asarray(x) for x in params_at(n))
        a_next = jnp.asarray(params_at(n + 1.0)[1])
        return (alpha, jnp.reshape(b, (1,)), jnp.reshape(c, (1,)), jnp.reshape(D, (1, 1)),
                jnp.reshape(a_next, (1,)))

    shift0 = jnp.reshape(jnp.asarray(params_at(jnp.asarray(0.0))[1], jnp.result_type(float)), (1,))
    return _memory_transform(coefficients, shift0, 1)


def dana(gamma2: Hyper, gamma3: Hyper, Delta: Hyper, gamma1: Hyper = 1.0) -> optax.GradientTransformation:
    """The stochastic momentum step of Ferbach et al. (2025) (theory §14.2) as an optax transform.

    ``y <- (1 - Delta) y + gamma1 g;  w <- w - gamma2 g - gamma3 y`` with constant coefficients
    (see :func:`jaxaccel.dana`; schedules: :func:`dana_constant`, :func:`dana_decay`).

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.dana(0.5, 0.01, 0.1)
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)          # -(gamma2 + gamma3) g
        -0.51
    """
    rivals.dana(gamma2, gamma3, Delta, gamma1)  # validation
    return _rival_transform(lambda n: rivals.dana_params(n, gamma2, gamma3, Delta, gamma1))


def dana_constant(gamma2: float, gamma3: float, delta: float, *, dim: Optional[float] = None,
                  spectrum: Optional[Any] = None) -> optax.GradientTransformation:
    """DANA-constant (theory §14.2) as an optax transform: ``Delta_t = delta/(1+t)``,
    ``gamma3/d`` (``d`` from ``dim`` or ``spectrum``); ``n`` updates reproduce
    ``jaxaccel.dana_constant(..., steps=n)``.

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.dana_constant(0.5, 1.0, 1.0, dim=10)
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)          # -(gamma2 + gamma3/d) g
        -0.6
    """
    rivals.dana_constant(gamma2, gamma3, delta, 1, dim=dim, spectrum=spectrum)
    d = jnp.sum(spectrum.weights) if dim is None else dim
    return _rival_transform(lambda n: rivals.dana_constant_params(n, gamma2, gamma3, delta, d))


def dana_decay(gamma2: float, gamma3: float, delta: float, *, exponent: Optional[float] = None,
               spectrum: Optional[Any] = None) -> optax.GradientTransformation:
    """DANA-decay (theory §14.2) as an optax transform: ``Delta_t = delta/(1+t)``,
    ``gamma3 (1+t)^(-exponent)`` (``exponent = 1/nu`` from ``spectrum`` by default).

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.dana_decay(0.5, 1.0, 1.0, exponent=0.5)
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)
        -1.5
    """
    rivals.dana_decay(gamma2, gamma3, delta, 1, exponent=exponent, spectrum=spectrum)
    ex = 1.0 / spectrum.power_law.nu if exponent is None else exponent
    return _rival_transform(lambda n: rivals.dana_decay_params(n, gamma2, gamma3, delta, ex))


def accsgd(alpha: float, beta: float, gamma: float, delta: float) -> optax.GradientTransformation:
    """Accelerated SGD of Jain et al. (2018), Algorithm 1 (theory §14.3), as an optax transform.

    The stored parameters are the gradient points ``bar v_t`` (use :func:`weights_from_state`
    for the iterate ``w_t``).

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.accsgd(0.9, 0.1, 2.0, 0.5)
        >>> opt.init(1.0).shift.tolist()     # a = 1 - alpha
        [0.09999999999999998]
    """
    rivals.accsgd(alpha, beta, gamma, delta)
    return _rival_transform(lambda n: rivals.accsgd_params(alpha, beta, gamma, delta))


def accsgd_torch(lr: float, kappa: float = 1000.0, xi: float = 10.0,
                 small_const: float = 0.7) -> optax.GradientTransformation:
    """AccSGD in the PyTorch parametrisation of Kidambi et al. (2018) (theory §14.3).

    Example:
        >>> from jaxaccel import optim
        >>> upd, st = optim.accsgd_torch(0.1).update(1.0, optim.accsgd_torch(0.1).init(1.0))
        >>> round(float(upd), 6)
        -0.104171
    """
    rivals.accsgd_torch(lr, kappa, xi, small_const)
    return _rival_transform(lambda n: rivals.accsgd_torch_params(lr, kappa, xi, small_const))


def varre_flammarion(alpha: float, beta: float, offset: float = 3.0) -> optax.GradientTransformation:
    """Accelerated SGD of Varre & Flammarion (2022) (theory §14.4) as an optax transform (the
    stored parameters are the extrapolated points ``nu_t``; :func:`weights_from_state` gives
    ``theta_t``).

    Example:
        >>> from jaxaccel import optim
        >>> upd, st = optim.varre_flammarion(0.01, 0.5).update(1.0, optim.varre_flammarion(0.01, 0.5).init(1.0))
        >>> round(float(upd), 12)          # nu_1 - nu_0 = -(beta + alpha) g at t = 0
        -0.51
    """
    rivals.varre_flammarion(alpha, beta, 1, offset)
    return _rival_transform(lambda n: rivals.varre_flammarion_params(n, alpha, beta, offset))


def flammarion_bach(alpha: float, beta: float, gamma: float) -> optax.GradientTransformation:
    """The Flammarion & Bach (2015) second-order family (theory §14.5) as an optax transform.

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.flammarion_bach(0.1, 0.5, 0.0)     # gamma = 0: Heavy Ball
        >>> upd, st = opt.update(1.0, opt.init(1.0))
        >>> round(float(upd), 12)
        -0.5
    """
    rivals.flammarion_bach(alpha, beta, gamma)
    return _rival_transform(lambda n: rivals.flammarion_bach_params(alpha, beta, gamma))


def schedule_free_sgd(lr: float, beta: float) -> optax.GradientTransformation:
    """Schedule-free SGD (Defazio et al. 2024; theory §14.6) with a constant ``lr`` as an optax
    transform. The stored parameters are the gradient points ``y_t``; the average ``x_t`` (the
    iterate whose loss is reported) is :func:`weights_from_state`.

    Example:
        >>> from jaxaccel import optim
        >>> opt = optim.schedule_free_sgd(1.0, 0.9)
        >>> opt.init(1.0).shift.tolist()     # a = 1 - beta
        [0.09999999999999998]
    """
    V.finite_scalar(lr, "lr")
    rivals.schedule_free_sgd(lr, beta, 1)
    return _rival_transform(lambda n: rivals.schedule_free_params(n, lr, beta))
